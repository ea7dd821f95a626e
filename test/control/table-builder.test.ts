/**
 * A compile's Maglev builds run on the compiling thread and a helper thread
 * (lib/control/table-builder.ts): whichever thread fills a table, it is the table
 * buildMaglev gives for the same backends, complete when the compile returns, and
 * the helper does take part.
 */
import t from 'tap'
import { Compiler } from '../../lib/control/compiler'
import { TableBuilder } from '../../lib/control/table-builder'
import { validateChange, validateConfig, type NvlbConfig } from '../../lib/control/config-validate'
import { buildMaglev, planMaglev, type MaglevBackend } from '../../lib/hash/maglev'
import { sharedArray } from '../../lib/dataplane/shared-array'
import { referenceConfig } from './reference-config'

/** Long enough for the helper thread to start (it loads through tsx here), never a timing. */
const MAX_ROUNDS = 400

function expectedTable(backends: MaglevBackend[], ids: number[], size: number): Int32Array {
  return buildMaglev(backends, size).map((pick) => (pick < 0 ? -1 : ids[pick]!))
}

function firstDifference(a: Int32Array, b: Int32Array): number {
  if (a.length !== b.length) return 0
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i
  return -1
}

t.test('tables filled by the helper and by the caller are the ones buildMaglev gives', async (t) => {
  const builder = new TableBuilder()
  const cases = [
    { size: 65537, count: 1000, weight: (i: number) => 1 + (i % 3) },
    { size: 65537, count: 1000, weight: () => 1 },
    { size: 4099, count: 40, weight: (i: number) => i % 4 },
    { size: 251, count: 5, weight: () => 0 },
    { size: 65537, count: 7, weight: (i: number) => i + 1 },
    { size: 13, count: 3, weight: () => 2 },
  ]
  const expected = cases.map(({ size, count, weight }) => {
    const backends = Array.from({ length: count }, (_, i) => ({ name: `7001/10.7.${i >> 8}.${i & 255}:${80 + size}`, weight: weight(i) }))
    const ids = backends.map((_, i) => 3 * i + 1)
    return { backends, ids, size, table: expectedTable(backends, ids, size) }
  })
  let rounds = 0
  let helperFills = 0
  let wrong = 0
  while (rounds < MAX_ROUNDS && helperFills === 0) {
    rounds++
    const tables = expected.map(({ backends, ids, size }) => {
      const table = sharedArray(Int32Array, size)
      builder.schedule(planMaglev(backends, size, ids, true), table)
      return table
    })
    builder.finish()
    helperFills += builder.lastHelperFills
    tables.forEach((table, k) => {
      if (firstDifference(table, expected[k]!.table) >= 0) wrong++
    })
  }
  t.equal(wrong, 0, `every table of ${rounds} rounds equals buildMaglev's`)
  t.ok(helperFills > 0, `the helper filled ${helperFills} of the tables (within ${rounds} rounds)`)
})

t.test("a compile's tables are complete when it returns, also with the helper's builds", async (t) => {
  const doc = referenceConfig()
  const backends = Array.from({ length: 1000 }, (_, i) => ({ virtualSubnetId: 5001, address: `10.1.${100 + (i >> 8)}.${i & 255}`, weight: 1 + (i % 3) }))
  for (let i = 0; i < 1000; i++) {
    doc.lookupRecords.push({ customerAddress: backends[i]!.address, virtualSubnetId: 5001, providerAddress: '192.168.6.4', macAddress: `00155D09${(i >> 8).toString(16).padStart(2, '0')}${(i & 255).toString(16).padStart(2, '0')}`, customerId: 'blue' })
  }
  doc.pools.push({ name: 'big', backends })
  doc.vips.push({
    name: 'big-public',
    address: '203.0.113.77',
    virtualSubnetId: 0,
    rules: [80, 443, 8080].map((port) => ({ protocol: 'tcp', frontendPort: port, pool: 'big' })),
  })
  let config: NvlbConfig = validateConfig(doc)
  const compiler = new Compiler()
  let helperFills = 0
  let wrong = 0
  let compiles = 0
  for (let n = 0; n < MAX_ROUNDS && (helperFills === 0 || n < 4); n++) {
    // Drain one backend, or make it active again: new tables for the three ports each time
    // (the compiler's cache of replaced tables is defeated by moving on to the next backend).
    const next = structuredClone(config) as NvlbConfig
    const big = next.pools.find((p) => p.name === 'big')!
    big.backends[n % 1000]!.state = big.backends[n % 1000]!.state === 'draining' ? 'active' : 'draining'
    config = validateChange(config, next)
    const snapshot = compiler.compile(config, n + 1)
    // Copied at once: what the packet path gets, before a helper still at work could complete it.
    const published = snapshot.ruleList.map((rule) => rule?.table.slice())
    compiles++
    helperFills += compiler.tables.lastHelperFills
    for (const [r, rule] of snapshot.ruleList.entries()) {
      if (rule === null || rule.pool !== 'big') continue
      const members = config.pools.find((p) => p.name === 'big')!.backends
      const names = members.map((b) => ({ name: `5001/${b.address}:${rule.backendPort}`, weight: b.state === 'active' || b.state === undefined ? (b.weight ?? 1) : 0 }))
      const ids = names.map((m) => snapshot.backendName.indexOf(m.name))
      if (firstDifference(published[r]!, expectedTable(names, ids, rule.table.length)) >= 0) wrong++
    }
  }
  t.equal(wrong, 0, `every big-pool table of ${compiles} compiles equals buildMaglev's over its backends`)
  t.ok(helperFills > 0, `the helper built ${helperFills} of those tables`)
})
