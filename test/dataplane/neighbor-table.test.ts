import t from 'tap'
import { NeighborTable } from '../../lib/dataplane/neighbor-table'
import { Harness } from '../helpers/engine-harness'

const snap = () => new Harness().engine.snapshot!
const mac = (last: number) => Uint8Array.of(2, 0, 0, 0, 0, last)

t.test('static neighbours first, then learnt ones; unknown addresses are not resolved', async (t) => {
  const s = snap()
  const n = new NeighborTable()
  const host4 = 0xc0a80607 | 0
  t.ok(n.resolve(host4, s), 'static from the configuration')
  t.same([...n.bytes.subarray(n.offset, n.offset + 6)], [2, 0, 0xc0, 0xa8, 6, 7])
  const other = 0xc0a80699 | 0
  t.notOk(n.resolve(other, s))
  n.learn(other, mac(9), 0)
  n.reset()
  t.ok(n.resolve(other, s))
  t.equal(n.bytes[n.offset + 5], 9)
  n.seen(other, mac(10), 0)
  n.reset()
  n.resolve(other, s)
  t.equal(n.bytes[n.offset + 5], 10, 'a learnt MAC changes in place')
})

t.test('ARP requests: at most one a second per address; the address is then expected', async (t) => {
  const n = new NeighborTable()
  t.notOk(n.isRequested(5))
  t.ok(n.shouldRequest(5, 100))
  t.notOk(n.shouldRequest(5, 100), 'not twice in one second')
  t.ok(n.shouldRequest(5, 101))
  t.ok(n.isRequested(5))
})

t.test('a learnt neighbour ages out; a full table evicts expired and oldest entries', async (t) => {
  const { NeighborTable, NEIGHBOR_MAX_AGE, DYNAMIC_NEIGHBORS } = await import('../../lib/dataplane/neighbor-table')
  const { Compiler } = await import('../../lib/control/compiler')
  const { referenceConfig } = await import('../helpers/engine-harness')
  const s = new Compiler().compile(referenceConfig(), 1)
  const n = new NeighborTable()
  const m = new Uint8Array([2, 0, 0, 0, 0, 9])
  n.now = 100
  n.learn(0x0a000001, m, 0)
  t.ok(n.resolve(0x0a000001, s), 'learnt')
  n.now = 100 + NEIGHBOR_MAX_AGE
  t.ok(n.resolve(0x0a000001, s), 'still fresh at the limit')
  n.now = 101 + NEIGHBOR_MAX_AGE
  t.notOk(n.resolve(0x0a000001, s), 'aged out: unknown again')
  n.seen(0x0a000001, m, 0)
  t.ok(n.resolve(0x0a000001, s), 'seen again: refreshed')
  for (let i = 0; i < DYNAMIC_NEIGHBORS * 3; i++) {
    n.now = 1000 + i
    n.learn(0x0b000000 + i, m, 0)
  }
  t.ok(n.size <= DYNAMIC_NEIGHBORS, 'bounded')
  t.ok(n.resolve(0x0b000000 + DYNAMIC_NEIGHBORS * 3 - 1, s), 'the newest is known')
  t.notOk(n.resolve(0x0b000000, s), 'the oldest was evicted')
  t.ok(n.evicted > 0)
})
