/**
 * A slow, obviously correct copy of lib/hash/maglev.ts, straight from the Maglev paper's
 * pseudo-code (Eisenbud et al., NSDI 2016, Pseudocode 1) plus the same weighting rule,
 * hashing with murmurhash3js-revisited directly. Tests compare the fast build against it.
 */
import { SEED_OFFSET, SEED_SKIP } from '../../lib/hash/maglev'

interface MurmurHash3Library {
  x86: { hash32(bytes: Uint8Array | number[], seed?: number): number }
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const murmurhash3 = require('murmurhash3js-revisited') as MurmurHash3Library

/** The reference MurmurHash3 x86 32. */
export function referenceHash32(bytes: Uint8Array | number[], seed = 0): number {
  return murmurhash3.x86.hash32(bytes, seed)
}

export function referenceHashString(text: string, seed = 0): number {
  return murmurhash3.x86.hash32(Buffer.from(text, 'utf8'), seed)
}

interface Candidate {
  index: number
  name: string
  weight: number
  offsetHash: number
  offset: number
  skip: number
  quota: number
  fraction: number
  next: number
  filled: number
}

export function referenceMaglev(backends: ReadonlyArray<{ name: string; weight: number }>, size: number): number[] {
  const entry: number[] = new Array<number>(size).fill(-1)

  const candidates: Candidate[] = backends
    .map((b, index) => {
      const offsetHash = referenceHashString(b.name, SEED_OFFSET)
      return {
        index,
        name: b.name,
        weight: b.weight,
        offsetHash,
        offset: offsetHash % size,
        skip: (referenceHashString(b.name, SEED_SKIP) % (size - 1)) + 1,
        quota: 0,
        fraction: 0,
        next: 0,
        filled: 0,
      }
    })
    .filter((c) => c.weight > 0)
  if (candidates.length === 0) return entry

  // Turn order: offset hash, then name, then weight.
  candidates.sort((x, y) => {
    if (x.offsetHash !== y.offsetHash) return x.offsetHash - y.offsetHash
    if (x.name !== y.name) return x.name < y.name ? -1 : 1
    if (x.weight !== y.weight) return x.weight - y.weight
    return x.index - y.index
  })

  // Quotas: largest remainder apportionment of `size` by weight.
  let total = 0
  for (const c of candidates) total += c.weight
  let assigned = 0
  for (const c of candidates) {
    const exact = size * (c.weight / total)
    c.quota = Math.floor(exact)
    c.fraction = exact - c.quota
    assigned += c.quota
  }
  const byFraction = candidates.map((c, turn) => ({ c, turn }))
  byFraction.sort((x, y) => y.c.fraction - x.c.fraction || x.turn - y.turn)
  for (let k = 0; k < size - assigned; k++) byFraction[k % byFraction.length]!.c.quota++

  const permutation = (c: Candidate, j: number): number => (c.offset + j * c.skip) % size

  let n = 0
  for (;;) {
    for (const c of candidates) {
      if (c.filled >= c.quota) continue
      let slot = permutation(c, c.next)
      while (entry[slot]! >= 0) {
        c.next++
        slot = permutation(c, c.next)
      }
      entry[slot] = c.index
      c.next++
      c.filled++
      n++
      if (n === size) return entry
    }
  }
}
