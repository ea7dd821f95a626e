/**
 * lib/hash/maglev.ts against DESIGN §5: equal to the slow reference copy, independent of
 * input order, deterministic, weights honoured, balance and disruption as measured properties.
 */
import t from 'tap'
import fc from 'fast-check'
import { buildMaglev, DEFAULT_MAGLEV_SIZE, isPrime, SEED_OFFSET, type MaglevBackend } from '../../lib/hash/maglev'
import { murmur3String } from '../../lib/hash/murmur3'
import { referenceMaglev } from '../helpers/maglev-reference'

/** A backend name as the engine builds it: "<vsid>/<address>:<port>". */
function backendName(i: number): string {
  return `${4096 + (i % 3)}/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${8000 + (i % 5)}`
}

function pool(n: number, weight: (i: number) => number = () => 1): MaglevBackend[] {
  return Array.from({ length: n }, (_, i) => ({ name: backendName(i), weight: weight(i) }))
}

/** The table as backend names (null for -1), comparable across differently ordered inputs. */
function names(table: Int32Array | number[], backends: ReadonlyArray<MaglevBackend>): Array<string | null> {
  return Array.from(table, (i) => (i < 0 ? null : backends[i]!.name))
}

function counts(table: Int32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0)
  for (const i of table) c[i]!++
  return c
}

/** Entries whose backend differs between two tables (compared by name). */
function moved(a: Int32Array, aBackends: MaglevBackend[], b: Int32Array, bBackends: MaglevBackend[]): number {
  let m = 0
  for (let s = 0; s < a.length; s++) if (aBackends[a[s]!]!.name !== bBackends[b[s]!]!.name) m++
  return m
}

const arbBackends = (maxLength: number) =>
  fc
    .uniqueArray(
      fc.record({
        vsid: fc.integer({ min: 4096, max: 16777214 }),
        address: fc.integer({ min: 0, max: 0xffffffff }),
        port: fc.integer({ min: 1, max: 65535 }),
      }),
      { minLength: 0, maxLength, selector: (b) => `${b.vsid}/${b.address}:${b.port}` },
    )
    .map((list) =>
      list.map((b) => `${b.vsid}/${b.address >>> 24}.${(b.address >>> 16) & 255}.${(b.address >>> 8) & 255}.${b.address & 255}:${b.port}`),
    )

const arbWeighted = (maxLength: number) =>
  fc
    .tuple(
      arbBackends(maxLength),
      fc.oneof(
        fc.constant('equal'),
        fc.constant('small-integers'),
        fc.constant('fractions'),
        fc.constant('skewed'),
      ),
      fc.infiniteStream(fc.integer({ min: 0, max: 1000 })),
    )
    .map(([list, kind, stream]) => {
      const it = stream[Symbol.iterator]()
      const next = () => it.next().value as number
      return list.map((name) => {
        const r = next()
        const weight =
          kind === 'equal' ? 3 : kind === 'small-integers' ? r % 6 : kind === 'fractions' ? (r % 10) / 4 : r % 7 === 0 ? 1000 : 1
        return { name, weight }
      })
    })

t.test('isPrime and the size check', async (t) => {
  const primes = [2, 3, 5, 7, 251, 1021, 4099, 65537, 655373]
  const composites = [0, 1, 4, 9, 25, 49, 65536, 65535, 1024, 4097, 655371]
  for (const p of primes) t.ok(isPrime(p), `${p} is prime`)
  for (const c of composites) t.notOk(isPrime(c), `${c} is not prime`)
  for (const bad of [-7, 2.5, Number.NaN, Infinity]) t.notOk(isPrime(bad), `${bad} is not prime`)
  t.equal(DEFAULT_MAGLEV_SIZE, 65537)
  for (const size of [65536, 1, 0, -7, 2.5, Number.NaN, 1021 * 1031]) {
    t.throws(() => buildMaglev(pool(3), size), RangeError, `size ${size} is refused`)
  }
  t.throws(() => buildMaglev(pool(3), 251, new Int32Array(250)), RangeError, 'out of the wrong length is refused')
  let tooLarge = 2 ** 24 + 1
  while (!isPrime(tooLarge)) tooLarge++
  t.throws(() => buildMaglev(pool(3), tooLarge), RangeError, `a prime size above 2^24 (${tooLarge}) is refused`)
  t.throws(() => buildMaglev(pool(65537, () => 0), 251), RangeError, 'more than 65536 backends are refused')
  t.ok(buildMaglev(pool(65536, (i) => (i < 10 ? 1 : 0)), 251).every((e) => e >= 0 && e < 10), '65536 backends are fine')
  for (const weight of [-1, Number.NaN, Infinity]) {
    t.throws(() => buildMaglev([{ name: 'a', weight }], 251), RangeError, `weight ${weight} is refused`)
  }
  t.throws(() => buildMaglev([{ name: 'a', weight: 1e308 }, { name: 'b', weight: 1e308 }], 251), RangeError, 'an infinite weight sum is refused')
})

t.test('no backend with a weight above 0: every entry is -1', async (t) => {
  for (const size of [251, DEFAULT_MAGLEV_SIZE]) {
    t.ok(buildMaglev([], size).every((e) => e === -1), `empty, size ${size}`)
    t.ok(buildMaglev(pool(5, () => 0), size).every((e) => e === -1), `all weight 0, size ${size}`)
    const out = new Int32Array(size).fill(7)
    t.equal(buildMaglev([], size, out), out, 'the given output array is returned')
    t.ok(out.every((e) => e === -1), 'and overwritten')
  }
  t.equal(buildMaglev([]).length, DEFAULT_MAGLEV_SIZE, 'the default size is 65537')
})

t.test('one backend takes the whole table; weight 0 takes nothing', async (t) => {
  t.ok(buildMaglev(pool(1), 251).every((e) => e === 0))
  const table = buildMaglev(pool(6, (i) => (i % 2 === 0 ? 0 : 2)), 1021)
  const c = counts(table, 6)
  t.same([c[0], c[2], c[4]], [0, 0, 0], 'weight-0 backends have no entries')
  t.equal(c[1]! + c[3]! + c[5]!, 1021, 'the others have all of them')
})

t.test('equals the slow reference copy (small primes)', async (t) => {
  fc.assert(
    fc.property(arbWeighted(60), fc.constantFrom(2, 3, 251, 1021, 4099), (backends, size) => {
      const fast = Array.from(buildMaglev(backends, size))
      const slow = referenceMaglev(backends, size)
      return fast.length === slow.length && fast.every((e, i) => e === slow[i])
    }),
    { numRuns: 250 },
  )
  t.pass('250 random backend sets')
})

t.test('equals the slow reference copy (default size)', async (t) => {
  fc.assert(
    fc.property(arbWeighted(300), (backends) => {
      const fast = buildMaglev(backends)
      const slow = referenceMaglev(backends, DEFAULT_MAGLEV_SIZE)
      return fast.every((e, i) => e === slow[i])
    }),
    { numRuns: 8 },
  )
  for (const [n, weight] of [
    [1000, () => 1],
    [1000, (i: number) => 1 + (i % 4)],
    [300, (i: number) => (i === 7 ? 5000 : 1)],
  ] as Array<[number, (i: number) => number]>) {
    const backends = pool(n, weight)
    t.same(Array.from(buildMaglev(backends)), referenceMaglev(backends, DEFAULT_MAGLEV_SIZE), `${n} backends`)
  }
  const many = pool(300)
  t.same(Array.from(buildMaglev(many, 251)), referenceMaglev(many, 251), 'more backends than entries')
})

t.test('the table does not depend on the order of the backends', async (t) => {
  fc.assert(
    fc.property(
      arbWeighted(80).chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length }))),
      fc.constantFrom(251, 4099, DEFAULT_MAGLEV_SIZE),
      ([list, shuffled], size) => {
        const a = names(buildMaglev(list, size), list)
        const b = names(buildMaglev(shuffled, size), shuffled)
        return a.every((name, i) => name === b[i])
      },
    ),
    { numRuns: 60 },
  )
  t.pass()
})

t.test('names whose offset hashes collide are still ordered by name', async (t) => {
  // Birthday search for two names with the same 32-bit offset hash (the rare tie-break path).
  const seen = new Map<number, string>()
  let pair: [string, string] | undefined
  for (let i = 0; pair === undefined && i < 2_000_000; i++) {
    const name = backendName(i)
    const h = murmur3String(name, SEED_OFFSET)
    const other = seen.get(h)
    if (other !== undefined) pair = [other, name]
    else seen.set(h, name)
  }
  if (pair === undefined) return t.fail('no collision found')
  const backends = [...pool(20), { name: pair[0], weight: 1 }, { name: pair[1], weight: 1 }]
  const reversed = [...backends].reverse()
  for (const size of [251, 4099]) {
    t.same(names(buildMaglev(backends, size), backends), names(buildMaglev(reversed, size), reversed), `order-free, size ${size}`)
    t.same(Array.from(buildMaglev(backends, size)), referenceMaglev(backends, size), `matches the reference, size ${size}`)
  }
})

t.test('deterministic across calls, with and without a reused output array', async (t) => {
  const backends = pool(200, (i) => 1 + (i % 3))
  const first = buildMaglev(backends)
  buildMaglev(pool(17), 4099) // scratch space used by another build in between
  const out = new Int32Array(DEFAULT_MAGLEV_SIZE)
  t.same(buildMaglev(backends, DEFAULT_MAGLEV_SIZE, out), first)
  t.same(buildMaglev(backends, DEFAULT_MAGLEV_SIZE, out), first, 'reusing the output array')
  t.same(buildMaglev(backends), first)
})

t.test('weights: each share is within one entry of M·w/W', async (t) => {
  fc.assert(
    fc.property(arbWeighted(120), fc.constantFrom(251, 4099, DEFAULT_MAGLEV_SIZE), (backends, size) => {
      const total = backends.reduce((s, b) => s + b.weight, 0)
      if (total === 0) return true
      const c = counts(buildMaglev(backends, size), backends.length)
      return backends.every((b, i) => Math.abs(c[i]! - (size * b.weight) / total) < 1)
    }),
    { numRuns: 120 },
  )
  const table = buildMaglev(pool(4, (i) => [1, 2, 3, 4][i]!))
  const c = counts(table, 4)
  t.same(
    c.map((x) => Math.round((x / DEFAULT_MAGLEV_SIZE) * 1000) / 1000),
    [0.1, 0.2, 0.3, 0.4],
    'weights 1:2:3:4 get 10/20/30/40 %',
  )
})

t.test('DESIGN §5 balance: M > 100·N gives max/mean ≤ 1.01 with equal weights', async (t) => {
  const cases: Array<[number, number]> = [
    [5, DEFAULT_MAGLEV_SIZE],
    [10, DEFAULT_MAGLEV_SIZE],
    [50, DEFAULT_MAGLEV_SIZE],
    [100, DEFAULT_MAGLEV_SIZE],
    [500, DEFAULT_MAGLEV_SIZE],
    [655, DEFAULT_MAGLEV_SIZE],
    [40, 4099],
    [10, 1021],
  ]
  for (const [n, size] of cases) {
    t.ok(size > 100 * n)
    const c = counts(buildMaglev(pool(n), size), n)
    const ratio = Math.max(...c) / (size / n)
    t.ok(ratio <= 1.01, `N=${n}, M=${size}: max/mean ${ratio.toFixed(4)} ≤ 1.01`)
    t.ok(Math.min(...c) > 0, 'every backend has entries')
  }
})

/**
 * DESIGN §5 disruption: "removing one of N backends moves at most 1.1/N of the table".
 * Counted honestly: every entry whose backend changed, including the removed backend's own
 * ~1/N share. Maglev's populate (the paper's algorithm, unchanged) meets this at the default
 * size only for small pools (measured worst case ≤ 1.1/N up to N ≈ 24); see the next test.
 */
t.test('DESIGN §5 disruption: removing any one of N ≤ 20 backends moves ≤ 1.1/N of the table', async (t) => {
  for (const n of [2, 5, 10, 20]) {
    const all = pool(n)
    const before = buildMaglev(all).slice()
    let worst = 0
    for (let r = 0; r < n; r++) {
      const rest = all.filter((_, i) => i !== r)
      const fraction = moved(before, all, buildMaglev(rest), rest) / DEFAULT_MAGLEV_SIZE
      t.ok(fraction >= (counts(before, n)[r]! / DEFAULT_MAGLEV_SIZE), 'at least the removed share moves')
      worst = Math.max(worst, fraction)
    }
    t.ok(worst <= 1.1 / n, `N=${n}: worst moved ${(worst * n).toFixed(3)}/N ≤ 1.1/N`)
  }
})

t.test('disruption for larger pools at M = 65537 (measured; the 1.1/N target is NOT met here)', async (t) => {
  // Maglev trades disruption for balance: with ~65 entries per backend, the hole a removed
  // backend leaves is refilled by other backends' walks, which cascades. Measured worst case
  // over the removals below: N=50 ≈ 1.24/N, N=100 ≈ 1.58/N, N=1000 ≈ 6.8/N. A larger table
  // helps little (N=100, M=400009: ≈ 1.2/N). The bounds here guard against regressions only.
  const bounds: Array<[number, number]> = [
    [50, 1.35],
    [100, 1.75],
    [1000, 7.5],
  ]
  for (const [n, bound] of bounds) {
    const all = pool(n)
    const before = buildMaglev(all).slice()
    let worst = 0
    for (const r of [0, Math.floor(n / 3), n - 1]) {
      const rest = all.filter((_, i) => i !== r)
      worst = Math.max(worst, moved(before, all, buildMaglev(rest), rest) / DEFAULT_MAGLEV_SIZE)
    }
    t.comment(`N=${n}: removing one backend moved at most ${(worst * n).toFixed(3)}/N of the table`)
    t.ok(worst <= bound / n, `N=${n}: ≤ ${bound}/N`)
  }
})
