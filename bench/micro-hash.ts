/**
 * bench/micro-hash: the hashing hot spots on one core.
 *   - hash.murmur3_words4_ns: one murmur3Words4 call (the packet path's flow hash), ns/op
 *   - maglev.build_ms: buildMaglev of M = 65537 for 1000 equal-weight backends (DESIGN §8),
 *     median of many builds after warm-up, a fresh table each time as a new snapshot gets
 *   (the same build with weights 1..4 is printed on stderr, for information)
 *
 *   nvlb bench micro-hash [--json] [--builds N]
 */
import { parseArgs } from 'node:util'
import { buildMaglev, DEFAULT_MAGLEV_SIZE, type MaglevBackend } from '../lib/hash/maglev'
import { murmur3Words4 } from '../lib/hash/murmur3'
import { printMetrics, progress, type Metric } from './report'

/** Backends named as the engine names them, "<vsid>/<address>:<port>". */
function benchBackends(count: number, weight: (i: number) => number): MaglevBackend[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `${5001 + (i % 4)}/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:80`,
    weight: weight(i),
  }))
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function medianBuildMs(backends: MaglevBackend[], size: number, builds: number): number {
  for (let i = 0; i < Math.max(20, builds >> 2); i++) buildMaglev(backends, size)
  const times: number[] = []
  for (let i = 0; i < builds; i++) {
    const start = process.hrtime.bigint()
    buildMaglev(backends, size)
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return median(times)
}

/**
 * Median milliseconds to build a Maglev table of `size` entries for `backends` equal-weight
 * backends (hashing the names, ordering, filling, allocating the table), after warm-up.
 */
export function measureMaglevBuildMs(backends = 1000, size = DEFAULT_MAGLEV_SIZE, builds = 101): number {
  return medianBuildMs(benchBackends(backends, () => 1), size, builds)
}

/** Nanoseconds per murmur3Words4 call over varying inputs (median of several runs). */
export function measureMurmur3Words4Ns(calls = 2_000_000, runs = 7): number {
  let sink = 0
  const perRun: number[] = []
  for (let r = 0; r < runs + 2; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) sink ^= murmur3Words4(i, 0x0a010615 ^ r, i * 31, 0x1f90c350, 0x4e564c42)
    const ns = Number(process.hrtime.bigint() - start) / calls
    if (r >= 2) perRun.push(ns) // the first runs warm up the JIT
  }
  if (sink === 0.5) progress('unreachable') // keeps the loop's result alive
  return median(perRun)
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      builds: { type: 'string', default: '101' },
    },
    strict: true,
  })
  const builds = Number(values.builds)
  if (!Number.isInteger(builds) || builds < 1) {
    process.stderr.write('nvlb bench micro-hash: --builds must be a positive integer\n')
    return 2
  }
  progress('micro-hash: murmur3Words4 …')
  const hashNs = measureMurmur3Words4Ns()
  progress(`micro-hash: buildMaglev(1000 backends, M = ${DEFAULT_MAGLEV_SIZE}), median of ${builds} …`)
  const buildMs = measureMaglevBuildMs(1000, DEFAULT_MAGLEV_SIZE, builds)
  const weightedMs = medianBuildMs(benchBackends(1000, (i) => 1 + (i % 4)), DEFAULT_MAGLEV_SIZE, builds)
  progress(`micro-hash: with weights 1..4 the build takes ${weightedMs.toFixed(3)} ms (median)`)
  const metrics: Metric[] = [
    { name: 'hash.murmur3_words4_ns', value: hashNs, unit: 'ns', target: 20, better: 'lower' },
    { name: 'maglev.build_ms', value: buildMs, unit: 'ms', target: 1.8, better: 'lower' },
  ]
  printMetrics(metrics, values.json)
  return 0
}
