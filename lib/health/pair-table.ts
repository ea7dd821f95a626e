/**
 * A map from a key of two 32-bit words to a small non-negative integer (an index into the
 * caller's arrays), open addressing in typed arrays: get, set and delete allocate nothing and
 * hash no heap number. The probe tunnel's per-packet and per-probe lookups use it (targets by
 * address, backends by VSID and CA, next hops, kept connections by address and port) where a
 * Map keyed by a number above 2^30 hashed a boxed double each time (bench health: a twentieth of
 * the tunnel thread's CPU).
 */
const EMPTY = -1
const DELETED = -2
const MIN_CAPACITY = 16

export class PairTable {
  private his = new Int32Array(MIN_CAPACITY)
  private los = new Int32Array(MIN_CAPACITY)
  private values = new Int32Array(MIN_CAPACITY).fill(EMPTY)
  private mask = MIN_CAPACITY - 1
  /** Live entries. */
  size = 0
  /** Live and deleted slots (a deleted slot keeps probe chains intact until the next rehash). */
  private used = 0

  /** The value of (hi, lo), or −1. */
  get(hi: number, lo: number): number {
    const i = this.slotOf(hi | 0, lo | 0)
    return i < 0 ? -1 : this.values[i]!
  }

  has(hi: number, lo: number): boolean {
    return this.get(hi, lo) >= 0
  }

  /** Sets (hi, lo) to `value` (≥ 0). */
  set(hi: number, lo: number, value: number): void {
    hi |= 0
    lo |= 0
    const mask = this.mask
    let free = -1
    let i = hash(hi, lo) & mask
    for (; ; i = (i + 1) & mask) {
      const v = this.values[i]!
      if (v === EMPTY) break
      if (v === DELETED) {
        if (free < 0) free = i
      } else if (this.his[i] === hi && this.los[i] === lo) {
        this.values[i] = value
        return
      }
    }
    if (free >= 0) i = free
    else this.used++
    this.his[i] = hi
    this.los[i] = lo
    this.values[i] = value
    this.size++
    if (this.used * 2 > this.values.length) this.rehash(this.size * 4 > this.values.length ? this.values.length * 2 : this.values.length)
  }

  /** Removes (hi, lo); returns its value, or −1 when it was not there. */
  delete(hi: number, lo: number): number {
    const i = this.slotOf(hi | 0, lo | 0)
    if (i < 0) return -1
    const v = this.values[i]!
    this.values[i] = DELETED
    this.size--
    return v
  }

  /** The slot holding the live entry (hi, lo), or −1. */
  private slotOf(hi: number, lo: number): number {
    const mask = this.mask
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const v = this.values[i]!
      if (v === EMPTY) return -1
      if (v !== DELETED && this.his[i] === hi && this.los[i] === lo) return i
    }
  }

  clear(): void {
    this.values.fill(EMPTY)
    this.size = 0
    this.used = 0
  }

  /** Calls `fn` with every live value (no change to the table meanwhile). */
  forEachValue(fn: (value: number) => void): void {
    const values = this.values
    for (let i = 0; i < values.length; i++) if (values[i]! >= 0) fn(values[i]!)
  }

  private rehash(capacity: number): void {
    const his = this.his
    const los = this.los
    const values = this.values
    this.his = new Int32Array(capacity)
    this.los = new Int32Array(capacity)
    this.values = new Int32Array(capacity).fill(EMPTY)
    this.mask = capacity - 1
    this.size = 0
    this.used = 0
    for (let i = 0; i < values.length; i++) if (values[i]! >= 0) this.set(his[i]!, los[i]!, values[i]!)
  }
}

function hash(hi: number, lo: number): number {
  let h = Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b) ^ lo
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35)
  return h ^ (h >>> 13)
}
