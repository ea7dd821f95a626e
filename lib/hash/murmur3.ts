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
  return mixIntoHash(h, k)
}

/** The seed-dependent half of mixBlock: folds an already scrambled block into the hash. */
function mixIntoHash(h: number, k: number): number {
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
  let ascii = true
  for (let i = 0; i < n; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false
      break
    }
  }
  if (ascii) return murmur3Ascii(text, n, seed)
  // Let Node encode the rest (lone surrogates become U+FFFD, as Buffer.from does).
  if (scratch.length < n * 3) scratch = Buffer.allocUnsafe(Math.max(n * 3, scratch.length * 2))
  const len = scratch.write(text, 0, 'utf8')
  return murmur3Bytes(scratch, 0, len, seed)
}

/**
 * murmur3String(text, seedA) and murmur3String(text, seedB) in one pass, written to out[at]
 * and out[at + 1] (the block mixing does not depend on the seed).
 */
export function murmur3StringPair(
  text: string,
  seedA: number,
  seedB: number,
  out: Float64Array | Uint32Array,
  at: number,
): void {
  const len = text.length
  for (let i = 0; i < len; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      out[at] = murmur3String(text, seedA)
      out[at + 1] = murmur3String(text, seedB)
      return
    }
  }
  let a = seedA | 0
  let b = seedB | 0
  const blocksEnd = len & ~3
  let i = 0
  for (; i < blocksEnd; i += 4) {
    let k =
      text.charCodeAt(i) | (text.charCodeAt(i + 1) << 8) | (text.charCodeAt(i + 2) << 16) | (text.charCodeAt(i + 3) << 24)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    a = mixIntoHash(a, k)
    b = mixIntoHash(b, k)
  }
  const tail = len & 3
  if (tail !== 0) {
    let k = text.charCodeAt(i)
    if (tail > 1) k |= text.charCodeAt(i + 1) << 8
    if (tail > 2) k |= text.charCodeAt(i + 2) << 16
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    a ^= k
    b ^= k
  }
  out[at] = finalize(a, len)
  out[at + 1] = finalize(b, len)
}

/** murmur3Bytes of an ASCII string's characters, read in place. */
function murmur3Ascii(text: string, len: number, seed: number): number {
  let h = seed | 0
  const blocksEnd = len & ~3
  let i = 0
  for (; i < blocksEnd; i += 4) {
    h = mixBlock(
      h,
      text.charCodeAt(i) | (text.charCodeAt(i + 1) << 8) | (text.charCodeAt(i + 2) << 16) | (text.charCodeAt(i + 3) << 24),
    )
  }
  const tail = len & 3
  if (tail !== 0) {
    let k = text.charCodeAt(i)
    if (tail > 1) k |= text.charCodeAt(i + 1) << 8
    if (tail > 2) k |= text.charCodeAt(i + 2) << 16
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, C2)
  }
  return finalize(h, len)
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
