/**
 * nvlb policy lookup list|show|add|remove, nvlb policy route list|add|remove,
 * nvlb policy import FILE: HNV policy through the admin API.
 */
import type { CustomerRoute, LookupRecord } from '../../lib/control/config-types'
import { apiPath } from '../../lib/api/client'
import {
  IF_MATCH_HELP,
  IF_MATCH_OPTION,
  UsageError,
  ifMatchOption,
  intOption,
  readJsonFile,
  readJsonText,
  runCommand,
  stringOption,
  type CliContext,
} from '../../lib/api/cli-common'
import { formatTable } from '../../lib/api/cli-table'

const USAGE = `usage: nvlb policy <lookup|route|import> <action> [options]

lookup records, (VSID, CA) → (PA, MAC):
  lookup list
  lookup show VSID CA
  lookup add --vsid VSID --ca CA --pa PA --mac MAC [--customer-id ID] [--rule encap|nat]
  lookup add --file RECORD.json
  lookup remove VSID CA

customer routes, (routing domain, VSID, prefix) → next hop:
  route list
  route add --customer-id ID --vsid VSID --prefix A.B.C.D/LEN --next-hop ADDRESS [--metric N]
  route remove CUSTOMER-ID VSID A.B.C.D/LEN

PowerShell export (Get-NetVirtualizationLookupRecord | ConvertTo-Json > FILE.json):
  import FILE.json [--replace] [--skip-unsupported]
                     records replace those with the same (VSID, CA), others are added;
                     --replace: the lookup records become exactly the file's;
                     --skip-unsupported: leave out IPv6, wildcard, TranslationMethodNat and
                     TranslationMethodNone records
${IF_MATCH_HELP}`

const OPTIONS = {
  file: { type: 'string' },
  vsid: { type: 'string' },
  ca: { type: 'string' },
  pa: { type: 'string' },
  mac: { type: 'string' },
  'customer-id': { type: 'string' },
  rule: { type: 'string' },
  prefix: { type: 'string' },
  'next-hop': { type: 'string' },
  metric: { type: 'string' },
  replace: { type: 'boolean', default: false },
  'skip-unsupported': { type: 'boolean', default: false },
  ...IF_MATCH_OPTION,
} as const

const RULES: Record<string, string> = {
  encap: 'TranslationMethodEncap',
  nat: 'TranslationMethodNat',
  translationmethodencap: 'TranslationMethodEncap',
  translationmethodnat: 'TranslationMethodNat',
}

interface ImportResult {
  added: number
  updated: number
  unchanged: number
  removed: number
  skipped: Array<{ index: number; reason: string }>
  total: number
  generation: number
}

function args(ctx: CliContext, count: number, names: string): string[] {
  const rest = ctx.positionals.slice(2)
  if (rest.length !== count) throw new UsageError(`expected ${names}`)
  return rest
}

function required(ctx: CliContext, name: string): string {
  const value = stringOption(ctx, name)
  if (value === undefined) throw new UsageError(`--${name} is required`)
  return value
}

function vsidArg(text: string): string {
  if (!/^\d+$/.test(text)) throw new UsageError(`VSID must be a number, not '${text}'`)
  return text
}

function recordTable(records: LookupRecord[]): string {
  return formatTable(
    ['VSID', 'CA', 'PA', 'MAC', 'CUSTOMER', 'RULE'],
    records.map((r) => [r.virtualSubnetId, r.customerAddress, r.providerAddress, r.macAddress, r.customerId ?? '-', (r.rule ?? '').replace('TranslationMethod', '')]),
  )
}

function routeTable(routes: CustomerRoute[]): string {
  return formatTable(
    ['CUSTOMER', 'VSID', 'PREFIX', 'NEXT HOP', 'METRIC'],
    routes.map((r) => [r.customerId, r.virtualSubnetId, r.destinationPrefix, r.nextHop, r.metric ?? 0]),
  )
}

async function lookup(ctx: CliContext, action: string | undefined): Promise<number> {
  const opts = { ifMatch: ifMatchOption(ctx) }
  switch (action) {
    case 'list':
    case 'ls': {
      args(ctx, 0, 'no arguments')
      const { body } = await ctx.client.get<LookupRecord[]>('/v1/policy/lookup-records')
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(body.length === 0 ? 'no lookup records\n' : recordTable(body))
      return 0
    }
    case 'show':
    case 'get': {
      const [vsid, ca] = args(ctx, 2, 'VSID CA')
      const { body } = await ctx.client.get<LookupRecord>(apiPath('v1', 'policy', 'lookup-records', vsidArg(vsid!), ca!))
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(recordTable([body]))
      return 0
    }
    case 'add': {
      args(ctx, 0, 'no positional arguments (use the flags or --file)')
      const file = stringOption(ctx, 'file')
      let record: Record<string, unknown>
      if (file !== undefined) {
        record = readJsonFile(file) as Record<string, unknown>
      } else {
        const vsid = intOption(ctx, 'vsid', 'a VSID number')
        if (vsid === undefined) throw new UsageError('--vsid is required')
        record = { virtualSubnetId: vsid, customerAddress: required(ctx, 'ca'), providerAddress: required(ctx, 'pa'), macAddress: required(ctx, 'mac') }
        const customerId = stringOption(ctx, 'customer-id')
        if (customerId !== undefined) record.customerId = customerId
        const rule = stringOption(ctx, 'rule')
        if (rule !== undefined) {
          const name = RULES[rule.toLowerCase()]
          if (name === undefined) throw new UsageError(`--rule must be encap or nat, not '${rule}'`)
          record.rule = name
        }
      }
      const res = await ctx.client.post<LookupRecord>('/v1/policy/lookup-records', record, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`lookup record ${res.body.virtualSubnetId}/${res.body.customerAddress} → ${res.body.providerAddress} ${res.body.macAddress} added (generation ${res.generation})\n`)
      return 0
    }
    case 'remove':
    case 'rm':
    case 'delete': {
      const [vsid, ca] = args(ctx, 2, 'VSID CA')
      const res = await ctx.client.delete(apiPath('v1', 'policy', 'lookup-records', vsidArg(vsid!), ca!), opts)
      if (ctx.json) ctx.printJson({ removed: `${vsid}/${ca}`, generation: res.generation })
      else ctx.io.out(`lookup record ${vsid}/${ca} removed (generation ${res.generation})\n`)
      return 0
    }
    default:
      throw new UsageError(action === undefined ? 'missing lookup action' : `unknown lookup action '${action}'`)
  }
}

async function route(ctx: CliContext, action: string | undefined): Promise<number> {
  const opts = { ifMatch: ifMatchOption(ctx) }
  switch (action) {
    case 'list':
    case 'ls': {
      args(ctx, 0, 'no arguments')
      const { body } = await ctx.client.get<CustomerRoute[]>('/v1/policy/customer-routes')
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(body.length === 0 ? 'no customer routes\n' : routeTable(body))
      return 0
    }
    case 'add': {
      args(ctx, 0, 'no positional arguments (use the flags or --file)')
      const file = stringOption(ctx, 'file')
      let body: Record<string, unknown>
      if (file !== undefined) {
        body = readJsonFile(file) as Record<string, unknown>
      } else {
        const vsid = intOption(ctx, 'vsid', 'a VSID number')
        if (vsid === undefined) throw new UsageError('--vsid is required')
        body = {
          customerId: required(ctx, 'customer-id'),
          virtualSubnetId: vsid,
          destinationPrefix: required(ctx, 'prefix'),
          nextHop: required(ctx, 'next-hop'),
        }
        const metric = intOption(ctx, 'metric', 'a whole number')
        if (metric !== undefined) body.metric = metric
      }
      const res = await ctx.client.post<CustomerRoute>('/v1/policy/customer-routes', body, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`customer route ${res.body.customerId} ${res.body.virtualSubnetId} ${res.body.destinationPrefix} → ${res.body.nextHop} added (generation ${res.generation})\n`)
      return 0
    }
    case 'remove':
    case 'rm':
    case 'delete': {
      const [customerId, vsid, prefix] = args(ctx, 3, 'CUSTOMER-ID VSID PREFIX')
      const m = /^([^/]+)\/(\d{1,2})$/.exec(prefix!)
      if (m === null) throw new UsageError(`PREFIX must be A.B.C.D/LEN, not '${prefix}'`)
      const path = apiPath('v1', 'policy', 'customer-routes', customerId!, vsidArg(vsid!), m[1]!, m[2]!)
      const res = await ctx.client.delete(path, opts)
      if (ctx.json) ctx.printJson({ removed: `${customerId} ${vsid} ${prefix}`, generation: res.generation })
      else ctx.io.out(`customer route ${customerId} ${vsid} ${prefix} removed (generation ${res.generation})\n`)
      return 0
    }
    default:
      throw new UsageError(action === undefined ? 'missing route action' : `unknown route action '${action}'`)
  }
}

async function importFile(ctx: CliContext): Promise<number> {
  const rest = ctx.positionals.slice(1)
  if (rest.length !== 1) throw new UsageError('import needs FILE.json')
  const text = readJsonText(rest[0]!)
  const res = await ctx.client.request<ImportResult>('POST', '/v1/policy/import', undefined, {
    rawBody: text,
    ifMatch: ifMatchOption(ctx),
    query: {
      mode: ctx.values.replace === true ? 'replace' : undefined,
      skipUnsupported: ctx.values['skip-unsupported'] === true ? 'true' : undefined,
    },
  })
  const r = res.body
  if (ctx.json) {
    ctx.printJson(r)
    return 0
  }
  const parts = [`${r.added} added`, `${r.updated} updated`, `${r.unchanged} unchanged`]
  if (ctx.values.replace === true) parts.push(`${r.removed} removed`)
  if (r.skipped.length > 0) parts.push(`${r.skipped.length} skipped`)
  ctx.io.out(`imported ${rest[0]}: ${parts.join(', ')}; ${r.total} lookup records (generation ${r.generation})\n`)
  for (const s of r.skipped) ctx.io.out(`  skipped record ${s.index}: ${s.reason}\n`)
  return 0
}

async function run(ctx: CliContext): Promise<number> {
  const [area, action] = ctx.positionals
  switch (area) {
    case 'lookup':
    case 'lookup-records':
      return lookup(ctx, action)
    case 'route':
    case 'routes':
    case 'customer-routes':
      return route(ctx, action)
    case 'import':
      return importFile(ctx)
    default:
      throw new UsageError(area === undefined ? 'missing lookup, route or import' : `unknown policy area '${area}'`)
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: OPTIONS, run })
}
