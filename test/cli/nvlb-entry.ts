/**
 * `node --import tsx test/cli/nvlb-entry.ts <command> [args]`: runs
 * bin/commands/<command>.ts straight from TypeScript, as bin/nvlb.ts does
 * with the compiled commands, so CLI tests need no build.
 */
import { join } from 'node:path'

const [command, ...rest] = process.argv.slice(2)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mod = require(join(__dirname, '..', '..', 'bin', 'commands', `${command}.ts`)) as { main(argv: string[]): Promise<number> }
mod.main(rest).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`nvlb: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
