import t from 'tap'
import { idleTimeout, nextSeqWord, nextTcpState, rstInWindow, SEQ_UNKNOWN, SEQ_WINDOW_BYTES, SEQ_WINDOW_MAX_BYTES, TCP_CLOSING_TIMEOUT, TCP_RESET_TIMEOUT, TCP_SYN_TIMEOUT } from '../../lib/dataplane/flow-state'
import { FLOW_CLOSING, FLOW_DATAGRAM, FLOW_ESTABLISHED, FLOW_NEW, FLOW_RESET } from '../../lib/dataplane/flow-table'
import { TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_RST, TCP_FLAG_SYN } from '../../lib/packet/tcp'

t.test('TCP flags move a flow through its states', async (t) => {
  t.equal(nextTcpState(FLOW_NEW, TCP_FLAG_SYN), FLOW_NEW)
  t.equal(nextTcpState(FLOW_NEW, TCP_FLAG_SYN | TCP_FLAG_ACK), FLOW_NEW, 'a SYN-ACK does not establish')
  t.equal(nextTcpState(FLOW_NEW, TCP_FLAG_ACK), FLOW_ESTABLISHED)
  t.equal(nextTcpState(FLOW_ESTABLISHED, TCP_FLAG_FIN | TCP_FLAG_ACK), FLOW_CLOSING)
  t.equal(nextTcpState(FLOW_ESTABLISHED, TCP_FLAG_RST), FLOW_RESET)
  t.equal(nextTcpState(FLOW_RESET, TCP_FLAG_FIN), FLOW_RESET, 'a reset stays reset')
  t.equal(nextTcpState(FLOW_CLOSING, TCP_FLAG_ACK), FLOW_CLOSING)
})

t.test('idle timeouts by state', async (t) => {
  t.equal(idleTimeout(FLOW_ESTABLISHED, 240), 240)
  t.equal(idleTimeout(FLOW_DATAGRAM, 60), 60)
  t.equal(idleTimeout(FLOW_ESTABLISHED, -1), TCP_SYN_TIMEOUT, 'rule gone')
  t.equal(idleTimeout(FLOW_NEW, 240), TCP_SYN_TIMEOUT)
  t.equal(idleTimeout(FLOW_CLOSING, 240), TCP_CLOSING_TIMEOUT)
  t.equal(idleTimeout(FLOW_RESET, 240), TCP_RESET_TIMEOUT)
})

const CLIENT = false
const BACKEND = true
const SYN = TCP_FLAG_SYN
const ACK = TCP_FLAG_ACK
const SYN_ACK = TCP_FLAG_SYN | TCP_FLAG_ACK

/** The word after a handshake: client ISN `c`, backend ISN `b`, then the client's ACK. */
function handshake(c: number, b: number): number {
  let w = nextSeqWord(SEQ_UNKNOWN, CLIENT, SYN, c, 0, 0)
  w = nextSeqWord(w, BACKEND, SYN_ACK, b, c + 1, 0)
  return nextSeqWord(w, CLIENT, ACK, c + 1, b + 1, 0)
}

t.test('the window: ±1 MiB is accepted, beyond 1.125 MiB dropped, also across the 2^32 wrap', async (t) => {
  t.equal(SEQ_WINDOW_BYTES, 1 << 20)
  t.equal(SEQ_WINDOW_MAX_BYTES, (1 << 20) + (1 << 17))
  for (const isn of [0, 1000, 0x7fffffff, 0x80000000, 0xffffffff - 500, 0xfff00000, 123456789]) {
    const w = handshake(isn, 9000)
    const next = (isn + 1) >>> 0
    for (const d of [0, 1, 1460, 65536, SEQ_WINDOW_BYTES - 1]) {
      t.ok(rstInWindow(w, CLIENT, (next + d) | 0), `ISN ${isn}: +${d} accepted`)
      t.ok(rstInWindow(w, CLIENT, (next - d) | 0), `ISN ${isn}: -${d} accepted`)
    }
    for (const d of [SEQ_WINDOW_MAX_BYTES, SEQ_WINDOW_MAX_BYTES + 1, 1 << 24, 0x40000000, 0x7fffffff, 0x80000000]) {
      t.notOk(rstInWindow(w, CLIENT, (next + d) | 0), `ISN ${isn}: +${d} dropped`)
      t.notOk(rstInWindow(w, CLIENT, (next - d) | 0), `ISN ${isn}: -${d} dropped`)
    }
  }
})

t.test('the window against a slow copy of the rule, at random', async (t) => {
  // Obviously correct: signed distance modulo 2^32, with the 128 KiB rounding band in between.
  let seed = 12345
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0
    return seed >>> 0
  }
  let checked = 0
  for (let n = 0; n < 20000; n++) {
    const isn = random()
    const w = nextSeqWord(SEQ_UNKNOWN, CLIENT, SYN, isn, 0, 0)
    const expected = (isn + 1) >>> 0
    const rst = n % 2 === 0 ? random() : (expected + (random() % (3 << 20)) - (3 << 19)) >>> 0
    const distance = Math.abs((((rst - expected) >>> 0) | 0))
    const got = rstInWindow(w, CLIENT, rst | 0)
    if (distance < SEQ_WINDOW_BYTES && !got) t.fail(`ISN ${isn}, RST ${rst}: within 1 MiB but dropped`)
    else if (distance >= SEQ_WINDOW_MAX_BYTES && got) t.fail(`ISN ${isn}, RST ${rst}: beyond 1.125 MiB but accepted`)
    else checked++
  }
  t.equal(checked, 20000)
})

t.test('nothing known: a RST is accepted from either side (flows created mid-stream stay closable)', async (t) => {
  t.ok(rstInWindow(SEQ_UNKNOWN, CLIENT, 12345))
  t.ok(rstInWindow(SEQ_UNKNOWN, BACKEND, -7))
  // The client's SYN tells nothing of the backend's sequence space: its RST|ACK (seq 0) to a SYN is accepted.
  const afterSyn = nextSeqWord(SEQ_UNKNOWN, CLIENT, SYN, 5000, 0, 0)
  t.ok(rstInWindow(afterSyn, BACKEND, 0))
  t.ok(rstInWindow(afterSyn, CLIENT, 5001))
  t.notOk(rstInWindow(afterSyn, CLIENT, 5001 + (1 << 24)))
})

t.test('a flow first seen mid-stream learns both directions from its first segment', async (t) => {
  // Client data: seq 7,000,000, 100 bytes, acknowledging the backend up to 90,000,000.
  const w = nextSeqWord(SEQ_UNKNOWN, CLIENT, ACK, 7_000_000, 90_000_000, 100)
  t.ok(rstInWindow(w, CLIENT, 7_000_100))
  t.notOk(rstInWindow(w, CLIENT, 7_000_100 + (1 << 22)))
  t.ok(rstInWindow(w, BACKEND, 90_000_000))
  t.notOk(rstInWindow(w, BACKEND, 90_000_000 - (1 << 22)))
})

t.test("the client's reference point moves with the backend's acknowledgements, never with the client's own segments", async (t) => {
  let w = handshake(1000, 9000)
  // A spoofed client segment far away does not move it: its RST stays out.
  const far = 1000 + (1 << 26)
  w = nextSeqWord(w, CLIENT, ACK, far, 9001, 1000)
  t.notOk(rstInWindow(w, CLIENT, far + 1000), "a spoofer's segment does not make its own RST acceptable")
  t.ok(rstInWindow(w, CLIENT, 1001))
  // The backend acknowledges 40 MB of upload: the client's RST near that is accepted, near the ISN it is not.
  w = nextSeqWord(w, BACKEND, ACK, 9001, 1001 + 40_000_000, 0)
  t.ok(rstInWindow(w, CLIENT, 1001 + 40_000_000))
  t.notOk(rstInWindow(w, CLIENT, 1001))
})

t.test("the backend's reference point follows its segments and the client's acknowledgements", async (t) => {
  let w = handshake(1000, 9000)
  t.ok(rstInWindow(w, BACKEND, 9001))
  // The backend sends 30 MB (the last segment ends at 9001 + 30,000,000).
  w = nextSeqWord(w, BACKEND, ACK, 9001 + 30_000_000 - 1400, 1001, 1400)
  t.ok(rstInWindow(w, BACKEND, 9001 + 30_000_000), 'an abort at its next sequence number')
  t.notOk(rstInWindow(w, BACKEND, 9001), 'a RST from the start of the connection')
  // The client acknowledges 20 MB: a RST that answers that segment carries its acknowledgement number.
  w = nextSeqWord(w, CLIENT, ACK, 1001, 9001 + 20_000_000, 0)
  t.ok(rstInWindow(w, BACKEND, 9001 + 20_000_000))
  // FIN and SYN count one sequence number each.
  const fin = nextSeqWord(w, BACKEND, TCP_FLAG_FIN | ACK, (1 << 17) * 5 - 1, 1001, 0)
  t.ok(rstInWindow(fin, BACKEND, (1 << 17) * 5 + SEQ_WINDOW_BYTES - 1))
  t.notOk(rstInWindow(fin, BACKEND, (1 << 17) * 5 + SEQ_WINDOW_MAX_BYTES))
})

t.test('a segment without ACK leaves the other direction as it was', async (t) => {
  const w = handshake(1000, 9000)
  const rst = nextSeqWord(w, BACKEND, TCP_FLAG_RST, 9001, 0x40000000, 0)
  t.ok(rstInWindow(rst, CLIENT, 1001), "the client's point is kept: a RST's acknowledgement field means nothing without ACK")
  const syn = nextSeqWord(w, CLIENT, SYN, 1000, 0x40000000, 0)
  t.ok(rstInWindow(syn, BACKEND, 9001))
})
