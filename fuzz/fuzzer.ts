/**
 * A libFuzzer-style coverage-guided loop: a corpus of inputs, each new input a stack of
 * mutations of a corpus input (crossed over with another one), kept when it reaches a new
 * coverage feature (a counter of lib/ code in a new hit-count bucket, AFL's 1, 2, 3, 4–7,
 * 8–15, 16–31, 32–127, 128+), findings minimised and reported once per signature.
 */
import { counters, sites } from './instrument'
import { Rng } from './mutate'

export interface Finding {
  /** The invariant broken (or 'exception'): with `signature`, what deduplicates findings. */
  kind: string
  detail: string
}

export interface Target {
  readonly name: string
  /** Repository path prefixes whose sites count for this target's coverage figure. */
  readonly coverage: readonly string[]
  seeds(): Uint8Array[]
  /** Runs one input (in whatever state the target is in); returns the first finding or null. */
  run(input: Uint8Array): Finding | null
  /** Frames (or decodes) the last run() executed. */
  readonly unitsOfLastRun: number
  mutate(rng: Rng, input: Uint8Array, other: Uint8Array): Uint8Array
  /**
   * A self-contained, minimised input that reproduces `finding` from a fresh state (replay()),
   * or null when it cannot be reproduced.
   */
  minimise(input: Uint8Array, finding: Finding): Uint8Array | null
  /** Runs an input from a fresh state. */
  replay(input: Uint8Array): Finding | null
  /** Human-readable form of an input (for the report and regression tests). */
  describe(input: Uint8Array): string
}

export interface Report {
  target: string
  executions: number
  units: number
  corpus: number
  seconds: number
  covered: number
  sites: number
  findings: { finding: Finding; input: Uint8Array | null; reproduced: boolean }[]
  /** Per site, the hit-count buckets reached. */
  virgin: Uint8Array
}

const BUCKET = new Uint8Array(256)
for (let v = 1; v < 256; v++) BUCKET[v] = v === 1 ? 1 : v === 2 ? 2 : v === 3 ? 4 : v < 8 ? 8 : v < 16 ? 16 : v < 32 ? 32 : v < 128 ? 64 : 128

export interface RunOptions {
  /** Stop after this many executions (seeds included). */
  iterations?: number
  /** Stop at this time (ms since the epoch). */
  deadline?: number
  seed?: number
  /** Extra inputs to start from (a saved corpus). */
  extraSeeds?: Uint8Array[]
  /** Called for each new corpus input (to save it). */
  onNewInput?: (input: Uint8Array) => void
  /** Called every few seconds with the running figures. */
  onProgress?: (r: Report) => void
  /** Stop at the first finding (tests). */
  stopOnFinding?: boolean
}

export function fuzz(target: Target, options: RunOptions): Report {
  const rng = new Rng(options.seed ?? 1)
  const nSites = sites.length
  const virgin = new Uint8Array(nSites)
  const corpus: Uint8Array[] = []
  const start = Date.now()
  const report: Report = { target: target.name, executions: 0, units: 0, corpus: 0, seconds: 0, covered: 0, sites: 0, findings: [], virgin }
  const seen = new Set<string>()
  const relevant = sites.map((s) => target.coverage.some((p) => s.file.startsWith(p)))
  report.sites = relevant.filter(Boolean).length
  let lastProgress = start

  const execute = (input: Uint8Array): boolean => {
    counters.fill(0, 0, nSites)
    const finding = target.run(input)
    report.executions++
    report.units += target.unitsOfLastRun
    let fresh = false
    for (let i = 0; i < nSites; i++) {
      const v = counters[i]!
      if (v !== 0) {
        const bit = BUCKET[v]!
        if ((virgin[i]! & bit) === 0) {
          virgin[i]! |= bit
          fresh = true
        }
      }
    }
    if (finding !== null) {
      const signature = `${finding.kind}: ${finding.detail.replace(/\d+/g, 'N')}`
      if (!seen.has(signature)) {
        seen.add(signature)
        const minimal = target.minimise(input, finding)
        report.findings.push({ finding, input: minimal ?? input, reproduced: minimal !== null })
      }
      return false
    }
    if (fresh) {
      corpus.push(input)
      options.onNewInput?.(input)
    }
    return fresh
  }

  const done = (): boolean =>
    (options.iterations !== undefined && report.executions >= options.iterations) ||
    (options.deadline !== undefined && Date.now() >= options.deadline) ||
    (options.stopOnFinding === true && report.findings.length > 0)

  for (const s of [...target.seeds(), ...(options.extraSeeds ?? [])]) {
    if (done()) break
    execute(s)
  }
  if (corpus.length === 0) corpus.push(...target.seeds().slice(0, 1))
  while (!done()) {
    // Newer inputs found new coverage most recently: give them a larger share (libFuzzer's entropic idea, simplified).
    const pick = rng.chance(3) ? corpus.length - 1 - rng.below(Math.max(1, corpus.length >> 3)) : rng.below(corpus.length)
    const base = corpus[pick]!
    const other = corpus[rng.below(corpus.length)]!
    let input = base
    const depth = 1 + rng.below(4)
    for (let i = 0; i < depth; i++) input = target.mutate(rng, input, other)
    execute(input)
    if ((report.executions & 255) === 0 && options.onProgress !== undefined) {
      const now = Date.now()
      if (now - lastProgress >= 5000) {
        lastProgress = now
        options.onProgress(summarise(report, virgin, relevant, corpus.length, start))
      }
    }
  }
  return summarise(report, virgin, relevant, corpus.length, start)
}

function summarise(report: Report, virgin: Uint8Array, relevant: boolean[], corpus: number, start: number): Report {
  let covered = 0
  for (let i = 0; i < relevant.length; i++) if (relevant[i] && virgin[i] !== 0) covered++
  report.covered = covered
  report.corpus = corpus
  report.seconds = (Date.now() - start) / 1000
  return report
}

/** Sites of the target's files never reached, by file: where to look for what the fuzzer misses. */
export function uncovered(reached: (i: number) => boolean, prefixes: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  sites.forEach((s, i) => {
    if (!prefixes.some((p) => s.file.startsWith(p)) || reached(i)) return
    const lines = out.get(s.file) ?? []
    lines.push(s.line)
    out.set(s.file, lines)
  })
  return out
}
