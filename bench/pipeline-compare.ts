/**
 * This build's engine against another build's on one harness: bench pipeline
 * runs alternately with the other build's engine (--engine-from) and with
 * this one's, each in a process of its own (a fresh heap and JIT for each, and
 * the machine's load shared alike), --runs times each.
 *
 *   nvlb bench pipeline-compare --baseline DIR [--runs N] [--flows N] [--rounds N] [--packets N] [--json]
 *
 * DIR: a built checkout of the other version (git worktree add DIR <commit>,
 * npm run build in it). For each packet rate of bench pipeline it reports
 * current ÷ baseline of the best round of all runs (`compare.<metric>.ratio`)
 * and of the median over runs of each run's median (`….median_ratio`),
 * target 1 (not slower); a rate of one pass (new flows) is its own best and median.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { distOf } from './engine-build'
import { printMetrics, progress, type Metric } from './report'

interface RunResult {
  readonly values: Map<string, number>
}

function nvlbBin(): string {
  const bin = join(__dirname, '..', 'bin', 'nvlb.js')
  if (!existsSync(bin)) throw new Error(`${bin} is missing: bench pipeline-compare runs from a build (npm run build)`)
  return bin
}

function runPipeline(args: string[], engineFrom: string | undefined): RunResult {
  const argv = [nvlbBin(), 'bench', 'pipeline', '--json', ...args, ...(engineFrom === undefined ? [] : ['--engine-from', engineFrom])]
  // Its progress lines (stderr) pass through: they say which engine is measured and where time goes.
  const child = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'inherit'] })
  if (child.status !== 0) throw new Error(`bench pipeline${engineFrom === undefined ? '' : ` --engine-from ${engineFrom}`} failed (${child.status ?? child.signal}); its output is above`)
  const values = new Map<string, number>()
  for (const line of child.stdout.trim().split('\n')) {
    const m = JSON.parse(line) as { name: string; value: number }
    values.set(m.name, m.value)
  }
  return { values }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { baseline: { type: 'string' }, runs: { type: 'string' }, flows: { type: 'string' }, rounds: { type: 'string' }, packets: { type: 'string' }, json: { type: 'boolean' } },
  })
  if (values.baseline === undefined) {
    process.stderr.write('nvlb bench pipeline-compare: --baseline DIR is required (a built checkout of the version to compare with)\n')
    return 2
  }
  const baseline = distOf(values.baseline)
  const runs = Number(values.runs ?? 3)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be at least 1')
  const passed = (['flows', 'rounds', 'packets'] as const).flatMap((k) => (values[k] === undefined ? [] : [`--${k}`, values[k]!]))
  const base: RunResult[] = []
  const current: RunResult[] = []
  for (let r = 0; r < runs; r++) {
    // Alternate which goes first, so that neither always runs on the machine the other just warmed.
    for (const which of r % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline']) {
      progress(`pipeline-compare: run ${r + 1} of ${runs}, ${which}`)
      if (which === 'baseline') base.push(runPipeline(passed, baseline))
      else current.push(runPipeline(passed, undefined))
    }
  }
  // Rates with a best round (….best_mpps beside ….mpps), and rates of one pass (new flows: a flow is new once).
  const names = [...current[0]!.values.keys()]
  const rates = names.filter((n) => n.endsWith('.mpps')).map((n) => n.replace(/\.mpps$/, ''))
  const metrics: Metric[] = []
  for (const name of rates) {
    const bestName = names.includes(`${name}.best_mpps`) ? `${name}.best_mpps` : `${name}.mpps`
    const of = (results: RunResult[], metric: string) => results.map((x) => x.values.get(metric)).filter((v): v is number => v !== undefined)
    const baseBest = Math.max(...of(base, bestName))
    const curBest = Math.max(...of(current, bestName))
    const baseMedian = median(of(base, `${name}.mpps`))
    const curMedian = median(of(current, `${name}.mpps`))
    if (!Number.isFinite(baseBest) || !Number.isFinite(baseMedian)) continue // the baseline's bench has no such metric
    progress(`pipeline-compare: ${name}: best ${curBest.toFixed(3)} vs ${baseBest.toFixed(3)} Mpps, median ${curMedian.toFixed(3)} vs ${baseMedian.toFixed(3)} Mpps (current vs baseline)`)
    metrics.push({ name: `compare.${name}.ratio`, value: curBest / baseBest, unit: '×', target: 1, better: 'higher' })
    metrics.push({ name: `compare.${name}.median_ratio`, value: curMedian / baseMedian, unit: '×', target: 1, better: 'higher' })
  }
  printMetrics(metrics, values.json === true)
  return 0
}
