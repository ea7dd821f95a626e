/**
 * Maglev lookup table (Eisenbud et al., NSDI 2016, §3.4) with weights.
 *
 * Each backend has a preference list of the M slots: offset, offset + skip, offset + 2·skip, …
 * (mod M), with offset = h(name, SEED_OFFSET) mod M and skip = h(name, SEED_SKIP) mod (M − 1) + 1,
 * h = MurmurHash3 x86 32 of the name's UTF-8 bytes. M prime makes every list a permutation.
 * Backends take turns in rounds; in its turn a backend claims the first slot of its list
 * that is still free. The table is full after M turns.
 *
 * Turn order: by h(name, SEED_OFFSET), ties by name, so the table depends only on the set
 * of backends, never on the order of the input array.
 *
 * Weights (quota rule): each backend's share of M is apportioned by weight with the largest
 * remainder method — quota = floor(M·w/W) (W = sum of weights), and the M − Σquota leftover
 * slots go one each to the largest fractional parts M·w/W − quota (ties: turn order). A
 * backend takes its turn in a round only while its filled count is below its quota and drops
 * out of the rounds once it reaches it. Shares are therefore exact (within one slot), the
 * build needs exactly M turns whatever the weights, and with equal weights this is the
 * paper's unweighted algorithm unchanged (its last partial round hands the extra slot to the
 * first M mod N backends, which is what the leftover rule does). Weight 0 takes no turns.
 *
 * Disruption, as Maglev trades it for balance: removing one of N backends moves about 1/N of
 * the table for small N, more for large N (M = 65537: ≈ 1.02/N at N = 10, ≈ 1.6/N at N = 100,
 * ≈ 6.8/N at N = 1000; measured in test/hash/maglev.test.ts).
 */
import { murmur3StringPair } from './murmur3'

export const DEFAULT_MAGLEV_SIZE = 65537
/** MurmurHash3 seed for a backend's offset in the table. */
export const SEED_OFFSET = 0x4d61676c
/** MurmurHash3 seed for a backend's skip through the table. */
export const SEED_SKIP = 0x65763136

export interface MaglevBackend {
  /** `"<vsid>/<address>:<port>"` — equal names on every nvlb instance give equal tables. */
  readonly name: string
  /** ≥ 0; 0 keeps the backend out of the table. */
  readonly weight: number
}

/** Trial division; fine for table sizes. */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false
  if (n % 2 === 0) return n === 2
  if (n % 3 === 0) return n === 3
  for (let d = 5; d * d <= n; d += 6) {
    if (n % d === 0 || n % (d + 2) === 0) return false
  }
  return true
}

/** Limits, so that the scratch space below can have a fixed size. */
const MAX_BACKENDS = 65536
const MAX_SIZE = 2 ** 24
/** Turn order keys pack the 32-bit offset hash above the input index. */
const INDEX_SPAN = MAX_BACKENDS
/** The scan phase covers the last ⌈√M·factor⌉ slots (measured best around 0.5–1). */
const SCAN_PHASE_FACTOR = 0.75
const MAX_FREE_AT_SCAN = Math.ceil(Math.sqrt(MAX_SIZE) * SCAN_PHASE_FACTOR) + 1

// Scratch space reused across builds (control side, single-threaded). Fixed and never
// reassigned: V8 then treats the arrays as constants in the hot loops, which measured about
// 20 % faster than arrays grown on demand. Pages that are never touched cost no memory.
const sortKeys = new Float64Array(MAX_BACKENDS)
const nameHashes = new Float64Array(2 * MAX_BACKENDS) // [offset hash, skip hash] per input index
const turnToIndex = new Int32Array(MAX_BACKENDS) // turn position -> index into `backends`
const turnEntries = new Int32Array(MAX_BACKENDS) // turn position -> what its slots hold
const turnWeights = new Float64Array(MAX_BACKENDS)
const skips = new Int32Array(MAX_BACKENDS)
const positions = new Int32Array(MAX_BACKENDS) // next candidate slot of each backend's permutation
const quotas = new Int32Array(MAX_BACKENDS)
const fills = new Int32Array(MAX_BACKENDS)
const activeTurns = new Int32Array(MAX_BACKENDS)
const exactShares = new Float64Array(MAX_BACKENDS)
const sortedShares = new Float64Array(MAX_BACKENDS)
const inverses = new Int32Array(MAX_BACKENDS)
const takenBits = new Int32Array(MAX_SIZE >>> 5)
const freeSlots = new Int32Array(MAX_FREE_AT_SCAN)

/**
 * What a table is built from, turn by turn: the work before the turns (hashing the names,
 * the turn order, the weights), done by planMaglev, so that fillMaglev can run the turns
 * elsewhere (another thread: with `shared`, the arrays are in SharedArrayBuffers).
 */
export interface MaglevPlan {
  readonly size: number
  /** Backends with a weight above 0 (0: the table is -1 everywhere). */
  readonly count: number
  readonly equalWeights: boolean
  /** Per turn: what the backend's slots hold (its index into `backends`, or `entryOf[index]`). */
  readonly entries: Int32Array
  /** Per turn: the backend's offset and skip. */
  readonly offsets: Int32Array
  readonly skips: Int32Array
  readonly weights: Float64Array
}

/**
 * Builds the table: entry = index into `backends`, or -1 everywhere when no backend has
 * a weight above 0. `size` must be prime. `out` (length `size`) is reused when given.
 */
export function buildMaglev(
  backends: ReadonlyArray<MaglevBackend>,
  size: number = DEFAULT_MAGLEV_SIZE,
  out?: Int32Array,
): Int32Array {
  checkSize(size)
  if (out === undefined) out = new Int32Array(size)
  else if (out.length !== size) throw new RangeError(`output table has length ${out.length}, expected ${size}`)
  const n = prepareTurns(backends, size, undefined)
  if (n === 0) return out.fill(-1)
  runTurns(out, size, n, preparedEqual)
  return out
}

/**
 * The plan of buildMaglev(backends, size), whose table holds `entryOf[i]` (default: i) for
 * backend i. fillMaglev(plan, out) then gives the same table as buildMaglev.
 */
export function planMaglev(
  backends: ReadonlyArray<MaglevBackend>,
  size: number = DEFAULT_MAGLEV_SIZE,
  entryOf?: ArrayLike<number>,
  shared = false,
): MaglevPlan {
  checkSize(size)
  if (entryOf !== undefined && entryOf.length !== backends.length) throw new RangeError(`entryOf has ${entryOf.length} items for ${backends.length} backends`)
  const n = prepareTurns(backends, size, entryOf)
  const buffer = (bytes: number): ArrayBufferLike => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes))
  const plan: MaglevPlan = {
    size,
    count: n,
    equalWeights: preparedEqual,
    entries: new Int32Array(buffer(4 * n)),
    offsets: new Int32Array(buffer(4 * n)),
    skips: new Int32Array(buffer(4 * n)),
    weights: new Float64Array(buffer(8 * n)),
  }
  plan.entries.set(turnEntries.subarray(0, n))
  plan.offsets.set(positions.subarray(0, n))
  plan.skips.set(skips.subarray(0, n))
  plan.weights.set(turnWeights.subarray(0, n))
  return plan
}

/** Runs a plan's turns into `out` (length plan.size). */
export function fillMaglev(plan: MaglevPlan, out: Int32Array): void {
  const { size, count: n } = plan
  if (out.length !== size) throw new RangeError(`output table has length ${out.length}, expected ${size}`)
  if (n === 0) {
    out.fill(-1)
    return
  }
  turnEntries.set(plan.entries)
  positions.set(plan.offsets)
  skips.set(plan.skips)
  turnWeights.set(plan.weights)
  runTurns(out, size, n, plan.equalWeights)
}

function checkSize(size: number): void {
  if (!isPrime(size) || size > MAX_SIZE) {
    throw new RangeError(`Maglev table size must be a prime up to ${MAX_SIZE}, got ${size}`)
  }
}

/** Whether the last prepareTurns found all weights equal. */
let preparedEqual = true

/**
 * The live backends in turn order, into the scratch arrays (turnEntries, positions = the
 * offsets, skips, turnWeights); returns how many.
 */
function prepareTurns(backends: ReadonlyArray<MaglevBackend>, size: number, entryOf: ArrayLike<number> | undefined): number {
  if (backends.length > MAX_BACKENDS) throw new RangeError(`at most ${MAX_BACKENDS} backends`)

  // Live backends, keyed for the turn order.
  let n = 0
  for (let i = 0; i < backends.length; i++) {
    const w = backends[i]!.weight
    if (!(w >= 0 && w < Infinity)) throw new RangeError(`backend ${i} has weight ${w}, expected a finite number ≥ 0`)
    if (w > 0) {
      murmur3StringPair(backends[i]!.name, SEED_OFFSET, SEED_SKIP, nameHashes, 2 * i)
      sortKeys[n++] = nameHashes[2 * i]! * INDEX_SPAN + i
    }
  }
  if (n === 0) return 0

  const keys = sortKeys.subarray(0, n)
  keys.sort()
  for (let t = 0; t < n; t++) {
    const key = keys[t]!
    turnToIndex[t] = key - Math.floor(key / INDEX_SPAN) * INDEX_SPAN
  }
  breakHashTiesByName(backends, n)

  let totalWeight = 0
  let allEqual = true
  const firstWeight = backends[turnToIndex[0]!]!.weight
  for (let t = 0; t < n; t++) {
    const i = turnToIndex[t]!
    const w = backends[i]!.weight
    turnEntries[t] = entryOf === undefined ? i : entryOf[i]!
    positions[t] = remainder(nameHashes[2 * i]!, size) // the offset
    skips[t] = remainder(nameHashes[2 * i + 1]!, size - 1) + 1
    turnWeights[t] = w
    totalWeight += w
    if (w !== firstWeight) allEqual = false
  }
  if (!(totalWeight < Infinity)) throw new RangeError('the sum of the backend weights is not finite')
  preparedEqual = allEqual
  return n
}

/** The turns of n prepared backends (n > 0) into `out`. */
function runTurns(out: Int32Array, size: number, n: number, allEqual: boolean): void {
  let totalWeight = 0
  for (let t = 0; t < n; t++) {
    fills[t] = 0
    totalWeight += turnWeights[t]!
  }
  apportion(n, size, totalWeight, allEqual)

  let activeCount = 0
  for (let t = 0; t < n; t++) if (quotas[t]! > 0) activeTurns[activeCount++] = t

  fillTable(out, size, activeCount, allEqual)
}

/**
 * Runs the turns. While the table is mostly empty each turn walks its backend's permutation
 * (pos += skip) over a bitmap of taken slots. For the last ~√M free slots, where such walks
 * grow long, it switches to scanning the list of free slots for the one its backend reaches
 * first: with inv = skip⁻¹ mod M, slot f is (f − pos)·inv mod M steps ahead of pos. Both
 * pick the same slot, so the table is the same as walking all the way.
 */
function fillTable(table: Int32Array, size: number, activeCount: number, equalWeights: boolean): void {
  const words = (size + 31) >>> 5
  takenBits.fill(0, 0, words)
  const switchAt = Math.max(0, size - Math.ceil(Math.sqrt(size) * SCAN_PHASE_FACTOR))
  // Small separate functions: V8 compiles each hot loop tighter than one large function.
  if (equalWeights) walkEqual(table, size, takenBits, activeCount, switchAt)
  else walkWeighted(table, size, takenBits, activeCount, switchAt)
  scanPhase(table, size, takenBits, words, switchAt)
}

// Where the walk phase stopped, for the scan phase: the round's active list length, the
// place in the round, and how many in this round reached their quota (marked -1).
let roundLength = 0
let roundPlace = 0
let roundDropped = 0

function walkEqual(table: Int32Array, size: number, taken: Int32Array, activeCount: number, switchAt: number): void {
  // `active` is 0, 1, …, activeCount − 1 and the quotas are q + 1 for the first ones and q
  // for the rest, so the table is full before any backend could exceed its quota: no checks.
  const rounds = Math.floor(switchAt / activeCount)
  const place = switchAt - rounds * activeCount
  for (let r = 0; r <= rounds; r++) {
    walkRound(table, size, taken, skips, positions, turnEntries, r < rounds ? activeCount : place)
  }
  for (let t = 0; t < activeCount; t++) fills[t] = t < place ? rounds + 1 : rounds
  roundLength = activeCount
  roundPlace = place
  roundDropped = 0
}

function walkWeighted(table: Int32Array, size: number, taken: Int32Array, activeCount: number, switchAt: number): void {
  let filled = 0
  let place = 0
  let dropped = 0
  while (filled < switchAt) {
    const turns = Math.min(activeCount, switchAt - filled)
    dropped = walkRoundWeighted(table, size, taken, skips, positions, turnEntries, activeTurns, fills, quotas, turns)
    filled += turns
    if (turns < activeCount) {
      place = turns
    } else {
      if (dropped !== 0) activeCount = compactActive(activeTurns, activeCount)
      dropped = 0
    }
  }
  roundLength = activeCount
  roundPlace = place
  roundDropped = dropped
}

/** The turns that fill the last size − filled slots, by scanning the free ones. */
function scanPhase(table: Int32Array, size: number, taken: Int32Array, words: number, filled: number): void {
  const free = freeSlots
  let freeCount = 0
  for (let w = 0; w < words; w++) {
    let bitsFree = ~taken[w]!
    while (bitsFree !== 0) {
      const slot = (w << 5) + 31 - Math.clz32(bitsFree & -bitsFree)
      if (slot < size) free[freeCount++] = slot
      bitsFree &= bitsFree - 1
    }
  }
  const active = activeTurns
  const fill = fills
  const quota = quotas
  let activeCount = roundLength
  let a = roundPlace
  let dropped = roundDropped
  if (a === activeCount) {
    if (dropped !== 0) activeCount = compactActive(active, activeCount)
    a = 0
    dropped = 0
  }
  for (let k = 0; k < activeCount; k++) if (active[k]! >= 0) inverses[active[k]!] = 0 // 0: not computed yet
  const reciprocal = 1 / size
  while (filled < size) {
    const t = active[a]!
    let inv = inverses[t]!
    if (inv === 0) inverses[t] = inv = modularInverse(skips[t]!, size)
    const base = mulMod(size - positions[t]!, inv, size, reciprocal)
    let best = 0
    let bestSteps = size
    for (let k = 0; k < freeCount; k++) {
      const steps = mulAddMod(free[k]!, inv, base, size, reciprocal)
      if (steps < bestSteps) {
        bestSteps = steps
        best = k
      }
    }
    table[free[best]!] = turnEntries[t]!
    free[best] = free[--freeCount]!
    filled++
    if (++fill[t]! === quota[t]!) {
      active[a] = -1
      dropped++
    }
    if (++a === activeCount) {
      if (dropped !== 0) activeCount = compactActive(active, activeCount)
      a = 0
      dropped = 0
    }
  }
}

/**
 * Turns 0..turns-1 of a round with equal weights (turn t is backend t). Each claims the first
 * free slot from its position on. `pos -= size & ((size - 1 - pos) >> 31)` is
 * `if (pos >= size) pos -= size` without a branch, which is taken at random and costs more.
 */
function walkRound(
  table: Int32Array,
  size: number,
  taken: Int32Array,
  skips: Int32Array,
  positions: Int32Array,
  backendOf: Int32Array,
  turns: number,
): void {
  for (let t = 0; t < turns; t++) {
    const skip = skips[t]!
    let pos = positions[t]!
    while ((taken[pos >>> 5]! & (1 << (pos & 31))) !== 0) {
      pos += skip
      pos -= size & ((size - 1 - pos) >> 31)
    }
    taken[pos >>> 5]! |= 1 << (pos & 31)
    table[pos] = backendOf[t]!
    pos += skip
    pos -= size & ((size - 1 - pos) >> 31)
    positions[t] = pos
  }
}

/** walkRound over active[0..turns-1], marking backends that reach their quota with -1; returns how many. */
function walkRoundWeighted(
  table: Int32Array,
  size: number,
  taken: Int32Array,
  skips: Int32Array,
  positions: Int32Array,
  backendOf: Int32Array,
  active: Int32Array,
  fills: Int32Array,
  quotas: Int32Array,
  turns: number,
): number {
  let dropped = 0
  for (let a = 0; a < turns; a++) {
    const t = active[a]!
    const skip = skips[t]!
    let pos = positions[t]!
    while ((taken[pos >>> 5]! & (1 << (pos & 31))) !== 0) {
      pos += skip
      pos -= size & ((size - 1 - pos) >> 31)
    }
    taken[pos >>> 5]! |= 1 << (pos & 31)
    table[pos] = backendOf[t]!
    pos += skip
    pos -= size & ((size - 1 - pos) >> 31)
    positions[t] = pos
    if (++fills[t]! === quotas[t]!) {
      active[a] = -1
      dropped++
    }
  }
  return dropped
}

/** Removes the backends that reached their quota (marked -1), keeping the turn order. */
function compactActive(active: Int32Array, activeCount: number): number {
  let kept = 0
  for (let a = 0; a < activeCount; a++) if (active[a]! >= 0) active[kept++] = active[a]!
  return kept
}

/** x mod m for integers 0 ≤ x < 2^32 and 1 ≤ m ≤ 2^24, without the slow floating-point `%`. */
function remainder(x: number, m: number): number {
  let r = x - Math.floor(x / m) * m
  if (r >= m) r -= m
  else if (r < 0) r += m
  return r
}

/** x·y mod m for 0 ≤ x, y < m ≤ 2^24 (the product is exact in a double). */
function mulMod(x: number, y: number, m: number, reciprocal: number): number {
  return mulAddMod(x, y, 0, m, reciprocal)
}

/** (x·y + z) mod m for 0 ≤ x, y, z < m ≤ 2^24. */
function mulAddMod(x: number, y: number, z: number, m: number, reciprocal: number): number {
  const v = x * y + z
  let r = v - Math.floor(v * reciprocal) * m
  if (r >= m) r -= m
  else if (r < 0) r += m
  return r
}

/** a⁻¹ mod m for a prime m and 0 < a < m (extended Euclid). */
function modularInverse(a: number, m: number): number {
  let t0 = 0
  let t1 = 1
  let r0 = m
  let r1 = a
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1)
    let next = t0 - q * t1
    t0 = t1
    t1 = next
    next = r0 - q * r1
    r0 = r1
    r1 = next
  }
  return t0 < 0 ? t0 + m : t0
}

/** Backends whose offset hashes collide (rare) are ordered by name, then weight. */
function breakHashTiesByName(backends: ReadonlyArray<MaglevBackend>, n: number): void {
  let start = 0
  while (start < n) {
    const hash = nameHashes[2 * turnToIndex[start]!]!
    let end = start + 1
    while (end < n && nameHashes[2 * turnToIndex[end]!]! === hash) end++
    if (end - start > 1) {
      const run = Array.from(turnToIndex.subarray(start, end))
      run.sort((x, y) => compareBackends(backends[x]!, backends[y]!) || x - y)
      for (let k = 0; k < run.length; k++) turnToIndex[start + k] = run[k]!
    }
    start = end
  }
}

function compareBackends(x: MaglevBackend, y: MaglevBackend): number {
  if (x.name !== y.name) return x.name < y.name ? -1 : 1
  return x.weight - y.weight
}

/** Largest remainder apportionment of `size` slots by weight, into `quotas`. */
function apportion(n: number, size: number, totalWeight: number, allEqual: boolean): void {
  let assigned = 0
  for (let t = 0; t < n; t++) {
    const exact = size * (turnWeights[t]! / totalWeight)
    const quota = Math.floor(exact)
    quotas[t] = quota
    exactShares[t] = exact - quota
    assigned += quota
  }
  // The leftover is below n in exact arithmetic; should rounding make it n or more, every
  // backend gets the whole multiples (as handing out one each in cycles would).
  let rest = size - assigned
  if (rest <= 0) return
  if (rest >= n) {
    const each = Math.floor(rest / n)
    for (let t = 0; t < n; t++) quotas[t] += each
    rest -= each * n
    if (rest === 0) return
  }
  if (allEqual) {
    // Equal fractional parts: the leftover goes to the first backends in turn order.
    for (let t = 0; t < rest; t++) quotas[t]!++
    return
  }
  // One each to the `rest` largest fractional parts, ties in turn order: all above the
  // rest-th largest value, then the first ones equal to it.
  const sorted = sortedShares.subarray(0, n)
  sorted.set(exactShares.subarray(0, n))
  sorted.sort()
  const threshold = sorted[n - rest]!
  for (let t = 0; t < n; t++) {
    if (exactShares[t]! > threshold) {
      quotas[t]!++
      rest--
    }
  }
  for (let t = 0; t < n && rest > 0; t++) {
    if (exactShares[t] === threshold) {
      quotas[t]!++
      rest--
    }
  }
}
