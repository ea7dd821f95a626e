/**
 * The compiler keeps each pool's compiled members between compiles (lib/control/pool-members.ts):
 * a change of one backend builds that pool again and takes the others as they were, and the
 * snapshot is still exactly what a compiler that builds everything afresh gives for the same
 * history — through backend changes, health verdicts (also every backend down under a 'useAll'
 * rule), pools removed (the others' document indexes move), a compile that fails, and a bulk
 * change of lookup records. Published snapshots are never written.
 */
import t from 'tap'
import { Compiler, type CompileHealth } from '../../lib/control/compiler'
import { jsonClone, validateChange, validateConfig, type NvlbConfig } from '../../lib/control/config-validate'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { referenceConfig } from './reference-config'

const POOLS = 40

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

/** The reference document with POOLS more pools over Blue's web VMs, each behind a VIP (public dnat, CA full NAT, some 'useAll'). */
function cloud(): NvlbConfig {
  const doc = referenceConfig()
  const blue = doc.pools.find((p: any) => p.name === 'blue-web')
  for (let i = 0; i < POOLS; i++) {
    doc.pools.push({ name: `p${i}`, backends: jsonClone(blue.backends) })
    const rule = { ...(jsonClone(doc.vips[0].rules[0]) as object), pool: `p${i}`, backendPort: 8000 + i, ...(i % 5 === 0 ? { whenAllDown: 'useAll' } : {}) }
    doc.vips.push(
      i % 2 === 0
        ? { name: `v${i}`, address: `203.0.113.${100 + i}`, virtualSubnetId: 0, natMode: 'dnat', rules: [rule] }
        : { name: `v${i}`, address: `10.1.5.${100 + i}`, virtualSubnetId: 5002, natMode: 'fullnat', rules: [rule] },
    )
  }
  return deepFreeze(validateConfig(doc))
}

/** `running` with `edit` applied to a copy of one pool: every other item stays the running (frozen) object. */
function withPool(running: NvlbConfig, name: string, edit: (pool: any) => void): NvlbConfig {
  const pools = running.pools.map((p) => {
    if (p.name !== name) return p
    const copy = jsonClone(p) as any
    edit(copy)
    return copy
  })
  return deepFreeze(validateChange(running, { ...running, pools }))
}

interface Step {
  config: NvlbConfig
  health?: CompileHealth
}

/** Compiles the history with one compiler, and afresh (copies, nothing shared) with another: the last snapshots must be equal. */
class Twin {
  readonly incremental = new Compiler()
  private readonly fresh = new Compiler()
  private generation = 0
  snapshot!: Snapshot

  compile(step: Step): Snapshot {
    this.generation++
    const expected = this.fresh.compile(jsonClone(step.config) as NvlbConfig, this.generation, step.health)
    this.snapshot = this.incremental.compile(step.config, this.generation, step.health)
    return expected
  }

  /** A compile both refuse (the fresh one too, so that both have used up the same epochs). */
  refused(config: NvlbConfig): unknown[] {
    const errors: unknown[] = []
    for (const [compiler, doc] of [[this.fresh, jsonClone(config)], [this.incremental, config]] as const) {
      try {
        compiler.compile(doc as NvlbConfig, this.generation + 1)
      } catch (err) {
        errors.push((err as { code?: string }).code)
      }
    }
    return errors
  }
}

function healthKey(pool: string, address: string, port: number): string {
  return `${pool}|5001/${address}:${port}`
}

t.test('one backend change builds one pool; the snapshot is a fresh compile\'s', async (t) => {
  const twin = new Twin()
  let running = cloud()
  t.same(twin.compile({ config: running }), twin.snapshot, 'first compile')
  t.equal(twin.incremental.lastBuild.poolsKept, 0)
  const before = twin.snapshot
  const beforeState = before.backendState.slice()
  const beforeTables = new Map(before.ruleList.filter((r) => r !== null).map((r) => [r!.vipName, r!.table]))

  running = withPool(running, 'p7', (p) => (p.backends[2].state = 'draining'))
  t.same(twin.compile({ config: running }), twin.snapshot, 'after a backend change')
  t.same(twin.incremental.lastBuild, { poolsBuilt: 1, poolsKept: POOLS + 1 }, 'one pool built, the others kept')
  t.same(before.backendState, beforeState, 'the published snapshot is not written')
  for (const r of twin.snapshot.ruleList) {
    if (r === null) continue
    if (r.vipName === 'v7') t.not(r.table, beforeTables.get('v7'), "the changed pool's Maglev table is new")
    else if (r.table !== beforeTables.get(r.vipName)) t.fail(`${r.vipName}: its Maglev table was built again`)
  }

  running = withPool(running, 'p7', (p) => p.backends.push({ virtualSubnetId: 5001, address: '10.1.6.1', weight: 3, state: 'active' }))
  t.same(twin.compile({ config: running }), twin.snapshot, 'after a backend was added')
  running = withPool(running, 'p7', (p) => p.backends.splice(0, 2))
  t.same(twin.compile({ config: running }), twin.snapshot, 'after two backends left (their ids are absent)')
  t.equal(twin.incremental.lastBuild.poolsBuilt, 1)
})

t.test('a change undone finds the Maglev table it had before (no build); the snapshot is a fresh compile\'s', async (t) => {
  const twin = new Twin()
  let running = cloud()
  twin.compile({ config: running })
  const tableOf = (vip: string) => twin.snapshot.ruleList.find((r) => r !== null && r.vipName === vip)!.table
  const active = tableOf('v7')
  running = withPool(running, 'p7', (p) => (p.backends[2].state = 'draining'))
  twin.compile({ config: running })
  const drained = tableOf('v7')
  t.not(drained, active, 'draining builds a new table')
  running = withPool(running, 'p7', (p) => (p.backends[2].state = 'active'))
  t.same(twin.compile({ config: running }), twin.snapshot, 'active again: equal to a fresh compile')
  t.equal(tableOf('v7'), active, 'active again: the table from before the drain, not a new one')
  running = withPool(running, 'p7', (p) => (p.backends[2].weight = 5))
  t.same(twin.compile({ config: running }), twin.snapshot, 'then another weight: equal to a fresh compile')
  const weighted = tableOf('v7')
  t.ok(weighted !== active && weighted !== drained, 'a state not seen before builds a new table')
  running = withPool(running, 'p7', (p) => (p.backends[2].state = 'draining'))
  t.same(twin.compile({ config: running }), twin.snapshot, 'drained with the new weight: equal to a fresh compile')
  t.equal(tableOf('v7'), drained, 'the drained table again (weight does not matter while draining)')
})

t.test('health verdicts, all down under useAll, and back', async (t) => {
  const twin = new Twin()
  const running = cloud()
  twin.compile({ config: running })
  const one = { down: new Set([healthKey('p3', '10.1.6.21', 8003)]) }
  t.same(twin.compile({ config: running, health: one }), twin.snapshot, 'one backend down')
  t.same(twin.incremental.lastBuild.poolsBuilt, 1, 'its pool built again')
  const all = { down: new Set(['10.1.6.20', '10.1.6.21', '10.1.6.22', '10.1.6.23'].flatMap((a) => [healthKey('p5', a, 8005), healthKey('p6', a, 8006)])) }
  t.same(twin.compile({ config: running, health: all }), twin.snapshot, "every backend of p5 ('useAll') and p6 down")
  const p5 = twin.snapshot.ruleList.find((r) => r?.vipName === 'v5')!
  t.ok(p5.table.every((id) => id >= 0), "the 'useAll' rule balances over all of them")
  t.same(twin.compile({ config: running, health: all }), twin.snapshot, 'the same verdicts again')
  t.equal(twin.incremental.lastBuild.poolsBuilt, 0, 'nothing built')
  t.ok(twin.snapshot.backendDown.some((d) => d === 1), 'the down backends of p6 are down')
  // A rule over the kept pool p6 starts to use all of its backends: they count as up again.
  const vips = running.vips.map((v) => (v.name === 'v6' ? { ...v, rules: [{ ...v.rules[0]!, whenAllDown: 'useAll' as const }] } : v))
  const useAll = deepFreeze(validateChange(running, { ...running, vips }))
  t.same(twin.compile({ config: useAll, health: all }), twin.snapshot, "p6 under a 'useAll' rule")
  t.equal(twin.incremental.lastBuild.poolsBuilt, 0, 'p6 kept')
  t.ok(twin.snapshot.backendDown.every((d) => d === 0), 'no backend counts as down')
  t.same(twin.compile({ config: running, health: all }), twin.snapshot, 'and back')
  t.same(twin.compile({ config: running, health: { down: new Set() } }), twin.snapshot, 'all up again')
  t.same(twin.compile({ config: running }), twin.snapshot, 'no health at all')
})

t.test('pools removed move the others; a failed compile leaves the next one right', async (t) => {
  const twin = new Twin()
  let running = cloud()
  twin.compile({ config: running })
  const pools = running.pools.filter((p) => p.name !== 'p0' && p.name !== 'blue-web')
  const vips = running.vips.filter((v) => v.rules.every((r) => r.pool !== 'p0' && r.pool !== 'blue-web'))
  running = deepFreeze(validateChange(running, { ...running, pools, vips }))
  t.same(twin.compile({ config: running }), twin.snapshot, 'two pools and their VIPs removed')
  t.equal(twin.incremental.lastBuild.poolsBuilt, 0, 'the others kept (at their new document index)')

  // A new pool whose backend has no lookup record: the compile fails, the ids it took are given back.
  const broken = deepFreeze({
    ...running,
    pools: [...running.pools, { name: 'bad', backends: [{ virtualSubnetId: 5001, address: '10.1.6.99', weight: 1, state: 'active' }] }],
    vips: [...running.vips, { name: 'bad', address: '203.0.113.250', virtualSubnetId: 0, natMode: 'dnat', rules: [{ ...running.vips[0]!.rules[0]!, pool: 'bad' }] }],
  } as NvlbConfig)
  t.same(twin.refused(broken), ['NVLB_ERR_NO_LOOKUP_RECORD', 'NVLB_ERR_NO_LOOKUP_RECORD'], 'refused')
  running = withPool(running, 'p9', (p) => (p.backends[0].weight = 9))
  t.same(twin.compile({ config: running }), twin.snapshot, 'the next change compiles as if the failed one never happened')
})

t.test('new lookup records build every pool again (their records may have moved)', async (t) => {
  const twin = new Twin()
  let running = cloud()
  twin.compile({ config: running })
  const record = { ...running.lookupRecords[1]!, customerAddress: '10.1.6.77' }
  running = deepFreeze(validateChange(running, { ...running, lookupRecords: [record, ...running.lookupRecords] }))
  t.same(twin.compile({ config: running }), twin.snapshot, 'a record added in front')
  t.equal(twin.incremental.lastBuild.poolsKept, 0)
})
