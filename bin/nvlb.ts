#!/usr/bin/env node
/**
 * The one nvlb command. Each sub-command lives in bin/commands/<name>.ts and
 * exports `main(argv: string[]): Promise<number>` returning the exit code.
 */
import { join } from 'node:path'

const COMMANDS: Record<string, string> = {
  run: 'start the control plane, admin API and packet path',
  replay: 'feed a pcap through one engine: replay --config CONFIG.json IN.pcap OUT.pcap',
  demo: 'bring up the reference deployment (DESIGN §7) and drive traffic through it',
  host: 'run the NVGRE host emulator (the Hyper-V host role)',
  bench: 'run a benchmark: bench pipeline|api|e2e|wire|health [--json]',
  config: 'show or replace the whole configuration through the admin API',
  vip: 'list, show, create, update or delete VIPs through the admin API',
  pool: 'list, show, create, update or delete pools through the admin API',
  backend: 'add, change (state, weight) or remove a pool backend through the admin API',
  policy: 'lookup records and customer routes; import PowerShell exports',
  simulate: 'which VIP rule and backend would take a flow, and why',
  stats: 'packet, flow and drop counters',
  health: "backends' health as probes see it: state, since, last error, latency",
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(width)}  ${what}`)
  return `usage: nvlb <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n'nvlb <command> --help' for a command's options.`
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage() + '\n')
    return command === undefined ? 2 : 0
  }
  if (!(command in COMMANDS)) {
    process.stderr.write(`nvlb: unknown command '${command}'\n\n${usage()}\n`)
    return 2
  }
  // commands/<name>.js when built, commands/<name>.ts when run from source through tsx.
  let modulePath: string
  try {
    modulePath = require.resolve(join(__dirname, 'commands', command))
  } catch {
    process.stderr.write(`nvlb: '${command}' is not available in this build\n`)
    return 2
  }
  const mod = require(modulePath) as { main(argv: string[]): Promise<number> }
  return mod.main(rest)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    process.stderr.write(`nvlb: ${message}\n`)
    process.exitCode = 1
  },
)
