/**
 * libFuzzer's byte mutators (EraseBytes, InsertByte, InsertRepeatedBytes, ChangeByte,
 * ChangeBit, ShuffleBytes, ChangeBinaryInteger, CopyPart, CrossOver, dictionary words),
 * over a seeded PRNG so that a run is reproducible from its seed.
 */

/** xorshift128+ in 32-bit halves; deterministic for a given seed. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    this.a = seed | 0 || 1
    this.b = 0x9e3779b9
    this.c = 0x243f6a88
    this.d = 0xb7e15162
    for (let i = 0; i < 16; i++) this.next()
  }

  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** 0 ≤ n < bound. */
  below(bound: number): number {
    return bound <= 1 ? 0 : this.next() % bound
  }

  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x20, 0x10, 0x08, 0x45, 0x46, 0x4f]
const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 20, 28, 40, 42, 60, 576, 1458, 1460, 1480, 1500, 1501, 1514, 65535 - 20]

export const MAX_FRAME = 1600

/** One random byte-level mutation of `data` (a new array; `data` is not changed). */
export function mutateBytes(rng: Rng, data: Uint8Array, dictionary: readonly Uint8Array[], other: Uint8Array | null, maxLength = MAX_FRAME): Uint8Array {
  const len = data.length
  switch (rng.below(12)) {
    case 0: {
      // EraseBytes
      if (len <= 1) return data.slice()
      const n = 1 + rng.below(Math.min(len - 1, rng.chance(4) ? 64 : 8))
      const at = rng.below(len - n + 1)
      const out = new Uint8Array(len - n)
      out.set(data.subarray(0, at))
      out.set(data.subarray(at + n), at)
      return out
    }
    case 1:
    case 2: {
      // InsertByte / InsertRepeatedBytes
      if (len >= maxLength) return data.slice()
      const n = Math.min(maxLength - len, rng.chance(2) ? 1 : 1 + rng.below(rng.chance(8) ? 1400 : 32))
      const at = rng.below(len + 1)
      const out = new Uint8Array(len + n)
      out.set(data.subarray(0, at))
      out.fill(rng.chance(2) ? rng.pick(INTERESTING_8) : rng.below(256), at, at + n)
      out.set(data.subarray(at), at + n)
      return out
    }
    case 3: {
      // ChangeByte
      const out = data.slice()
      if (len > 0) out[rng.below(len)] = rng.chance(2) ? rng.below(256) : rng.pick(INTERESTING_8)
      return out
    }
    case 4: {
      // ChangeBit
      const out = data.slice()
      if (len > 0) out[rng.below(len)]! ^= 1 << rng.below(8)
      return out
    }
    case 5: {
      // ShuffleBytes
      const out = data.slice()
      if (len < 2) return out
      const n = 2 + rng.below(Math.min(8, len - 1))
      const at = rng.below(len - n + 1)
      for (let i = n - 1; i > 0; i--) {
        const j = rng.below(i + 1)
        const tmp = out[at + i]!
        out[at + i] = out[at + j]!
        out[at + j] = tmp
      }
      return out
    }
    case 6:
    case 7: {
      // ChangeBinaryInteger: a 16- or 32-bit big-endian word plus or minus a little, or an interesting value
      const out = data.slice()
      const width = rng.chance(2) ? 2 : 4
      if (len < width) return out
      const at = rng.below(len - width + 1)
      let v = width === 2 ? (out[at]! << 8) | out[at + 1]! : ((out[at]! << 24) | (out[at + 1]! << 16) | (out[at + 2]! << 8) | out[at + 3]!) >>> 0
      const how = rng.below(3)
      if (how === 0) v += rng.below(35) - 17
      else if (how === 1) v = width === 2 ? rng.pick(INTERESTING_16) : rng.next()
      else v = width === 2 ? ((v & 0xff) << 8) | (v >>> 8) : rng.next()
      if (width === 2) {
        out[at] = (v >>> 8) & 0xff
        out[at + 1] = v & 0xff
      } else {
        out[at] = (v >>> 24) & 0xff
        out[at + 1] = (v >>> 16) & 0xff
        out[at + 2] = (v >>> 8) & 0xff
        out[at + 3] = v & 0xff
      }
      return out
    }
    case 8: {
      // CopyPart: within the input, or from another corpus input (CrossOver)
      const from = other !== null && rng.chance(2) ? other : data
      if (from.length === 0 || len === 0) return data.slice()
      const n = 1 + rng.below(Math.min(from.length, 64))
      const src = rng.below(from.length - n + 1)
      const out = data.slice()
      const dst = rng.below(len)
      for (let i = 0; i < n && dst + i < len; i++) out[dst + i] = from[src + i]!
      return out
    }
    case 9: {
      // CrossOver: a head of one, the tail of the other
      if (other === null || other.length === 0) return data.slice()
      const cut = rng.below(len + 1)
      const cut2 = rng.below(other.length + 1)
      const out = new Uint8Array(Math.min(maxLength, cut + other.length - cut2))
      out.set(data.subarray(0, Math.min(cut, out.length)))
      out.set(other.subarray(cut2, cut2 + out.length - Math.min(cut, out.length)), Math.min(cut, out.length))
      return out
    }
    default: {
      // A dictionary word, overwritten (or inserted) at a random place
      if (dictionary.length === 0 || len === 0) return data.slice()
      const word = rng.pick(dictionary)
      if (rng.chance(4) && len + word.length <= maxLength) {
        const at = rng.below(len + 1)
        const out = new Uint8Array(len + word.length)
        out.set(data.subarray(0, at))
        out.set(word, at)
        out.set(data.subarray(at), at + word.length)
        return out
      }
      const out = data.slice()
      const at = rng.below(Math.max(1, len - word.length + 1))
      for (let i = 0; i < word.length && at + i < len; i++) out[at + i] = word[i]!
      return out
    }
  }
}
