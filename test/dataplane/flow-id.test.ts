/**
 * NVGRE FlowID (the key's low byte) carries per-flow entropy from the flow
 * hash, so ECMP routers and receive-side scaling on the hosts spread flows of
 * one client over paths and queues; every packet of a flow carries the same one.
 */
import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { Verdict } from '../../lib/dataplane/engine'
import { Harness, fromAppTier, fromClient, replyTo } from '../helpers/engine-harness'

function flowIdOf(frame: Buffer): number {
  return parseFrame(frame)!.gre!.flowId
}

t.test('flows of one client address get FlowIDs from their flow hash, not from the address', async (t) => {
  const h = new Harness()
  const ids = new Set<number>()
  for (let sport = 40000; sport < 40064; sport++) {
    const r = h.send(fromClient({ sport }))
    t.equal(r.verdict, Verdict.TX)
    ids.add(flowIdOf(r.out[0]!.frame))
  }
  t.ok(ids.size >= 24, `64 flows of one client spread over ${ids.size} FlowIDs`)

  const caIds = new Set<number>()
  for (let sport = 41000; sport < 41064; sport++) caIds.add(flowIdOf(h.send(fromAppTier({ vsid: 5002, sport })).out[0]!.frame))
  t.ok(caIds.size >= 24, `64 CA VIP flows of one VM spread over ${caIds.size} FlowIDs`)
})

t.test('every packet of a flow carries the same FlowID, in both directions', async (t) => {
  const h = new Harness()
  const syn = h.send(fromClient({ sport: 42000 })).out[0]!.frame
  const ack = h.send(fromClient({ sport: 42000, flags: ['ack'], payload: 'GET / HTTP/1.1\r\n\r\n' })).out[0]!.frame
  t.equal(flowIdOf(ack), flowIdOf(syn))

  const fwd = h.send(fromAppTier({ vsid: 5002, sport: 42001 })).out[0]!.frame
  const fwd2 = h.send(fromAppTier({ vsid: 5002, sport: 42001, flags: ['ack'] })).out[0]!.frame
  t.equal(flowIdOf(fwd2), flowIdOf(fwd))
  const back = h.send(replyTo(fwd, { vsid: 5002 }))
  const back2 = h.send(replyTo(fwd, { vsid: 5002, flags: ['ack'] }))
  t.equal(back.verdict, Verdict.TX)
  t.equal(flowIdOf(back2.out[0]!.frame), flowIdOf(back.out[0]!.frame), 'the reply direction too')
})
