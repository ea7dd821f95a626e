/**
 * npm run fuzz -- [--minutes N | --iterations N] [--targets engine,ipv4,...] [--seed S]
 *                 [--out DIR] [--corpus DIR] [--tshark N]
 *
 * Coverage-guided fuzzing of Engine.process and of every codec's decode (see fuzz/README.md).
 * Prints frames executed, coverage and findings; exits 1 when there is a finding. Each finding's
 * minimised input is written to DIR (default: a fresh directory under the system's temp dir).
 * --corpus DIR loads DIR/<target>/* as extra seeds and saves new corpus inputs there.
 * --uncovered: list, per file, the lines of coverage sites the run never reached.
 * --tshark N: after the run, N frames nvlb emitted for corpus inputs are checked by tshark
 * (checksum validation on), which must call none of them bad.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { makeTargets, runAll, TARGET_NAMES } from './run'
import type { Report, Target } from './fuzzer'
import { sites } from './instrument'
import { tsharkCheck } from './tshark-sample'

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function main(): number {
  const minutes = argument('minutes')
  const iterations = argument('iterations')
  const names = (argument('targets') ?? TARGET_NAMES.join(',')).split(',').filter((n) => n !== '')
  for (const n of names) {
    if (!(TARGET_NAMES as readonly string[]).includes(n)) {
      process.stderr.write(`unknown target ${n}; targets: ${TARGET_NAMES.join(', ')}\n`)
      return 2
    }
  }
  const seed = Number(argument('seed') ?? Date.now() % 1000000)
  const outDir = argument('out') ?? mkdtempSync(join(tmpdir(), 'nvlb-fuzz-'))
  mkdirSync(outDir, { recursive: true })
  const corpusDir = argument('corpus')
  const tshark = Number(argument('tshark') ?? 0)
  const started = Date.now()
  const targets = makeTargets(names)
  const setup = (Date.now() - started) / 1000
  const extra = (t: Target): Uint8Array[] => {
    if (corpusDir === undefined) return []
    const dir = join(corpusDir, t.name)
    mkdirSync(dir, { recursive: true })
    return readdirSync(dir).map((f) => new Uint8Array(readFileSync(join(dir, f))))
  }
  process.stdout.write(`nvlb fuzz: ${targets.map((t) => t.name).join(', ')}; seed ${seed}; ${sites.length} coverage sites instrumented (setup ${setup.toFixed(1)} s)\n`)
  let current: Target | null = null
  const reports = runAll(
    targets,
    minutes !== undefined ? { milliseconds: Number(minutes) * 60000 } : { engineIterations: Number(iterations ?? 100000), codecIterations: Number(iterations ?? 100000) },
    {
      seed,
      onTargetStart: (t) => {
        current = t
      },
      extraSeedsOf: extra,
      onProgress: (r) => process.stdout.write(`  ${r.target}: ${r.executions} inputs, ${r.units} frames, ${(r.units / r.seconds).toFixed(0)}/s, coverage ${r.covered}/${r.sites}, corpus ${r.corpus}\n`),
      onNewInput: (input) => {
        if (corpusDir === undefined || current === null) return
        writeFileSync(join(corpusDir, current.name, createHash('sha1').update(input).digest('hex')), input)
      },
    },
  )
  let findings = 0
  let frames = 0
  const unionCovered = new Set<number>()
  const unionSites = new Set<number>()
  for (const r of reports) {
    print(r)
    frames += r.units
    const target = targets.find((t) => t.name === r.target)!
    sites.forEach((s, i) => {
      if (!target.coverage.some((p) => s.file.startsWith(p))) return
      unionSites.add(i)
      if (r.virgin[i] !== 0) unionCovered.add(i)
    })
    r.findings.forEach((f, k) => {
      findings++
      const file = join(outDir, `${r.target}-${f.finding.kind}-${k}.bin`)
      if (f.input !== null) writeFileSync(file, f.input)
      process.stdout.write(`FINDING ${r.target} ${f.finding.kind}: ${f.finding.detail}${f.reproduced ? '' : ' (not reproduced from a fresh state)'}\n  input: ${file}\n${f.input === null ? '' : target.describe(f.input)}\n`)
    })
  }
  if (process.argv.includes('--uncovered')) {
    const reached = new Set(unionCovered)
    const byFile = new Map<string, number[]>()
    for (const i of unionSites) {
      if (reached.has(i)) continue
      const s = sites[i]!
      byFile.set(s.file, [...(byFile.get(s.file) ?? []), s.line])
    }
    for (const [file, lines] of [...byFile].sort()) process.stdout.write(`uncovered ${file}: ${[...new Set(lines)].sort((a, b) => a - b).join(' ')}\n`)
  }
  const seconds = (Date.now() - started) / 1000
  process.stdout.write(`total: ${frames} frames/decodes in ${seconds.toFixed(0)} s; coverage of lib/dataplane and lib/packet sites reached: ${unionCovered.size}/${unionSites.size} (${((100 * unionCovered.size) / Math.max(1, unionSites.size)).toFixed(1)}%); findings: ${findings}\n`)
  if (tshark > 0 && names.includes('engine')) {
    const result = tsharkCheck(tshark, seed)
    process.stdout.write(`tshark: ${result.frames} emitted frames checked, ${result.bad} with a bad checksum${result.note === '' ? '' : ` (${result.note})`}\n`)
    if (result.bad > 0) findings++
  }
  return findings > 0 ? 1 : 0
}

function print(r: Report): void {
  process.stdout.write(`${r.target}: ${r.executions} inputs, ${r.units} ${r.target === 'engine' ? 'frames' : 'decodes'} in ${r.seconds.toFixed(1)} s (${(r.units / Math.max(0.001, r.seconds)).toFixed(0)}/s), coverage ${r.covered}/${r.sites} sites (${((100 * r.covered) / Math.max(1, r.sites)).toFixed(1)}%), corpus ${r.corpus}, findings ${r.findings.length}\n`)
}

process.exitCode = main()
