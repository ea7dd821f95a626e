/**
 * A per-source token bucket for the ICMP errors nvlb makes itself
 * (fragmentation-needed), so that a flood of oversized packets cannot make
 * nvlb a reflector. Typed arrays indexed by a hash of the source address; a
 * source that lands on a slot another source holds takes it over with a full
 * bucket. Allocation-free.
 */
export const ICMP_LIMIT_SLOTS_LOG2 = 12
/** Errors per second per source, and the burst allowed after a quiet spell. */
export const ICMP_ERRORS_PER_SECOND = 10
export const ICMP_ERROR_BURST = 20

export class IcmpRateLimit {
  private readonly owner = new Int32Array(1 << ICMP_LIMIT_SLOTS_LOG2)
  private readonly used = new Uint8Array(1 << ICMP_LIMIT_SLOTS_LOG2)
  private readonly tokens = new Int32Array(1 << ICMP_LIMIT_SLOTS_LOG2)
  private readonly refilled = new Int32Array(1 << ICMP_LIMIT_SLOTS_LOG2)

  /** Whether `source` may get one more error at `now` (seconds); takes a token when it may. */
  allow(source: number, now: number): boolean {
    const slot = Math.imul(source, 0x9e3779b1) >>> (32 - ICMP_LIMIT_SLOTS_LOG2)
    const tokens = this.tokens
    if (this.used[slot] === 0 || this.owner[slot] !== source) {
      this.used[slot] = 1
      this.owner[slot] = source
      tokens[slot] = ICMP_ERROR_BURST
      this.refilled[slot] = now
    } else {
      const elapsed = now - this.refilled[slot]!
      if (elapsed > 0) {
        const t = tokens[slot]! + elapsed * ICMP_ERRORS_PER_SECOND
        tokens[slot] = t < ICMP_ERROR_BURST ? t : ICMP_ERROR_BURST
        this.refilled[slot] = now
      }
    }
    if (tokens[slot]! <= 0) return false
    tokens[slot]!--
    return true
  }
}
