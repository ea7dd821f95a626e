import t from 'tap'
import {
  EVICT_CLOSING,
  EVICT_ESTABLISHED,
  EVICT_HALF_OPEN,
  FLOW_CLOSING,
  FLOW_DATAGRAM,
  FLOW_ESTABLISHED,
  FLOW_NEW,
  FLOW_RESET,
  FlowTable,
  NO_ENTRY,
  type RuleTimeout,
} from '../../lib/dataplane/flow-table'
import { forwardHashOfKey } from '../../lib/dataplane/flow-hash'
import { Harness, fromClient, referenceConfig, replyTo } from '../helpers/engine-harness'
import { startApi } from '../api/helpers'
import { Metrics } from '../../lib/api/metrics'
import { statsText } from '../../lib/cli/format'

const SYN = 30
const CLOSING = 30
const RESET = 10

function table(capacity: number, rules: RuleTimeout[], options: { halfOpenBudget?: number } = {}): FlowTable {
  const ft = new FlowTable(capacity, options)
  ft.setTimeouts(SYN, CLOSING, RESET, rules)
  return ft
}

/** Insert flow n (source address n) of a rule in a state at a time. */
function add(ft: FlowTable, n: number, rule: number, state: number, now: number): number {
  const ports = (1000 << 16) | 80
  return ft.insert(forwardHashOfKey(6, n, 99, ports), n * 7919, 6, n, 99, ports, 0, rule, 0, state, now)
}

function find(ft: FlowTable, n: number): number {
  const ports = (1000 << 16) | 80
  return ft.findForward(forwardHashOfKey(6, n, 99, ports), 6, n, 99, ports)
}

/** A small deterministic generator. */
function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

t.test('memory per flow stays within 64 bytes', async (t) => {
  t.ok(new FlowTable(1 << 20).bytesPerFlow <= 64)
  t.equal(new FlowTable(1 << 20).bytesPerFlow, 64)
})

t.test('fields packed with the list keep their values', async (t) => {
  const ft = table(4, [{ id: 3, idleTimeoutSeconds: 240 }])
  const i = add(ft, 1, 3, FLOW_NEW, 100)
  ft.setMacIndex(i, 0xffff)
  t.equal(ft.macIndex(i), 0xffff)
  t.equal(ft.state(i), FLOW_NEW)
  ft.setState(i, FLOW_ESTABLISHED)
  t.equal(ft.macIndex(i), 0xffff)
  t.equal(ft.state(i), FLOW_ESTABLISHED)
  t.equal(ft.rule(i), 3)
  ft.setMacIndex(i, 7)
  t.equal(ft.state(i), FLOW_ESTABLISHED)
  t.equal(ft.macIndex(i), 7)
  t.equal(ft.timeoutOf(i), 240)
})

t.test('prefetching: the chain heads of a batch by kind', async (t) => {
  const ft = table(64, [{ id: 0, idleTimeoutSeconds: 240 }])
  const ports = (1000 << 16) | 80
  const a = add(ft, 1, 0, FLOW_NEW, 100)
  const b = add(ft, 2, 0, FLOW_NEW, 100)
  const fa = forwardHashOfKey(6, 1, 99, ports)
  const heads = new Int32Array(5).fill(7)
  // forward, reply (add() gives flow n the reply hash n * 7919), none, hairpin (forward)
  ft.headsOf(new Uint8Array([0, 1, 2, 3]), new Int32Array([fa, 2 * 7919, fa, fa]), heads, 4)
  t.same([...heads], [a, b, NO_ENTRY, a, 7], 'only the first n are written')
  const none = new Int32Array(3).fill(NO_ENTRY)
  t.equal(ft.touchRecords(none, 3), 0, 'no entries: nothing read')
  t.equal(ft.touchRecords(heads, 4), ft.touchRecords(new Int32Array([b]), 1), 'the first n; a record read twice XORs out')
})

t.test('ageing reclaims every expired flow within a bounded number of ticks, whatever the order, and nothing early', async (t) => {
  const rules: RuleTimeout[] = [5, 60, 240, 3600, 45].map((s, id) => ({ id, idleTimeoutSeconds: s }))
  const ft = table(4096, rules)
  const rnd = lcg(42)
  const states = [FLOW_NEW, FLOW_ESTABLISHED, FLOW_CLOSING, FLOW_RESET, FLOW_DATAGRAM]
  const live = new Map<number, number>() // n → slot
  let now = 1000
  let next = 0
  const BUDGET = 64
  for (let second = 0; second < 600; second++) {
    now++
    // Some new flows, some touched, some change state.
    for (let k = 0; k < 6 && ft.count < ft.capacity; k++) {
      const n = ++next
      live.set(n, add(ft, n, Math.floor(rnd() * rules.length), FLOW_NEW, now))
      const i = live.get(n)!
      const s = states[Math.floor(rnd() * states.length)]!
      if (s !== FLOW_NEW) ft.setState(i, s)
    }
    for (const [, i] of live) if (rnd() < 0.02) ft.touch(i, now)
    const wasExpired = new Set<number>()
    for (const [n, i] of live) if (ft.isExpired(i, now)) wasExpired.add(n)
    // Ticks within this second, each with a bounded budget.
    let removed = 0
    for (let tick = 0; tick < 4; tick++) {
      const r = ft.expire(now, BUDGET)
      t.ok(r <= BUDGET) || t.fail('over budget')
      removed += r
    }
    for (const [n, i] of live) {
      if (find(ft, n) !== i) {
        if (!wasExpired.has(n)) t.fail(`flow ${n} removed before it expired`)
        live.delete(n)
        continue
      }
      if (ft.isExpired(i, now)) {
        // Expired flows may wait only for the budget: at most 4 × 64 looked at this second.
        t.ok(removed === 4 * BUDGET, `flow ${n} expired but still present with budget left`) || t.bailout('ageing stuck')
      }
    }
  }
  // Finally all flows go once the clock passes the longest timeout.
  for (let s = 0; s < 3601 + 40; s++) ft.expire(++now, BUDGET)
  t.equal(ft.count, 0, 'all flows reclaimed')
})

t.test('ageing never removes a live flow', async (t) => {
  const ft = table(64, [{ id: 0, idleTimeoutSeconds: 240 }, { id: 1, idleTimeoutSeconds: 5 }])
  const a = add(ft, 1, 0, FLOW_NEW, 100)
  ft.setState(a, FLOW_ESTABLISHED)
  for (let n = 2; n < 20; n++) add(ft, n, 1, FLOW_DATAGRAM, 101)
  add(ft, 50, 0, FLOW_NEW, 102)
  t.equal(ft.expire(106, 1000), 0, 'nothing idle past its timeout at 106 (datagrams idle 5 s)')
  t.equal(ft.expire(107, 1000), 18, 'the 5 s datagrams go, behind an established flow')
  t.equal(ft.expire(132, 1000), 0, 'the half-open flow is idle 30 s: not yet')
  t.equal(ft.expire(133, 1000), 1)
  t.equal(ft.count, 1)
  t.equal(ft.expire(340, 1000), 0)
  t.equal(ft.expire(341, 1000), 1)
})

t.test('more distinct rule timeouts than lists: reclaimed late but never early', async (t) => {
  const rules: RuleTimeout[] = Array.from({ length: 40 }, (_, id) => ({ id, idleTimeoutSeconds: 10 + id }))
  const ft = table(1024, rules)
  for (let id = 0; id < 40; id++) ft.setState(add(ft, id + 1, id, FLOW_NEW, 100), FLOW_ESTABLISHED)
  for (let now = 101; now < 200; now++) {
    ft.expire(now, 1000)
    for (let id = 0; id < 40; id++) {
      const alive = find(ft, id + 1) !== NO_ENTRY
      if (now - 100 <= 10 + id && !alive) t.fail(`rule ${id} flow removed at idle ${now - 100}, before its ${10 + id} s`)
    }
  }
  t.equal(ft.count, 0, 'all reclaimed once past the longest timeout')
})

t.test("a rule's timeout that grows with a new snapshot keeps its flows", async (t) => {
  const ft = table(64, [{ id: 0, idleTimeoutSeconds: 20 }])
  const i = add(ft, 1, 0, FLOW_NEW, 100)
  ft.setState(i, FLOW_ESTABLISHED)
  ft.setTimeouts(SYN, CLOSING, RESET, [{ id: 0, idleTimeoutSeconds: 100 }])
  t.equal(ft.expire(150, 100), 0, 'idle 50 s of 100: kept')
  t.equal(find(ft, 1), i)
  t.equal(ft.expire(201, 100), 1, 'idle 101 s: gone')
  // And one that shrinks: reclaimed by its old list, never before its new timeout.
  const j = add(ft, 2, 0, FLOW_NEW, 300)
  ft.setState(j, FLOW_ESTABLISHED)
  ft.setTimeouts(SYN, CLOSING, RESET, [{ id: 0, idleTimeoutSeconds: 10 }])
  t.ok(ft.isExpired(j, 311), 'expired for lookups at once')
  t.equal(ft.expire(401, 100), 1, 'reclaimed by ageing at the latest after the old timeout')
})

t.test('a full table: expired flows first, then half-open, reset, closing, and established last', async (t) => {
  const rules = [{ id: 0, idleTimeoutSeconds: 240 }]
  const ft = table(6, rules)
  const old = add(ft, 6, 0, FLOW_NEW, 50) // expired from 81 on
  const est = add(ft, 1, 0, FLOW_NEW, 100)
  ft.setState(est, FLOW_ESTABLISHED)
  ft.setState(add(ft, 2, 0, FLOW_NEW, 100), FLOW_CLOSING)
  ft.setState(add(ft, 3, 0, FLOW_NEW, 100), FLOW_RESET)
  add(ft, 4, 0, FLOW_NEW, 101)
  add(ft, 5, 0, FLOW_NEW, 102)
  t.equal(ft.count, 6)
  t.ok(ft.isExpired(old, 105))
  add(ft, 7, 0, FLOW_DATAGRAM, 105)
  t.equal(ft.evicted, false, 'the expired flow made room')
  t.equal(ft.reclaimed, 1)
  t.equal(find(ft, 6), NO_ENTRY)
  add(ft, 8, 0, FLOW_NEW, 105)
  t.same([ft.evicted, ft.evictedClass], [true, EVICT_HALF_OPEN])
  t.equal(find(ft, 4), NO_ENTRY, 'the least recently used half-open flow went')
  add(ft, 9, 0, FLOW_DATAGRAM, 105)
  t.same([ft.evicted, ft.evictedClass], [true, EVICT_HALF_OPEN])
  add(ft, 10, 0, FLOW_DATAGRAM, 105)
  t.same([ft.evicted, ft.evictedClass], [true, EVICT_HALF_OPEN], 'the half-open flow 8 went')
  t.equal(find(ft, 8), NO_ENTRY)
  add(ft, 11, 0, FLOW_DATAGRAM, 106)
  t.same([ft.evicted, ft.evictedClass], [true, EVICT_CLOSING], 'then the reset flow')
  t.equal(find(ft, 3), NO_ENTRY)
  add(ft, 12, 0, FLOW_DATAGRAM, 106)
  t.same([ft.evicted, ft.evictedClass], [true, EVICT_CLOSING], 'then the closing flow')
  t.equal(find(ft, 2), NO_ENTRY)
  t.equal(ft.countOf(EVICT_ESTABLISHED), 6)
  ft.touch(est, 107)
  add(ft, 13, 0, FLOW_DATAGRAM, 107)
  t.same([ft.evicted, ft.evictedClass], [true, EVICT_ESTABLISHED], 'only now an established flow: the least recently used')
  t.equal(find(ft, 7), NO_ENTRY)
  t.not(find(ft, 1), NO_ENTRY, 'the recently used established flow stays')
})

t.test('a half-open budget caps half-open flows and leaves the rest of the table alone', async (t) => {
  const ft = table(100, [{ id: 0, idleTimeoutSeconds: 240 }], { halfOpenBudget: 10 })
  for (let n = 1; n <= 20; n++) ft.setState(add(ft, n, 0, FLOW_NEW, 100), FLOW_ESTABLISHED)
  let evicted = 0
  for (let n = 100; n < 1100; n++) {
    add(ft, n, 0, FLOW_NEW, 101)
    if (ft.evicted) {
      t.equal(ft.evictedClass, EVICT_HALF_OPEN)
      evicted++
    }
  }
  t.equal(ft.countOf(EVICT_HALF_OPEN), 10)
  t.equal(ft.count, 30)
  t.equal(evicted, 990)
  for (let n = 1; n <= 20; n++) t.not(find(ft, n), NO_ENTRY)
})

t.test('a SYN flood through the engine: evictions by class in /v1/stats and /metrics', async (t) => {
  const h = new Harness(referenceConfig(), { maxFlows: 64 })
  const syn = h.send(fromClient({ sport: 50000 }))
  h.send(replyTo(syn.out[0]!.frame))
  h.send(fromClient({ sport: 50000, flags: ['ack'] }))
  for (let n = 0; n < 200; n++) h.send(fromClient({ sport: 2000 + n, client: `198.18.0.${n}` }))
  const report = h.engine.statsReport()
  t.same(report.flowsEvictedByClass, { halfOpen: 137, established: 0, closing: 0 })
  t.equal(report.flowsEvicted, 137)

  const api = await startApi(t, { config: referenceConfig(), stats: () => h.engine.statsReport() })
  const stats = await api.call({ method: 'GET', url: '/v1/stats' })
  t.same(api.json(stats).flowsEvictedByClass, { halfOpen: 137, established: 0, closing: 0 })
  const metrics = new Metrics({ stats: () => h.engine.statsReport(), configGeneration: () => 1, ready: () => true, processMetrics: false })
  const text = await metrics.registry.metrics()
  t.match(text, /nvlb_flows_evicted_by_class_total\{class="half_open"\} 137/)
  t.match(text, /nvlb_flows_evicted_by_class_total\{class="established"\} 0/)
  t.match(text, /nvlb_flows_evicted_by_class_total\{class="closing"\} 0/)
  t.match(statsText(report), /137 evicted \(137 half-open, 0 established, 0 closing\)/, 'nvlb stats shows them')
})
