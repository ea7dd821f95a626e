import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Compiler } from '../../lib/control/compiler'
import { loadConfigFile } from '../../lib/control/config-file'
import { Engine } from '../../lib/dataplane/engine'
import { DROP_REASON_NAMES } from '../../lib/dataplane/drop-reasons'
import { DROPS_BASE } from '../../lib/dataplane/counters'
import { replayCapture } from '../../lib/io/pcap-replay'
import { readPcap } from '../../lib/packet/pcap'
import { NvlbError } from '../../lib/errors'

const USAGE = `usage: nvlb replay --config CONFIG.json IN.pcap OUT.pcap [--json]

Feeds every frame of IN (classic pcap, Ethernet) through one engine in order and
writes every frame the engine emits to OUT. Prints a per-reason drop summary on
stderr (--json: one JSON object on stdout as well).`

function fail(message: string): number {
  process.stderr.write(`nvlb replay: ${message}\n`)
  return 2
}

export async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`)
  }
  if (parsed.values.help === true) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const configPath = parsed.values.config
  const [input, output, ...extra] = parsed.positionals
  if (configPath === undefined || input === undefined || output === undefined || extra.length > 0) return fail(USAGE)

  let engine: Engine
  try {
    const config = loadConfigFile(configPath)
    engine = new Engine()
    engine.adopt(new Compiler().compile(config, 1))
  } catch (err) {
    return fail((err as Error).message)
  }
  let capture
  try {
    capture = readPcap(readFileSync(input))
  } catch (err) {
    if (err instanceof NvlbError) return fail(`${input}: ${err.message}`)
    return fail(`${input}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const result = replayCapture(engine, capture)
  try {
    writeFileSync(output, result.output.toBuffer())
  } catch (err) {
    return fail(`${output}: cannot write: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const drops: Record<string, number> = {}
  DROP_REASON_NAMES.forEach((name, r) => {
    const n = engine.counters.values[DROPS_BASE + r]!
    if (n > 0) drops[name] = n
  })
  const dropped = Object.values(drops).reduce((a, b) => a + b, 0)
  const lines = [`nvlb replay: ${result.framesIn} frames in, ${result.framesOut} frames out, ${dropped} dropped, ${engine.flowCount} flows`]
  for (const [name, n] of Object.entries(drops).sort((a, b) => b[1] - a[1])) lines.push(`  ${name.padEnd(24)} ${n}`)
  process.stderr.write(lines.join('\n') + '\n')
  if (parsed.values.json === true) {
    process.stdout.write(JSON.stringify({ framesIn: result.framesIn, framesOut: result.framesOut, flows: engine.flowCount, drops }) + '\n')
  }
  return 0
}
