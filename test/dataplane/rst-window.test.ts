/**
 * RSTs outside the window (flow-state.ts) through the engine: a spoofed RST
 * does not tear a connection down, the connection's own RSTs still do, as
 * the connection moves through its sequence space.
 */
import t from 'tap'
import { Verdict } from '../../lib/dataplane/engine'
import { FLOW_ESTABLISHED, FLOW_RESET, NO_ENTRY } from '../../lib/dataplane/flow-table'
import { forwardHashOfKey } from '../../lib/dataplane/flow-hash'
import { parseIPv4 } from '../../lib/packet/address'
import { IPPROTO_TCP } from '../../lib/packet/ipv4'
import { Harness, fromClient, replyTo } from '../helpers/engine-harness'

const CLIENT = parseIPv4('198.51.100.10') | 0
const VIP = parseIPv4('203.0.113.10') | 0

/** The state of the public flow from the client's port `sport`, or -1 when there is none. */
function stateOf(h: Harness, sport: number): number {
  const flows = h.engine.flows!
  const ports = ((sport << 16) | 80) | 0
  const i = flows.findForward(forwardHashOfKey(IPPROTO_TCP, CLIENT, VIP, ports), IPPROTO_TCP, CLIENT, VIP, ports)
  return i === NO_ENTRY ? -1 : flows.state(i)
}

/** Handshake: client ISN 1000, backend ISN 9000; returns the SYN as sent to the backend. */
function connect(h: Harness, sport: number): Buffer {
  const syn = h.send(fromClient({ sport })).out[0]!.frame
  h.send(replyTo(syn))
  h.send(fromClient({ sport, flags: ['ack'], seq: 1001, ack: 9001 }))
  return syn
}

t.test('a blind sweep of spoofed RSTs does not reset an established connection', async (t) => {
  const h = new Harness()
  connect(h, 50100)
  t.equal(stateOf(h, 50100), FLOW_ESTABLISHED)
  // 1,023 RSTs 4 MiB apart, none within 2 MiB of the connection's sequence number.
  let dropped = 0
  for (let k = 0; k < 1023; k++) {
    const r = h.send(fromClient({ sport: 50100, flags: ['rst'], seq: (1001 + (2 << 20) + k * (4 << 20)) >>> 0 }))
    if (r.verdict === Verdict.DROP && r.drops[0] === 'rst_outside_window') dropped++
  }
  t.equal(dropped, 1023)
  t.equal(h.engine.statsReport().drops.rst_outside_window, 1023)
  t.equal(stateOf(h, 50100), FLOW_ESTABLISHED, 'still established')
  // A reset flow would be gone after 10 s; this one lives on its rule's 240 s.
  h.advance(200)
  t.equal(h.send(fromClient({ sport: 50100, flags: ['ack'], seq: 1001, ack: 9001 })).verdict, Verdict.TX, 'forwarded after 200 s')
  // The client's own RST resets it.
  t.equal(h.send(fromClient({ sport: 50100, flags: ['rst'], seq: 1001 })).verdict, Verdict.TX)
  t.equal(stateOf(h, 50100), FLOW_RESET)
  h.advance(11)
  t.equal(stateOf(h, 50100), -1, 'the reset flow expired after 10 s')
})

t.test("a long upload: the backend's acknowledgements carry the window along", async (t) => {
  const h = new Harness()
  const syn = connect(h, 50200)
  // 64 MB uploaded in 1 MB steps, each acknowledged by the backend.
  let seq = 1001
  for (let step = 0; step < 64; step++) {
    h.send(fromClient({ sport: 50200, flags: ['ack'], seq, ack: 9001, payload: 'x'.repeat(1000) }))
    seq += 1_000_000
    t.equal(h.send(replyTo(syn, { flags: ['ack'], seq: 9001, ack: seq })).verdict, Verdict.TX)
  }
  t.same(h.send(fromClient({ sport: 50200, flags: ['rst'], seq: 1001 })).drops, ['rst_outside_window'], 'a RST at the start of the upload is out')
  t.equal(h.send(fromClient({ sport: 50200, flags: ['rst'], seq: seq + 500_000 })).verdict, Verdict.TX, 'one where the upload is resets')
  t.equal(stateOf(h, 50200), FLOW_RESET)
})

t.test("a long download: the backend's own segments carry its window along", async (t) => {
  const h = new Harness()
  const syn = connect(h, 50300)
  let seq = 9001
  for (let step = 0; step < 64; step++) {
    t.equal(h.send(replyTo(syn, { flags: ['ack'], seq, ack: 1001, payload: 'y'.repeat(1000) })).verdict, Verdict.TX)
    seq += 1_000_000
  }
  t.same(h.send(replyTo(syn, { flags: ['rst'], seq: 9001 })).drops, ['rst_outside_window'])
  t.equal(stateOf(h, 50300), FLOW_ESTABLISHED)
  // The backend restarted and answers the client's next segment, which acknowledges what it has received.
  h.send(fromClient({ sport: 50300, flags: ['ack'], seq: 1001, ack: seq - 2_000_000 }))
  t.equal(h.send(replyTo(syn, { flags: ['rst'], seq: seq - 2_000_000 })).verdict, Verdict.TX, "a RST carrying the client's acknowledgement resets")
  t.equal(stateOf(h, 50300), FLOW_RESET)
})
