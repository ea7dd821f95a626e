/**
 * MurmurHash3, x86 32-bit flavour, returning unsigned 32-bit numbers.
 * Every function returns exactly what `murmurhash3js-revisited`'s `x86.hash32(bytes, seed)`
 * returns for the same bytes and seed (property-tested). Seeds are taken modulo 2^32.
 *
 * The word variants are for the packet path: they hash 32-bit words as their
 * little-endian byte encoding without building the bytes, and allocate nothing.
 */

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

/** Mixes one 4-byte block (as a little-endian 32-bit word) into the running hash. */
function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, C2)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** Final avalanche; returns the unsigned result. */
function finalize(h: number, length: number): number {
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Hash of buf[off, off + len). Allocation-free. */
export function murmur3Bytes(buf: Uint8Array, off: number, len: number, seed = 0): number {
  let h = seed | 0
  const blocksEnd = off + (len & ~3)
  let i = off
  for (; i < blocksEnd; i += 4) {
    h = mixBlock(h, buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))
  }
  const tail = len & 3
  if (tail !== 0) {
    let k = buf[i]!
    if (tail > 1) k |= buf[i + 1]! << 8
    if (tail > 2) k |= buf[i + 2]! << 16
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, C2)
  }
  return finalize(h, len)
}

let scratch: Buffer = Buffer.allocUnsafe(256)

/** Hash of the UTF-8 bytes of `text` (control side: may grow a module-level scratch buffer). */
export function murmur3String(text: string, seed = 0): number {
  const n = text.length
  if (scratch.length < n * 3) scratch = Buffer.allocUnsafe(Math.max(n * 3, scratch.length * 2))
  let len = 0
  for (; len < n; len++) {
    const c = text.charCodeAt(len)
    if (c > 0x7f) break
    scratch[len] = c
  }
  // Anything beyond ASCII: let Node encode it (lone surrogates become U+FFFD, as Buffer.from does).
  if (len < n) len = scratch.write(text, 0, 'utf8')
  return murmur3Bytes(scratch, 0, len, seed)
}

/** Hash of the 8-byte little-endian encoding of two 32-bit words. */
export function murmur3Words2(a: number, b: number, seed: number): number {
  let h = mixBlock(seed | 0, a)
  h = mixBlock(h, b)
  return finalize(h, 8)
}

/** Hash of the 12-byte little-endian encoding of three 32-bit words. */
export function murmur3Words3(a: number, b: number, c: number, seed: number): number {
  let h = mixBlock(seed | 0, a)
  h = mixBlock(h, b)
  h = mixBlock(h, c)
  return finalize(h, 12)
}

/** Hash of the 16-byte little-endian encoding of four 32-bit words. */
export function murmur3Words4(a: number, b: number, c: number, d: number, seed: number): number {
  let h = mixBlock(seed | 0, a)
  h = mixBlock(h, b)
  h = mixBlock(h, c)
  h = mixBlock(h, d)
  return finalize(h, 16)
}
