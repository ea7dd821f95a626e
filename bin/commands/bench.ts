import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** `nvlb bench <name> [options]` runs bench/<name>.ts, which exports main(argv). */
const BENCH_DIR = join(__dirname, '..', '..', 'bench')

function available(): string[] {
  if (!existsSync(BENCH_DIR)) return []
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.js') && f !== 'report.js')
    .map((f) => f.slice(0, -3))
    .filter((name) => {
      const mod = require(join(BENCH_DIR, `${name}.js`)) as { main?: unknown }
      return typeof mod.main === 'function'
    })
    .sort()
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  const names = available()
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(`usage: nvlb bench <name> [--json] [options]\n\nbenchmarks: ${names.join(', ')}\n`)
    return name === undefined ? 2 : 0
  }
  if (!names.includes(name)) {
    process.stderr.write(`nvlb bench: unknown benchmark '${name}' (have: ${names.join(', ')})\n`)
    return 2
  }
  const mod = require(join(BENCH_DIR, `${name}.js`)) as { main(argv: string[]): Promise<number> }
  return mod.main(rest)
}
