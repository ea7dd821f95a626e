/**
 * What every admin sub-command of the CLI shares: the options that say where
 * the API is and how to authenticate, --json and --help, turning API errors
 * into one line on stderr (exit 1) and usage errors into exit 2.
 *
 * Address: --api, else NVLB_API, else http://127.0.0.1:8573.
 * Token: --token, else NVLB_TOKEN, else the token file of --state-dir
 * (NVLB_STATE_DIR, default ./.nvlb) that `nvlb run` wrote.
 */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ApiClient, ApiError } from './client'
import { readTokenFile } from '../api/token'
import { NvlbError } from '../errors'

export const DEFAULT_API = 'http://127.0.0.1:8573'
export const DEFAULT_STATE_DIR = '.nvlb'

export const CONNECTION_HELP = `connection options:
  --api URL          admin API address (env NVLB_API, default ${DEFAULT_API})
  --token TOKEN      bearer token (env NVLB_TOKEN, default: the token file in --state-dir)
  --state-dir DIR    where 'nvlb run' keeps its state and token (env NVLB_STATE_DIR, default ./${DEFAULT_STATE_DIR})
  --json             print JSON instead of tables
  -h, --help         this help`

const connectionOptions = {
  api: { type: 'string' },
  token: { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

type Options = NonNullable<ParseArgsConfig['options']>

/** A mistake on the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

export interface CliIo {
  out(text: string): void
  err(text: string): void
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
}

export interface CliContext {
  /** Created on first use, so --help and usage errors need no token. */
  readonly client: ApiClient
  readonly json: boolean
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>
  readonly positionals: string[]
  readonly io: CliIo
  /** Prints a value as indented JSON. */
  printJson(value: unknown): void
}

export interface CommandSpec {
  /** Full usage text (without the connection options, which are appended). */
  usage: string
  options?: Options
  run(ctx: CliContext): Promise<number | void>
}

export function resolveToken(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string | undefined {
  if (typeof values.token === 'string' && values.token !== '') return values.token
  if (env.NVLB_TOKEN !== undefined && env.NVLB_TOKEN !== '') return env.NVLB_TOKEN
  const stateDir = (values['state-dir'] as string | undefined) ?? env.NVLB_STATE_DIR ?? DEFAULT_STATE_DIR
  return readTokenFile(stateDir)
}

export function resolveApi(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  if (typeof values.api === 'string' && values.api !== '') return values.api
  return env.NVLB_API !== undefined && env.NVLB_API !== '' ? env.NVLB_API : DEFAULT_API
}

/** Runs one admin sub-command: parse, run, and map every failure to its exit code. */
export async function runCommand(
  argv: string[],
  spec: CommandSpec,
  io: CliIo = processIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const usage = `${spec.usage.trimEnd()}\n\n${CONNECTION_HELP}\n`
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options: { ...connectionOptions, ...(spec.options ?? {}) }, allowPositionals: true, strict: true })
  } catch (err) {
    io.err(`nvlb: ${(err as Error).message}\n\n${usage}`)
    return 2
  }
  const values = parsed.values as CliContext['values']
  if (values.help === true) {
    io.out(usage)
    return 0
  }
  let client: ApiClient | undefined
  const ctx: CliContext = {
    get client() {
      client ??= new ApiClient(resolveApi(values, env), resolveToken(values, env))
      return client
    },
    json: values.json === true,
    values,
    positionals: parsed.positionals,
    io,
    printJson: (value) => io.out(JSON.stringify(value, null, 2) + '\n'),
  }
  try {
    return (await spec.run(ctx)) ?? 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`nvlb: ${err.message}\n\n${usage}`)
      return 2
    }
    if (err instanceof ApiError) {
      io.err(`nvlb: ${err.line}\n`)
      return 1
    }
    if (err instanceof NvlbError) {
      io.err(`nvlb: ${err.code} ${err.message}\n`)
      return 1
    }
    io.err(`nvlb: ${(err as Error).message ?? String(err)}\n`)
    return 1
  }
}

/** The sub-command's own positionals after the action word. */
export function need(ctx: CliContext, count: number, names: string): string[] {
  const args = ctx.positionals.slice(1)
  if (args.length !== count) throw new UsageError(`expected ${names}`)
  return args
}

export function stringOption(ctx: CliContext, name: string): string | undefined {
  const v = ctx.values[name]
  return typeof v === 'string' ? v : undefined
}

export function listOption(ctx: CliContext, name: string): string[] {
  const v = ctx.values[name]
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []
}

export function intOption(ctx: CliContext, name: string, what = 'an integer'): number | undefined {
  const text = stringOption(ctx, name)
  if (text === undefined) return undefined
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be ${what}, not '${text}'`)
  return Number(text)
}

/** The --if-match generation for writes. */
export function ifMatchOption(ctx: CliContext): number | undefined {
  const text = stringOption(ctx, 'if-match')
  if (text === undefined) return undefined
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(text)
  if (m === null) throw new UsageError(`--if-match must be a generation number, not '${text}'`)
  return Number(m[1])
}

export const IF_MATCH_OPTION = { 'if-match': { type: 'string' } } as const
export const IF_MATCH_HELP = '  --if-match GEN     refuse the change unless the configuration is still at generation GEN'

/** A JSON file as text: UTF-8 (BOM stripped) or UTF-16 with a BOM, as PowerShell's Out-File writes. */
export function readJsonText(path: string): string {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le')
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2))
    swapped.swap16()
    return swapped.toString('utf16le')
  }
  // UTF-16LE without a BOM: every second byte of ASCII text is zero.
  if (bytes.length >= 4 && bytes[1] === 0 && bytes[3] === 0 && bytes[0] !== 0) return bytes.toString('utf16le')
  const text = bytes.toString('utf8')
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

export function readJsonFile(path: string): unknown {
  const text = readJsonText(path)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`)
  }
}

/** "ip:port" → parts, for --source/--destination. */
export function parseEndpoint(text: string, option: string): { address: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text)
  if (m === null) throw new UsageError(`--${option} must be ADDRESS:PORT (e.g. 198.51.100.10:40000), not '${text}'`)
  return { address: m[1]!, port: Number(m[2]) }
}
