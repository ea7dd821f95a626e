/**
 * Which worker owns the fragments of a datagram: the fanout program steers
 * every fragment of one datagram to one worker (by src ^ dst); that worker
 * sees the first fragment's ports, decides the owner (steering-key.ts) and
 * remembers it here, so the later fragments (no ports) follow.
 *
 * Direct-mapped on (scope, src, dst, protocol | id << 8); an entry older than
 * FRAGMENT_OWNER_TIMEOUT seconds (the reassembly time of RFC 791's
 * suggestion) or overwritten by another datagram reads as unknown. Typed
 * arrays only; no allocation after construction.
 */
export const FRAGMENT_OWNER_TIMEOUT = 30
const SLOTS = 4096

export class FragmentOwners {
  private readonly keys = new Int32Array(SLOTS * 4)
  private readonly owners = new Int16Array(SLOTS).fill(-1)
  private readonly times = new Float64Array(SLOTS)

  remember(scope: number, src: number, dst: number, id: number, owner: number, nowSeconds: number): void {
    const slot = slotOf(scope, src, dst, id)
    const k = slot * 4
    this.keys[k] = scope
    this.keys[k + 1] = src
    this.keys[k + 2] = dst
    this.keys[k + 3] = id
    this.owners[slot] = owner
    this.times[slot] = nowSeconds
  }

  /** The owner remembered for this datagram, or −1. */
  ownerOf(scope: number, src: number, dst: number, id: number, nowSeconds: number): number {
    const slot = slotOf(scope, src, dst, id)
    const k = slot * 4
    if (this.keys[k] !== scope || this.keys[k + 1] !== src || this.keys[k + 2] !== dst || this.keys[k + 3] !== id) return -1
    if (nowSeconds - this.times[slot]! > FRAGMENT_OWNER_TIMEOUT) return -1
    return this.owners[slot]!
  }
}

function slotOf(scope: number, src: number, dst: number, id: number): number {
  let h = Math.imul(src ^ 0x27d4eb2f, 0x85ebca6b)
  h = Math.imul(h ^ dst ^ (h >>> 15), 0xc2b2ae35)
  h = Math.imul(h ^ id ^ (h >>> 13), 0x9e3779b1)
  h ^= scope
  return (h ^ (h >>> 16)) & (SLOTS - 1)
}
