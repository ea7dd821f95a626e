/**
 * Fragments: which flow the first fragment of a datagram went
 * to, so that its later fragments (no ports) follow it. Direct-mapped, keyed
 * by (scope << 8 | protocol, src, dst, direction << 16 | IP id): scope is the
 * VSID toward a VIP (0 from the Internet) and the routing domain for replies.
 * An entry lives FRAGMENT_TIMEOUT seconds or until another datagram takes its slot.
 */
import { NO_ENTRY } from './flow-table'

export const FRAGMENT_SLOTS = 4096
export const FRAGMENT_TIMEOUT = 30

export class FragmentTable {
  private readonly key = new Int32Array(FRAGMENT_SLOTS * 4)
  private readonly flow = new Int32Array(FRAGMENT_SLOTS).fill(NO_ENTRY)
  private readonly time = new Uint32Array(FRAGMENT_SLOTS)

  remember(scope: number, reply: boolean, protocol: number, src: number, dst: number, id: number, flow: number, now: number): void {
    const key0 = (scope << 8) | protocol
    const key3 = ((reply ? 1 : 0) << 16) | id
    const slot = slotOf(key0, src, dst, key3)
    const k = slot * 4
    this.key[k] = key0
    this.key[k + 1] = src
    this.key[k + 2] = dst
    this.key[k + 3] = key3
    this.flow[slot] = flow
    this.time[slot] = now
  }

  /** The flow of the datagram's first fragment, or NO_ENTRY. */
  recall(scope: number, reply: boolean, protocol: number, src: number, dst: number, id: number, now: number): number {
    const key0 = (scope << 8) | protocol
    const key3 = ((reply ? 1 : 0) << 16) | id
    const slot = slotOf(key0, src, dst, key3)
    const k = slot * 4
    const key = this.key
    if (key[k] !== key0 || key[k + 1] !== src || key[k + 2] !== dst || key[k + 3] !== key3) return NO_ENTRY
    if (((now - this.time[slot]!) | 0) > FRAGMENT_TIMEOUT) return NO_ENTRY
    return this.flow[slot]!
  }
}

function slotOf(key0: number, src: number, dst: number, key3: number): number {
  return (Math.imul(key0 ^ src ^ Math.imul(dst, 31) ^ Math.imul(key3, 0x9e3779b1), 0x85ebca6b) >>> 20) & (FRAGMENT_SLOTS - 1)
}
