import t from 'tap'
import { FlowTable, FLOW_DATAGRAM } from '../../lib/dataplane/flow-table'
import { forwardHashOfKey } from '../../lib/dataplane/flow-hash'
import { IdSweep } from '../../lib/dataplane/id-sweep'
import { BACKEND_ABSENT, BACKEND_ACTIVE, type Snapshot } from '../../lib/dataplane/snapshot'

/** Just what the sweep reads of a snapshot: which rule and backend ids exist. */
function snapshot(epoch: number, rules: boolean[], backends: boolean[]): Snapshot {
  return {
    epoch,
    ruleList: rules.map((present) => (present ? ({} as never) : null)),
    backendCount: backends.length,
    backendState: Uint8Array.from(backends.map((present) => (present ? BACKEND_ACTIVE : BACKEND_ABSENT))),
  } as unknown as Snapshot
}

function insert(flows: FlowTable, n: number, rule: number, backend: number): void {
  flows.insert(forwardHashOfKey(17, n, 2, 3), n, 17, n, 2, 3, backend, rule, 0, FLOW_DATAGRAM, 0)
}

t.test('an empty table is swept at once', async (t) => {
  const s = new IdSweep()
  s.adopted(3, 0)
  t.equal(s.swept, 3)
  t.notOk(s.active)
})

t.test('a pass removes flows of ids the snapshot lost, and then proves its epoch', async (t) => {
  const flows = new FlowTable(10000) // 16384 buckets: several steps
  for (let n = 0; n < 3000; n++) insert(flows, n, n % 3, n % 2)
  const s = new IdSweep()
  s.adopted(1, flows.count)
  // Rule 2 and backend 1 are gone in epoch 2.
  const snap = snapshot(2, [true, true, false], [true, false])
  s.adopted(2, flows.count)
  let steps = 0
  while (s.active) {
    s.step(flows, snap)
    steps++
  }
  t.ok(steps > 1, `bounded work per step (${steps} steps)`)
  t.equal(s.swept, 2)
  t.equal(flows.count, 1000, 'only flows with rule 0/1 and backend 0 are left')
})

t.test('a snapshot adopted during a pass: the pass proves the lower epoch, then a new pass follows', async (t) => {
  const flows = new FlowTable(10000)
  for (let n = 0; n < 100; n++) insert(flows, n, 0, 0)
  const s = new IdSweep()
  s.adopted(5, flows.count)
  s.step(flows, snapshot(5, [true], [true]))
  t.ok(s.active)
  // A rollback to an older snapshot lowers what may be claimed at once.
  s.adopted(4, flows.count)
  t.equal(s.swept, 0)
  while (s.active) s.step(flows, snapshot(4, [true], [true]))
  t.equal(s.swept, 4, 'the pass that saw epoch 4 proves 4, not 5')
  s.adopted(6, flows.count)
  while (s.active) s.step(flows, snapshot(6, [true], [true]))
  t.equal(s.swept, 6)
  s.adopted(3, flows.count)
  t.equal(s.swept, 3, 'adopting an older snapshot lowers the gauge')
})
