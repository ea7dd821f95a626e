import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { Verdict } from '../../lib/dataplane/engine'
import { Harness, fromClient, referenceConfig, replyTo } from '../helpers/engine-harness'

function backendOf(r: { out: { frame: Buffer }[] }): string {
  return parseFrame(r.out[0]!.frame)!.inner!.ipv4!.dst
}

t.test('existing flows survive a new snapshot (20 changes)', async (t) => {
  const h = new Harness()
  const first = h.send(fromClient({ sport: 52000 }))
  const dip = backendOf(first)
  for (let i = 0; i < 20; i++) {
    const c = referenceConfig()
    c.vips[0]!.rules[0]!.idleTimeoutSeconds = 100 + i
    // Adding backends changes the Maglev table; the flow keeps its backend.
    c.pools[0]!.backends = c.pools[0]!.backends.filter((_, k) => k < 1 + (i % 4))
    if (!c.pools[0]!.backends.some((b) => b.address === dip)) c.pools[0]!.backends.push({ virtualSubnetId: 5001, address: dip, weight: 1, state: 'active' })
    h.load(c)
    const r = h.send(fromClient({ sport: 52000, flags: ['ack'] }))
    t.equal(backendOf(r), dip, `change ${i + 1}: same backend`)
  }
  t.equal(h.engine.flowCount, 1)
})

t.test('draining keeps flows and takes no new ones; disabled takes the backend out', async (t) => {
  const h = new Harness()
  const flows = new Map<number, string>()
  for (let sport = 53000; sport < 53200; sport++) flows.set(sport, backendOf(h.send(fromClient({ sport }))))
  const victim = flows.get(53000)!
  const drain = referenceConfig()
  drain.pools.find((p) => p.name === 'blue-web')!.backends.find((b) => b.address === victim)!.state = 'draining'
  h.load(drain)
  for (const [sport, dip] of flows) t.equal(backendOf(h.send(fromClient({ sport, flags: ['ack'] }))), dip, `flow ${sport} keeps its backend while draining`)
  for (let sport = 54000; sport < 54200; sport++) t.not(backendOf(h.send(fromClient({ sport }))), victim, 'no new flow to the draining backend')
  const disable = referenceConfig()
  disable.pools.find((p) => p.name === 'blue-web')!.backends.find((b) => b.address === victim)!.state = 'disabled'
  h.load(disable)
  for (const [sport] of flows) t.not(backendOf(h.send(fromClient({ sport, flags: ['ack'] }))), victim, `flow ${sport} leaves the disabled backend`)
})

t.test('idle timeouts follow the TCP state and the rule', async (t) => {
  const h = new Harness()
  const syn = h.send(fromClient({ sport: 55000 }))
  t.equal(h.engine.flowCount, 1)
  h.send(replyTo(syn.out[0]!.frame))
  h.send(fromClient({ sport: 55000, flags: ['ack'] }))
  h.advance(200) // established: rule idle timeout 240 s
  h.send(fromClient({ sport: 55000, flags: ['ack'] }))
  t.equal(h.engine.flowCount, 1, 'established flow alive after 200 s idle')
  h.advance(241)
  t.equal(h.engine.flowCount, 0, 'expired after 241 s idle')
  t.equal(h.engine.statsReport().flowsExpired, 1)

  h.send(fromClient({ sport: 55001 }))
  h.advance(31)
  t.equal(h.engine.flowCount, 0, 'a SYN-only flow expires after 30 s')

  const s2 = h.send(fromClient({ sport: 55002 }))
  h.send(replyTo(s2.out[0]!.frame))
  h.send(fromClient({ sport: 55002, flags: ['ack'] }))
  h.send(fromClient({ sport: 55002, flags: ['rst'] }))
  h.advance(11)
  t.equal(h.engine.flowCount, 0, 'a reset flow expires after 10 s')
})

t.test('the flow table is bounded: the least recently used flow is evicted', async (t) => {
  const h = new Harness(referenceConfig(), { maxFlows: 8 })
  for (let sport = 56000; sport < 56008; sport++) h.send(fromClient({ sport }))
  h.advance(1)
  // Touch all but 56003, so it is the least recently used.
  for (let sport = 56000; sport < 56008; sport++) if (sport !== 56003) h.send(fromClient({ sport, flags: ['ack'] }))
  h.send(fromClient({ sport: 56100 }))
  t.equal(h.engine.flowCount, 8)
  const stats = h.engine.statsReport()
  t.equal(stats.flowsEvicted, 1)
  // 56003's reply has no flow any more; the others still do.
  const r = h.send(fromClient({ sport: 56004, flags: ['ack'] }))
  t.equal(r.verdict, Verdict.TX)
  t.equal(h.engine.statsReport().flowsCreated, 9, 'no flow re-created for a tracked client')
})
