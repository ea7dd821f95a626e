import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { Verdict } from '../../lib/dataplane/engine'
import { Harness, fromClient, referenceConfig, replyTo, type Result } from '../helpers/engine-harness'

function backendOf(r: Result): string {
  return parseFrame(r.out[0]!.frame)!.inner!.ipv4!.dst
}

/** A full handshake through the engine: SYN, the backend's SYN-ACK, the client's ACK. Returns the backend. */
function establish(h: Harness, sport: number, client?: string): string {
  const syn = h.send(fromClient({ sport, ...(client === undefined ? {} : { client }) }))
  if (syn.verdict !== Verdict.TX) throw new Error(`SYN of ${sport} not forwarded: ${syn.drops.join(',')}`)
  const synAck = h.send(replyTo(syn.out[0]!.frame))
  if (synAck.verdict !== Verdict.TX) throw new Error(`SYN-ACK of ${sport} not forwarded: ${synAck.drops.join(',')}`)
  const ack = h.send(fromClient({ sport, flags: ['ack'], ...(client === undefined ? {} : { client }) }))
  if (ack.verdict !== Verdict.TX) throw new Error(`ACK of ${sport} not forwarded`)
  return backendOf(syn)
}

/** 198.18.0.0/15 (benchmarking space) as spoofed flood sources: address n. */
function spoofed(n: number): string {
  return `198.18.${(n >>> 8) & 0xff}.${n & 0xff}`
}

t.test('ageing is not head-of-line blocked by a flow with a longer timeout', async (t) => {
  const h = new Harness()
  establish(h, 40000) // established: 240 s
  for (let n = 0; n < 100; n++) t.equal(h.send(fromClient({ sport: 41000 + n })).verdict, Verdict.TX) // unanswered SYNs: 30 s
  establish(h, 40001)
  t.equal(h.engine.flowCount, 102)
  // 100 s of quiet, the clock ticking every second as the forwarding loop does.
  for (let s = 0; s < 100; s++) h.advance(1)
  t.equal(h.engine.flowCount, 2, 'the 100 half-open flows are gone, the 2 established ones stay')
  t.equal(h.engine.statsReport().flowsExpired, 100)
  for (const sport of [40000, 40001]) t.equal(h.send(fromClient({ sport, flags: ['ack'] })).verdict, Verdict.TX, `${sport} still forwarded`)
})

t.test('expired flows of every state are reclaimed whatever their order', async (t) => {
  const h = new Harness()
  // Interleave: established (240 s), reset (10 s), closing (30 s), half-open (30 s).
  for (let n = 0; n < 20; n++) {
    establish(h, 42000 + n)
    establish(h, 43000 + n)
    h.send(fromClient({ sport: 43000 + n, flags: ['rst'] }))
    establish(h, 44000 + n)
    h.send(fromClient({ sport: 44000 + n, flags: ['fin', 'ack'] }))
    h.send(fromClient({ sport: 45000 + n }))
  }
  t.equal(h.engine.flowCount, 80)
  for (let s = 0; s < 11; s++) h.advance(1)
  t.equal(h.engine.flowCount, 60, 'reset flows gone after 11 s')
  for (let s = 0; s < 20; s++) h.advance(1)
  t.equal(h.engine.flowCount, 20, 'closing and half-open flows gone after 31 s')
  for (let s = 0; s < 210; s++) h.advance(1)
  t.equal(h.engine.flowCount, 0, 'established flows gone after 241 s')
  t.equal(h.engine.statsReport().flowsExpired, 80)
})

t.test('a SYN flood does not evict established connections', async (t) => {
  const h = new Harness(referenceConfig(), { maxFlows: 1024 })
  const backends = new Map<number, string>()
  for (let n = 0; n < 50; n++) backends.set(46000 + n, establish(h, 46000 + n))
  h.advance(1)
  // 5,000 spoofed SYNs from as many sources, over 5 seconds.
  for (let n = 0; n < 5000; n++) {
    if (n % 1000 === 999) h.advance(1)
    h.send(fromClient({ sport: 1024 + (n % 60000), client: spoofed(n) }))
  }
  const stats = h.engine.statsReport()
  t.ok(stats.flowsEvicted > 0, 'the flood filled the table')
  t.equal(stats.flowsEvictedByClass.established, 0, 'no established flow evicted')
  t.equal(stats.flowsEvictedByClass.halfOpen, stats.flowsEvicted, 'only half-open flows evicted')
  for (const [sport, dip] of backends) {
    const r = h.send(fromClient({ sport, flags: ['ack'], payload: 'GET /' }))
    t.equal(r.verdict, Verdict.TX, `connection ${sport} still forwarded`)
    t.equal(backendOf(r), dip, `connection ${sport} reaches its backend`)
    const back = h.send(replyTo(r.out[0]!.frame, { flags: ['ack'], payload: 'HTTP/1.1 200' }))
    t.equal(back.verdict, Verdict.TX, `the backend's answer on ${sport} reaches the client`)
  }
  t.equal(h.engine.statsReport().flowsCreated, 5050, 'no connection was re-created')
})

t.test('a full table of established flows takes a new flow by evicting the least recently used, counted as established', async (t) => {
  const h = new Harness(referenceConfig(), { maxFlows: 16 })
  for (let n = 0; n < 16; n++) establish(h, 47000 + n)
  h.advance(1)
  for (let n = 1; n < 16; n++) h.send(fromClient({ sport: 47000 + n, flags: ['ack'] }))
  t.equal(h.send(fromClient({ sport: 47100 })).verdict, Verdict.TX)
  const stats = h.engine.statsReport()
  t.equal(stats.flowsEvictedByClass.established, 1)
  t.equal(stats.flowsEvicted, 1)
  t.equal(h.engine.flowCount, 16)
  // Half-open flows go before closing and established ones.
  h.send(fromClient({ sport: 47005, flags: ['fin', 'ack'] }))
  h.advance(1)
  for (let n = 1; n < 16; n++) if (n !== 5) h.send(fromClient({ sport: 47000 + n, flags: ['ack'] }))
  h.send(fromClient({ sport: 47101 })) // evicts 47100 (half-open) first
  h.send(fromClient({ sport: 47102 })) // evicts 47101 (half-open)
  const after = h.engine.statsReport()
  t.equal(after.flowsEvictedByClass.halfOpen, 2)
  t.equal(after.flowsEvictedByClass.closing, 0)
  t.equal(after.flowsEvictedByClass.established, 1)
})

t.test('a full table reclaims an expired flow before evicting a live one', async (t) => {
  const h = new Harness(referenceConfig(), { maxFlows: 8 })
  for (let n = 0; n < 4; n++) establish(h, 48000 + n)
  for (let n = 0; n < 4; n++) h.send(fromClient({ sport: 48100 + n }))
  // 31 s later the half-open ones are expired; feed traffic without ticks in between (one tick only).
  h.now += 31
  h.engine.tick(h.now)
  for (let n = 0; n < 4; n++) h.send(fromClient({ sport: 48000 + n, flags: ['ack'] }))
  for (let n = 0; n < 4; n++) t.equal(h.send(fromClient({ sport: 48200 + n })).verdict, Verdict.TX)
  const stats = h.engine.statsReport()
  t.equal(stats.flowsEvicted, 0, 'nothing live evicted')
  t.equal(stats.flowsExpired, 4)
  for (let n = 0; n < 4; n++) t.equal(h.send(fromClient({ sport: 48000 + n, flags: ['ack'] })).verdict, Verdict.TX)
})
