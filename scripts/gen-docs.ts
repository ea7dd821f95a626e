/**
 * Generates the parts of docs/ that must match the code:
 * - docs/configuration.md, the field reference: from the configuration's JSON Schema
 *   (lib/control/config-schema.ts);
 * - docs/openapi.json: the admin API's OpenAPI document, as GET /docs/json serves it;
 * - docs/api.md, the route table: from that OpenAPI document;
 * - docs/cli.md: every command's --help;
 * - lib/control/config-schema-validator.ts: the schema's validator as standalone code.
 * Generated text sits between `<!-- BEGIN GENERATED name -->` and `<!-- END GENERATED name -->`;
 * the rest of each page is written by hand.
 *
 *   npx tsx scripts/gen-docs.ts           rewrite the generated parts
 *   npx tsx scripts/gen-docs.ts --check   exit 1 if any of them is out of date
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { buildApi } from '../lib/api/server'
import { Compiler } from '../lib/control/compiler'
import { configSchemas } from '../lib/control/config-schema'
import { ControlPlane } from '../lib/control/control-plane'
import { simulateFlow } from '../lib/dataplane/simulate'
import { HealthService } from '../lib/health/health-service'
import { COMMANDS } from '../bin/command-list'
import { VALIDATOR_PATH, validatorSource } from './gen-validator'

export const ROOT = join(__dirname, '..')

type Schema = Record<string, any>

const PARTS = configSchemas.filter((s) => s.$id !== 'BackendPatch') as readonly Schema[]
const byId = new Map(PARTS.map((s) => [s.$id as string, s]))

function anchor(id: string): string {
  return `part-${id.toLowerCase()}`
}

function refId(ref: string): string {
  return ref.replace(/#$/, '')
}

const FORMAT_WORDS: Record<string, string> = {
  ipv4: 'IPv4 address',
  'ipv4-host': 'IPv4 host address (not 0.0.0.0, multicast or broadcast)',
  'ipv4-prefix': 'IPv4 prefix `a.b.c.d/len`, host bits clear',
  mac: 'MAC: `00-15-5D-01-06-21`, `00:15:5d:01:06:21` or `00155D010621`',
}

function typeOf(s: Schema): string {
  if (s.$ref !== undefined) {
    const id = refId(s.$ref)
    return `[${byId.get(id)?.title ?? id}](#${anchor(id)})`
  }
  if (s.type === 'array') return `array of ${typeOf(s.items)}`
  if (s.enum !== undefined) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ')
  return String(s.type)
}

function rangeOf(s: Schema): string {
  const parts: string[] = []
  if (s.minimum !== undefined || s.maximum !== undefined) {
    let range = `${s.minimum ?? ''}..${s.maximum ?? ''}`
    if (s.not?.minimum !== undefined) range = `0 or ${s.not.maximum + 1}..${s.maximum}`
    parts.push(range)
  }
  if (s.format !== undefined) parts.push(FORMAT_WORDS[s.format] ?? s.format)
  if (s.pattern !== undefined) parts.push(`pattern \`${s.pattern}\``)
  if (s.minLength !== undefined && s.maxLength !== undefined) parts.push(`${s.minLength} to ${s.maxLength} characters`)
  else if (s.minLength === 1) parts.push('not empty')
  if (s.type === 'array' && s.maxItems !== undefined) parts.push(`at most ${s.maxItems}`)
  if (s.type === 'array' && s.items?.$ref === undefined && s.items !== undefined) {
    const each = rangeOf(s.items)
    if (each !== '') parts.push(`each: ${each}`)
  }
  return parts.join('; ')
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** The field reference of docs/configuration.md, from the schema. */
export function configurationReference(): string {
  const out: string[] = []
  for (const part of PARTS) {
    out.push(`<a id="${anchor(part.$id)}"></a>`, '', `### \`${part.title}\``, '', part.description, '')
    out.push('| field | type | required | default | range / format | meaning |', '|---|---|---|---|---|---|')
    const required = new Set<string>(part.required ?? (part.$id === 'Config' ? ['node'] : []))
    for (const [field, s] of Object.entries(part.properties as Record<string, Schema>)) {
      const dflt = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``
      const target = s.$ref ?? s.items?.$ref
      const meaning = s.description ?? (target === undefined ? '' : `See [${byId.get(refId(target))?.title}](#${anchor(refId(target))}).`)
      // `typeOf` escapes the pipes of enums itself; descriptions are escaped here.
      out.push(`| \`${field}\` | ${typeOf(s)} | ${required.has(field) ? 'yes' : ''} | ${dflt} | ${cell(rangeOf(s))} | ${cell(meaning)} |`)
    }
    out.push('')
  }
  return out.join('\n').trimEnd()
}

/** The admin API's OpenAPI document (what GET /docs/json serves). */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-docs-'))
  const logger = pino({ level: 'silent' })
  const compiler = new Compiler()
  const control = await ControlPlane.open({ stateDir, logger, compile: (c, g) => compiler.compile(c, g) })
  try {
    const app = await buildApi({
      control,
      stats: () => {
        throw new Error('not served while generating the document')
      },
      simulate: simulateFlow,
      logger,
      token: 'docs',
      processMetrics: false,
      // As nvlb run serves it: with backend health (GET /v1/health, pools' health); no probe runs here.
      health: new HealthService({ logger, republish: async () => undefined, runningEpoch: () => -1, disabled: 'generating the API document' }),
    })
    const doc = app.swagger() as unknown as Record<string, unknown>
    await app.close()
    return JSON.parse(JSON.stringify(doc)) as Record<string, unknown>
  } finally {
    await control.close()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

/** The route table of docs/api.md, from the OpenAPI document. */
export function routeTable(openapi: Record<string, any>): string {
  const out = ['| method | path | what |', '|---|---|---|']
  for (const [path, methods] of Object.entries(openapi.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(methods)) {
      out.push(`| ${method.toUpperCase()} | \`${path}\` | ${cell(op.summary ?? op.description ?? '')} |`)
    }
  }
  return out.join('\n')
}

/** What `nvlb <command> --help` prints, run in this process. */
async function commandHelp(command: string): Promise<string> {
  const mod = require(join(ROOT, 'bin', 'commands', command)) as { main(argv: string[]): Promise<number> }
  let text = ''
  const out = process.stdout.write
  const err = process.stderr.write
  const capture = (chunk: unknown): boolean => {
    text += String(chunk)
    return true
  }
  process.stdout.write = capture as typeof process.stdout.write
  process.stderr.write = capture as typeof process.stderr.write
  try {
    await mod.main(['--help'])
  } finally {
    process.stdout.write = out
    process.stderr.write = err
  }
  return text.trimEnd()
}

/** The body of docs/cli.md: the command list and every command's help. */
export async function cliReference(): Promise<string> {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const out = ['```', 'usage: nvlb <command> [options]', '       nvlb --version', '', 'commands:']
  for (const [name, what] of Object.entries(COMMANDS)) out.push(`  ${name.padEnd(width)}  ${what}`)
  out.push('```', '')
  for (const command of Object.keys(COMMANDS)) {
    out.push(`## nvlb ${command}`, '', '```', await commandHelp(command), '```', '')
  }
  return out.join('\n').trimEnd()
}

/** `text` with the region `name` replaced by `body`. */
export function replaceRegion(text: string, name: string, body: string): string {
  const begin = `<!-- BEGIN GENERATED ${name} (scripts/gen-docs.ts; do not edit) -->`
  const end = `<!-- END GENERATED ${name} -->`
  const i = text.indexOf(begin)
  const j = text.indexOf(end)
  if (i < 0 || j < i) throw new Error(`no generated region '${name}' in the page`)
  return `${text.slice(0, i + begin.length)}\n\n${body}\n\n${text.slice(j)}`
}

/** Every generated file: path (from the repository root) → expected content. */
export async function generatedFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
  files.set('docs/configuration.md', replaceRegion(read('docs/configuration.md'), 'fields', configurationReference()))
  const openapi = await openApiDocument()
  files.set('docs/openapi.json', JSON.stringify(openapi, null, 2) + '\n')
  files.set('docs/api.md', replaceRegion(read('docs/api.md'), 'routes', routeTable(openapi)))
  files.set('docs/cli.md', replaceRegion(read('docs/cli.md'), 'commands', await cliReference()))
  files.set(VALIDATOR_PATH, validatorSource())
  return files
}

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check')
  const files = await generatedFiles()
  let stale = 0
  for (const [path, content] of files) {
    let current = ''
    try {
      current = readFileSync(join(ROOT, path), 'utf8')
    } catch {
      // a file that does not exist yet is stale
    }
    if (current === content) continue
    stale++
    if (check) process.stderr.write(`${path} is out of date: run npx tsx scripts/gen-docs.ts\n`)
    else writeFileSync(join(ROOT, path), content)
  }
  if (!check) process.stdout.write(`${stale} of ${files.size} generated files rewritten\n`)
  return check && stale > 0 ? 1 : 0
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
      process.exit(1)
    },
  )
}
