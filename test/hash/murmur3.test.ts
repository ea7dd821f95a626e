/**
 * lib/hash/murmur3.ts must return exactly what murmurhash3js-revisited's x86.hash32 returns
 *, for bytes at any offset, UTF-8 strings, and 32-bit words.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  murmur3Bytes,
  murmur3String,
  murmur3StringPair,
  murmur3Words2,
  murmur3Words3,
  murmur3Words4,
} from '../../lib/hash/murmur3'
import { referenceHash32 } from '../helpers/maglev-reference'

const seed = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff))
const word = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x80000000, 0xffffffff))

function littleEndian(...words: number[]): Uint8Array {
  const bytes = Buffer.alloc(words.length * 4)
  words.forEach((w, i) => bytes.writeUInt32LE(w >>> 0, i * 4))
  return bytes
}

t.test('known vectors', async (t) => {
  const ascii = (s: string) => Buffer.from(s, 'latin1')
  // [bytes, seed, expected]: the library README and the SMHasher x86_32 verification strings.
  const vectors: Array<[Uint8Array, number, number]> = [
    [ascii('I will not buy this record, it is scratched.'), 0, 2832214938],
    [ascii('My hovercraft is full of eels.'), 25, 2520298415],
    [ascii(''), 0, 0],
    [ascii(''), 1, 0x514e28b7],
    [ascii(''), 0xffffffff, 0x81f16f39],
    [Uint8Array.of(0, 0, 0, 0), 0, 0x2362f9de],
    [ascii('aaaa'), 0x9747b28c, 0x5a97808a],
    [ascii('aaa'), 0x9747b28c, 0x283e0130],
    [ascii('aa'), 0x9747b28c, 0x5d211726],
    [ascii('a'), 0x9747b28c, 0x7fa09ea6],
    [ascii('Hello, world!'), 0x9747b28c, 0x24884cba],
    [ascii('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
  ]
  for (const [bytes, s, expected] of vectors) {
    const label = `${JSON.stringify(Buffer.from(bytes).toString('latin1'))} seed ${s}`
    t.equal(referenceHash32(bytes, s), expected, `reference: ${label}`)
    t.equal(murmur3Bytes(bytes, 0, bytes.length, s), expected, `murmur3Bytes: ${label}`)
    t.equal(murmur3String(Buffer.from(bytes).toString('latin1'), s), expected, `murmur3String: ${label}`)
  }
  t.equal(murmur3String('utf-8 supported 🌈'), referenceHash32(Buffer.from('utf-8 supported 🌈')))
  t.equal(murmur3Words4(0, 0, 0, 0, 0), referenceHash32(new Uint8Array(16)))
})

t.test('the seed defaults to 0 and is taken modulo 2^32', async (t) => {
  const bytes = Buffer.from('5001/10.1.6.21:80')
  t.equal(murmur3Bytes(bytes, 0, bytes.length), murmur3Bytes(bytes, 0, bytes.length, 0))
  t.equal(murmur3String('x'), murmur3String('x', 0))
  t.equal(murmur3String('x', -1), murmur3String('x', 0xffffffff))
  t.equal(murmur3Words2(1, 2, -1), murmur3Words2(1, 2, 0xffffffff))
})

t.test('murmur3Bytes equals the reference for every length 0..64 at any offset', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 64 }),
      fc.uint8Array({ maxLength: 7 }),
      fc.uint8Array({ maxLength: 7 }),
      seed,
      (data, before, after, s) => {
        const buf = new Uint8Array(before.length + data.length + after.length)
        buf.set(before, 0)
        buf.set(data, before.length)
        buf.set(after, before.length + data.length)
        return murmur3Bytes(buf, before.length, data.length, s) === referenceHash32(data, s)
      },
    ),
    { numRuns: 2000 },
  )
  // Every length, so each tail (0-3 bytes) is hit with every block count.
  const rng = fc.sample(fc.uint8Array({ minLength: 64, maxLength: 64 }), { numRuns: 1, seed: 42 })[0]!
  for (let len = 0; len <= 64; len++) {
    const data = rng.subarray(0, len)
    for (const s of [0, 1, 0x9747b28c, 0xffffffff]) {
      if (murmur3Bytes(rng, 0, len, s) !== referenceHash32(data, s)) t.fail(`length ${len} seed ${s}`)
    }
  }
  t.pass('lengths 0..64 checked')
})

t.test('murmur3String hashes the UTF-8 bytes, including lone surrogates', async (t) => {
  const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))
  const text = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.string({ unit: codeUnit, maxLength: 30 }),
  )
  fc.assert(
    fc.property(text, seed, (s, sd) => murmur3String(s, sd) === referenceHash32(Buffer.from(s, 'utf8'), sd)),
    { numRuns: 2000 },
  )
  const pair = new Float64Array(4)
  fc.assert(
    fc.property(text, seed, seed, (s, a, b) => {
      murmur3StringPair(s, a, b, pair, 1)
      const bytes = Buffer.from(s, 'utf8')
      return pair[1] === referenceHash32(bytes, a) && pair[2] === referenceHash32(bytes, b)
    }),
    { numRuns: 1000 },
  )
  const long = 'é'.repeat(500) + 'x'.repeat(1000)
  t.equal(murmur3String(long, 7), referenceHash32(Buffer.from(long), 7), 'long strings grow the scratch buffer')
  t.equal(murmur3String('10.1.6.21', 7), referenceHash32(Buffer.from('10.1.6.21'), 7), 'and short ones still hash right after')
})

t.test('word variants equal the hash of the little-endian encoding', async (t) => {
  fc.assert(
    fc.property(word, word, word, word, seed, (a, b, c, d, s) => {
      return (
        murmur3Words2(a, b, s) === referenceHash32(littleEndian(a, b), s) &&
        murmur3Words3(a, b, c, s) === referenceHash32(littleEndian(a, b, c), s) &&
        murmur3Words4(a, b, c, d, s) === referenceHash32(littleEndian(a, b, c, d), s)
      )
    }),
    { numRuns: 3000 },
  )
  // Signed spellings of the same 32 bits (what `x | 0` produces) hash the same.
  t.equal(murmur3Words4(-1, -2, 0x80000000 | 0, 5, 9), murmur3Words4(0xffffffff, 0xfffffffe, 0x80000000, 5, 9))
})

t.test('results are unsigned 32-bit integers', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20 }), seed, (data, s) => {
      const values = [murmur3Bytes(data, 0, data.length, s), murmur3Words2(data.length, s, s)]
      return values.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)
    }),
  )
  t.pass()
})
