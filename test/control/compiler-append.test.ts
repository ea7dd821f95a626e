/**
 * The compiler's reuse of its lookup-record tables when records are appended to the
 * running list (a bulk import of new records): the tables answer every record as a
 * fresh compile's do, at the same and at a grown table size, and the previous
 * snapshot's tables are left as they were (workers may still run it).
 */
import t from 'tap'
import { Compiler } from '../../lib/control/compiler'
import { validateConfig } from '../../lib/control/config-validate'
import { keyTableGet } from '../../lib/dataplane/key-table'
import { parseIPv4 } from '../../lib/packet/address'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { referenceConfig } from './reference-config'

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

function record(i: number): any {
  return { customerAddress: `10.1.${100 + (i >> 8)}.${i & 255}`, virtualSubnetId: 5001, providerAddress: `192.168.6.${4 + (i % 4)}`, macAddress: `00:15:5d:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, customerId: 'blue' }
}

function answers(s: Snapshot, records: readonly any[]): string[] {
  return records.map((r) => {
    const i = keyTableGet(s.lookup, r.virtualSubnetId, parseIPv4(r.customerAddress), 0)
    return i < 0 ? 'missing' : `${s.lookupHost[i]} ${[...s.lookupMac.subarray(i * 6, i * 6 + 6)].join(':')}`
  })
}

t.test('appended records: the same answers as a fresh compile; the previous snapshot untouched', async (t) => {
  const base = deepFreeze(validateConfig(referenceConfig()))
  const compiler = new Compiler()
  let previous = compiler.compile(base, 1)
  let config = base
  // 3 records (same table size), then 2000 (a grown table), then 1.
  for (const [step, extra] of [[0, 3], [1, 2000], [2, 1]] as const) {
    const before = answers(previous, config.lookupRecords)
    const keysBefore = previous.lookup.keys.slice()
    const start = config.lookupRecords.length
    const added = Array.from({ length: extra }, (_, k) => record(step * 3000 + k))
    const next = deepFreeze(validateConfig({ ...config, lookupRecords: [...config.lookupRecords, ...added] }))
    // Keep the running records by reference, as the control plane does.
    const shared = deepFreeze({ ...next, lookupRecords: [...config.lookupRecords, ...next.lookupRecords.slice(start)] })
    const snapshot = compiler.compile(shared, step + 2)
    const fresh = new Compiler().compile(shared, step + 2)
    t.same(answers(snapshot, shared.lookupRecords), answers(fresh, shared.lookupRecords), `step ${step}: as a fresh compile`)
    t.notOk(answers(snapshot, shared.lookupRecords).includes('missing'), `step ${step}: every record found`)
    t.same(answers(previous, config.lookupRecords), before, `step ${step}: previous snapshot answers as before`)
    t.same(previous.lookup.keys, keysBefore, `step ${step}: previous key table unchanged`)
    t.equal(keyTableGet(previous.lookup, 5001, parseIPv4(added[0].customerAddress), 0), -1, `step ${step}: the previous snapshot does not know the new records`)
    previous = snapshot
    config = shared
  }
})
