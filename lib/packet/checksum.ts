/**
 * Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn. 3).
 * All functions are allocation-free and safe on the packet path.
 */

/** One's-complement sum of buf[off, off+len) added to `initial`, folded to 16 bits (not inverted). */
export function onesSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial
  const end = off + len
  let i = off
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!
  if (i < end) sum += buf[i]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

/** The checksum field value for buf[off, off+len) plus an optional pseudo-header sum. */
export function checksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesSum(buf, off, len, initial) & 0xffff
}

/** Sum of the IPv4 pseudo-header for TCP/UDP: src, dst, protocol, L4 length. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, l4Length: number): number {
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + l4Length
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

/** RFC 1624: new checksum after one 16-bit word of the covered data changed from `oldWord` to `newWord`. */
export function checksumAdjust16(check: number, oldWord: number, newWord: number): number {
  let sum = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)
  sum = (sum & 0xffff) + (sum >>> 16)
  sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** RFC 1624 for a 32-bit value (an IPv4 address) that changed from `oldValue` to `newValue`. */
export function checksumAdjust32(check: number, oldValue: number, newValue: number): number {
  let sum =
    (~check & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff)
  sum = (sum & 0xffff) + (sum >>> 16)
  sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}
