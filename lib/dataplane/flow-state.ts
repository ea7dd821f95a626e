/**
 * Flow state: how TCP flags move a flow through its states, and how long a
 * flow in each state may stay idle. The flow table stores the state; these
 * are the rules.
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
