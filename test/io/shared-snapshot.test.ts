import t from 'tap'
import { Compiler } from '../../lib/control/compiler'
import { deepFreeze } from '../../lib/control/control-plane'
import { validateConfig } from '../../lib/control/config-validate'
import { applySnapshotDelta, SnapshotPublisher, SnapshotSharer } from '../../lib/io/shared-snapshot'
import { benchConfig } from '../../bench/api'

t.test('a snapshot for the workers: every table in shared memory, the same values, kept tables not copied again', async (t) => {
  const compiler = new Compiler()
  const config = validateConfig(benchConfig())
  // As the control plane keeps unchanged sections: frozen, so the compiler may keep their tables.
  Object.freeze(config.lookupRecords)
  Object.freeze(config.customerRoutes)
  const first = compiler.compile(config, 1)
  const sharer = new SnapshotSharer()
  const shared = sharer.share(first)
  t.ok(sharer.lastCopiedBytes > 0, `the first snapshot's tables were copied (${sharer.lastCopiedBytes} bytes)`)
  t.ok(shared.backendAddress.buffer instanceof SharedArrayBuffer, 'backend table in a SharedArrayBuffer')
  t.ok(shared.lookup.keys.buffer instanceof SharedArrayBuffer, 'nested key tables too')
  const rule = shared.ruleList.find((r) => r !== null)!
  t.ok(rule.table.buffer instanceof SharedArrayBuffer, "and each rule's Maglev table")
  t.same(Array.from(shared.backendAddress), Array.from(first.backendAddress), 'same values')
  t.same(shared.ruleList.map((r) => r?.vipName ?? null), first.ruleList.map((r) => r?.vipName ?? null), 'same rules')
  t.equal(shared.generation, first.generation)
  t.ok(first.backendAddress.buffer instanceof SharedArrayBuffer, 'the compiler allocates the backend arrays in shared memory already (no copy)')

  const cloned = structuredClone(shared)
  t.ok(cloned.backendAddress.buffer instanceof SharedArrayBuffer, 'a structured clone (postMessage) shares the memory instead of copying it')

  // One backend's state changes: the compiler keeps the lookup records' tables, so they are not copied again.
  const pool = config.pools.find((p) => p.backends.length >= 1000)!
  const changed = {
    ...config,
    pools: config.pools.map((p) => (p === pool ? { ...p, backends: p.backends.map((b, i) => (i === 0 ? { ...b, state: 'draining' as const } : b)) } : p)),
  }
  const second = compiler.compile(changed, 2)
  t.equal(second.lookup, first.lookup, 'the compiler kept the lookup table (precondition)')
  const sharedSecond = sharer.share(second)
  t.equal(sharedSecond.lookup.keys, shared.lookup.keys, 'the kept table is the same shared array')
  const firstCopied = new SnapshotSharer()
  firstCopied.share(second)
  t.ok(sharer.lastCopiedBytes < firstCopied.lastCopiedBytes, `and was not copied again (${sharer.lastCopiedBytes} bytes copied, ${firstCopied.lastCopiedBytes} for a first share)`)
  t.equal(sharedSecond.generation, 2)
})

t.test('snapshots after the first go to the workers as deltas: applied to the one before, they give the snapshot published', async (t) => {
  const compiler = new Compiler()
  // Frozen, as the control plane keeps every running document: the compiler keeps what a change leaves alone.
  const config = deepFreeze(validateConfig(benchConfig()))
  const first = compiler.compile(config, 1)
  const publisher = new SnapshotPublisher(first)
  const running = structuredClone(publisher.full())
  const pool = config.pools.find((p) => p.backends.length >= 1000)!
  const changed = deepFreeze({
    ...config,
    pools: config.pools.map((p) => (p === pool ? { ...p, backends: p.backends.map((b, i) => (i === 0 ? { ...b, state: 'draining' as const } : b)) } : p)),
  })
  const second = compiler.compile(changed, 2)
  const delta = publisher.delta(second)
  t.equal(delta.base, first.epoch, 'a delta names the snapshot it applies to')
  const rulesOfPool = second.ruleList.filter((r) => r !== null && r.pool === pool.name).length
  t.ok(delta.rules.length <= rulesOfPool, `only the changed pool's rules are sent (${delta.rules.length} of ${second.ruleList.length})`)
  t.equal(delta.fields.lookup, undefined, 'tables the compiler kept are not sent')
  const applied = applySnapshotDelta(structuredClone(running), structuredClone(delta))
  const plain = (s: typeof first) => JSON.parse(JSON.stringify(s, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v)))
  t.same(plain(applied), plain(second), 'the delta applied to the running snapshot is the published one')
  t.same(plain(publisher.full()), plain(second), 'a worker started now gets the last one whole')
  t.throws(() => applySnapshotDelta(applied, delta), /cannot apply/, 'a delta applies only to its base')
  // Without any change but the generation, a delta carries the scalars only.
  const third = compiler.compile(changed, 3)
  const empty = publisher.delta(third)
  t.same(empty.ruleIds, [], 'no rule changed')
  t.same(empty.backendIds, [], 'no backend name changed')
  t.notOk(empty.frontendsChanged)
  t.same(plain(applySnapshotDelta(applied, empty)), plain(third))
})
