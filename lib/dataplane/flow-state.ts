/**
 * Flow state: how TCP flags move a flow through its states, how long a flow
 * in each state may stay idle, and which RSTs may reset it. The flow table
 * stores the state and the sequence word; these are the rules.
 */
import { TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_RST, TCP_FLAG_SYN } from '../packet/tcp'
import { FLOW_CLOSING, FLOW_DATAGRAM, FLOW_ESTABLISHED, FLOW_NEW, FLOW_RESET } from './flow-table'

/** Idle timeouts (seconds) for TCP states without a rule-given one. */
export const TCP_SYN_TIMEOUT = 30
export const TCP_CLOSING_TIMEOUT = 30
export const TCP_RESET_TIMEOUT = 10

/** The state after a TCP segment with these flags (either direction). */
export function nextTcpState(state: number, flags: number): number {
  if ((flags & TCP_FLAG_RST) !== 0) return FLOW_RESET
  if ((flags & TCP_FLAG_FIN) !== 0) return state === FLOW_RESET ? FLOW_RESET : FLOW_CLOSING
  if (state === FLOW_NEW && (flags & (TCP_FLAG_ACK | TCP_FLAG_SYN)) === TCP_FLAG_ACK) return FLOW_ESTABLISHED
  return state
}

/** Seconds a flow in `state` may be idle; `ruleTimeout` < 0 when its rule is gone. */
export function idleTimeout(state: number, ruleTimeout: number): number {
  if (state === FLOW_ESTABLISHED || state === FLOW_DATAGRAM) return ruleTimeout < 0 ? TCP_SYN_TIMEOUT : ruleTimeout
  if (state === FLOW_NEW) return TCP_SYN_TIMEOUT
  if (state === FLOW_CLOSING) return TCP_CLOSING_TIMEOUT
  return TCP_RESET_TIMEOUT
}

// ---------------------------------------------------------------- RST window (RFC 5961 §3 at a middlebox)
//
// A RST resets a flow only when its sequence number lies near where the
// connection is: RFC 5961 accepts a RST within the receiver's window of its
// next expected sequence number. nvlb is not an endpoint: it sees neither the
// window scale (flows created mid-stream) nor every byte, so it keeps, per
// direction, one reference point in that direction's sequence space and
// accepts a RST within ±SEQ_WINDOW_BYTES of it (a bounded, generous window;
// receive windows of common stacks are a few MiB).
//
// The reference points live in one 32-bit word of the flow record (the
// "sequence word"): the client's sequence space in the high half, the
// backend's in the low half. A half is a known bit and the top 15 bits of a
// sequence number (128 KiB blocks). Nothing is known at insertion (word 0):
// a RST for a direction not known yet is accepted, so flows created
// mid-stream, or whose backend never answered, can always be closed.
//
// Who may move a reference point. The client's sequence space is checked for
// RSTs from the client side, which is the spoofable one (any Internet source
// address): its reference is the backend's acknowledgement number (the
// backend's RCV.NXT, which RFC 5961 checks against), taken from the backend's
// segments only (they passed the provider-address trust check), and set from
// the client's own first segment until then. The backend's sequence space is
// checked for RSTs from the backend (already authenticated by its host's PA):
// its reference is the end of the backend's last segment or the client's last
// acknowledgement, whichever passed last. So a blind attacker cannot move the
// point its RSTs are judged against, and a legitimate RST outside the window
// (more data in flight than the window) is followed within a round trip by
// one that is inside it: the peer's next segment makes the reset side answer
// with a RST whose sequence number is that segment's acknowledgement number,
// which is the reference point.

/** Sequence numbers are kept in blocks of 2^17 bytes (15 bits of the 32). */
const SEQ_BLOCK_SHIFT = 17
/** Blocks either side of the reference point a RST may be. */
const SEQ_WINDOW_BLOCKS = 8
/** A RST within this distance (bytes) of the reference point is always accepted: 1 MiB. */
export const SEQ_WINDOW_BYTES = SEQ_WINDOW_BLOCKS << SEQ_BLOCK_SHIFT
/** Beyond this distance it is always dropped (in between it depends on where both fall in their blocks): 1.125 MiB. */
export const SEQ_WINDOW_MAX_BYTES = (SEQ_WINDOW_BLOCKS + 1) << SEQ_BLOCK_SHIFT
/** The sequence word of a flow nothing is known of. */
export const SEQ_UNKNOWN = 0

const HALF_KNOWN = 0x8000
const CLIENT_KNOWN = HALF_KNOWN << 16

/** A known half for sequence number `seq`. */
function half(seq: number): number {
  return (seq >>> SEQ_BLOCK_SHIFT) | HALF_KNOWN
}

/** `seq` within the window of a half (or the half not known). */
function nearHalf(h: number, seq: number): boolean {
  if ((h & HALF_KNOWN) === 0) return true
  // Block distance modulo 2^15, sign-extended (the known bit falls off the left).
  const d = (((seq >>> SEQ_BLOCK_SHIFT) - h) << (32 - 15)) >> (32 - 15)
  return d >= -SEQ_WINDOW_BLOCKS && d <= SEQ_WINDOW_BLOCKS
}

/** May a RST with sequence number `seq`, from the backend or from the client, reset a flow with this sequence word? */
export function rstInWindow(word: number, fromBackend: boolean, seq: number): boolean {
  return nearHalf(fromBackend ? word & 0xffff : word >>> 16, seq)
}

/**
 * The sequence word after a segment (flags, sequence and acknowledgement
 * numbers, payload bytes) from the backend or from the client passed.
 */
export function nextSeqWord(word: number, fromBackend: boolean, flags: number, seq: number, ack: number, payload: number): number {
  const hasAck = (flags & TCP_FLAG_ACK) !== 0
  if (fromBackend) {
    const end = (seq + payload + (flags & TCP_FLAG_SYN ? 1 : 0) + (flags & TCP_FLAG_FIN ? 1 : 0)) | 0
    return hasAck ? (half(ack) << 16) | half(end) : (word & 0xffff0000) | half(end)
  }
  let w = word
  if ((w & CLIENT_KNOWN) === 0) {
    const end = (seq + payload + (flags & TCP_FLAG_SYN ? 1 : 0) + (flags & TCP_FLAG_FIN ? 1 : 0)) | 0
    w = (half(end) << 16) | (w & 0xffff)
  }
  return hasAck ? (w & 0xffff0000) | half(ack) : w
}
