#!/usr/bin/env node
/**
 * The one nvlb command. Each sub-command lives in bin/commands/<name>.ts and
 * exports `main(argv: string[]): Promise<number>` returning the exit code.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COMMANDS } from './command-list'

/** The version of the installed package (dist/bin → ../../package.json; bin/ from source → ../package.json). */
function version(): string {
  for (const up of [['..', '..'], ['..']]) {
    const file = join(__dirname, ...up, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'nvlb' && typeof pkg.version === 'string') return pkg.version
    }
  }
  return 'unknown'
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(width)}  ${what}`)
  return (
    `usage: nvlb <command> [options]\n       nvlb --version\n\ncommands:\n${lines.join('\n')}\n\n` +
    `'nvlb <command> --help' for a command's options.`
  )
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage() + '\n')
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`nvlb ${version()}\n`)
    return 0
  }
  if (!Object.hasOwn(COMMANDS, command)) {
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
