import t from 'tap'
import { hashMod } from '../../lib/hash/hash-mod'

/** The obviously correct remainder, in integers of any size. */
function reference(hash: number, size: number): number {
  return Number(BigInt(hash >>> 0) % BigInt(size))
}

t.test('hashMod equals the unsigned remainder at the edges of both ranges', async (t) => {
  const hashes = [0, 1, -1, 0x7fffffff, -0x80000000, 0xfffffffe, 65535, 65536, 65537, -65537, 0x10000 * 65537, 0xffff0000 | 0]
  const sizes = [1, 2, 3, 65521, 65536, 65537, 131071, 1000003, 0x7fffffff, 0x80000000]
  for (const size of sizes) {
    // Next to the largest multiple of the size below 2^32, where a rounded quotient would cross an integer.
    const multiple = Math.floor(0xffffffff / size) * size
    for (const hash of [...hashes, multiple - 1, multiple, multiple + 1]) {
      t.equal(hashMod(hash, size), reference(hash, size), `hash ${hash}, size ${size}`)
    }
  }
})

t.test('hashMod equals the unsigned remainder for random hashes and table sizes', async (t) => {
  let seed = 0x2545f491
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) | 0)
  let wrong = 0
  for (let i = 0; i < 200_000; i++) {
    const hash = next()
    const size = ((next() >>> 0) % 0x7fffffff) + 1
    if (hashMod(hash, size) !== reference(hash, size) || hashMod(hash, 65537) !== (hash >>> 0) % 65537) wrong++
  }
  t.equal(wrong, 0)
})
