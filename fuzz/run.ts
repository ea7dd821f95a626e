/**
 * Runs every target (or some) for a time or an iteration budget, split between them, and
 * returns the reports. Used by the CLI (fuzz/cli.ts) and the bounded CI test (test/fuzz.test.ts).
 */
import { EngineTarget } from './engine-target'
import { codecTargets } from './codec-targets'
import { fuzz, type Report, type RunOptions, type Target } from './fuzzer'

export const TARGET_NAMES = ['engine', 'ethernet', 'arp', 'ipv4', 'tcp', 'udp', 'icmp', 'nvgre', 'frame', 'pcap'] as const

/** Share of the time each target gets: the engine is where the state and most code is. */
const ENGINE_SHARE = 0.6

export interface Budget {
  /** Total wall-clock budget, split between the targets. */
  milliseconds?: number
  /** Per target: engine inputs, and inputs of each codec target. */
  engineIterations?: number
  codecIterations?: number
}

export function makeTargets(names: readonly string[] = TARGET_NAMES): Target[] {
  const wanted = new Set(names)
  const out: Target[] = []
  if (wanted.has('engine')) out.push(new EngineTarget())
  for (const t of codecTargets()) if (wanted.has(t.name)) out.push(t)
  return out
}

export interface RunAllOptions extends Omit<RunOptions, 'iterations' | 'deadline' | 'extraSeeds'> {
  onTargetStart?: (t: Target) => void
  /** A saved corpus per target. */
  extraSeedsOf?: (t: Target) => Uint8Array[]
}

export function runAll(targets: readonly Target[], budget: Budget, options: RunAllOptions = {}): Report[] {
  const reports: Report[] = []
  const hasEngine = targets.some((t) => t.name === 'engine')
  let codecsLeft = targets.filter((t) => t.name !== 'engine').length
  const total = budget.milliseconds ?? 0
  const engineMs = hasEngine ? (codecsLeft === 0 ? total : total * ENGINE_SHARE) : 0
  let codecMs = total - engineMs
  for (const target of targets) {
    const run: RunOptions = { ...options, extraSeeds: options.extraSeedsOf?.(target) ?? [] }
    const started = Date.now()
    if (budget.milliseconds !== undefined) {
      run.deadline = started + (target.name === 'engine' ? engineMs : codecMs / Math.max(1, codecsLeft))
    } else {
      run.iterations = target.name === 'engine' ? (budget.engineIterations ?? 10000) : (budget.codecIterations ?? 2000)
    }
    options.onTargetStart?.(target)
    reports.push(fuzz(target, run))
    if (target.name !== 'engine') {
      codecMs -= Date.now() - started
      codecsLeft--
    }
  }
  return reports
}
