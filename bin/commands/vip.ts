/** nvlb vip list|show|create|replace|set|delete: VIPs through the admin API. */
import type { Vip, VipRule } from '../../lib/control/config-types'
import { apiPath } from '../../lib/api/client'
import {
  IF_MATCH_HELP,
  IF_MATCH_OPTION,
  UsageError,
  ifMatchOption,
  intOption,
  listOption,
  need,
  readJsonFile,
  runCommand,
  stringOption,
  type CliContext,
} from '../../lib/api/cli-common'
import { vipDetails, vipTable } from '../../lib/api/cli-format'

const USAGE = `usage: nvlb vip <action> [options]

actions:
  list                         every VIP and its rules
  show NAME                    one VIP
  create --file VIP.json       create a VIP from a JSON file, or from flags:
  create --name NAME --address ADDRESS [--vsid VSID] [--nat dnat|fullnat] --rule RULE...
  replace NAME --file VIP.json replace a VIP
  set NAME [--address A] [--vsid V] [--nat M] [--rule RULE...]
                               change only the given fields (--rule replaces all rules)
  delete NAME                  delete a VIP

options:
  --file FILE          the VIP as JSON (one entry of the configuration's 'vips')
  --name NAME          VIP name
  --address ADDRESS    the VIP address
  --vsid VSID          0 for a public VIP (default), else the tenant VSID of a CA VIP
  --nat MODE           dnat (default for public VIPs) or fullnat (default for CA VIPs)
  --rule RULE          PROTOCOL:PORT[:BACKENDPORT]=POOL, e.g. tcp:80=blue-web or tcp:443:8443=blue-web (repeatable)
  --distribution D     5-tuple (default), 3-tuple or 2-tuple, for the --rule rules
  --idle-timeout S     idle timeout in seconds for the --rule rules (default 240)
${IF_MATCH_HELP}

examples:
  nvlb vip list
  nvlb vip create --name blue-public --address 203.0.113.10 --rule tcp:80=blue-web
  nvlb vip set blue-public --rule tcp:80=blue-web --rule tcp:443=blue-web`

const OPTIONS = {
  file: { type: 'string' },
  name: { type: 'string' },
  address: { type: 'string' },
  vsid: { type: 'string' },
  nat: { type: 'string' },
  rule: { type: 'string', multiple: true },
  distribution: { type: 'string' },
  'idle-timeout': { type: 'string' },
  ...IF_MATCH_OPTION,
} as const

/** `tcp:80=blue-web`, `udp:53:5353=dns` → a rule. */
export function parseRule(text: string, distribution?: string, idleTimeoutSeconds?: number): Partial<VipRule> {
  const m = /^(tcp|udp):(\d{1,5})(?::(\d{1,5}))?=(.+)$/i.exec(text)
  if (m === null) throw new UsageError(`--rule must be PROTOCOL:PORT[:BACKENDPORT]=POOL (e.g. tcp:80=blue-web), not '${text}'`)
  const rule: Record<string, unknown> = { protocol: m[1]!.toLowerCase(), frontendPort: Number(m[2]), pool: m[4] }
  if (m[3] !== undefined) rule.backendPort = Number(m[3])
  if (distribution !== undefined) rule.distribution = distribution
  if (idleTimeoutSeconds !== undefined) rule.idleTimeoutSeconds = idleTimeoutSeconds
  return rule as Partial<VipRule>
}

function flagFields(ctx: CliContext): Record<string, unknown> {
  const fields: Record<string, unknown> = {}
  const address = stringOption(ctx, 'address')
  if (address !== undefined) fields.address = address
  const vsid = intOption(ctx, 'vsid', 'a VSID number')
  if (vsid !== undefined) fields.virtualSubnetId = vsid
  const nat = stringOption(ctx, 'nat')
  if (nat !== undefined) fields.natMode = nat
  const rules = listOption(ctx, 'rule')
  if (rules.length > 0) {
    const distribution = stringOption(ctx, 'distribution')
    const idle = intOption(ctx, 'idle-timeout', 'a number of seconds')
    fields.rules = rules.map((r) => parseRule(r, distribution, idle))
  }
  return fields
}

async function run(ctx: CliContext): Promise<number> {
  const action = ctx.positionals[0]
  const opts = { ifMatch: ifMatchOption(ctx) }
  switch (action) {
    case 'list':
    case 'ls': {
      need(ctx, 0, 'no arguments')
      const { body } = await ctx.client.get<Vip[]>('/v1/vips')
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(body.length === 0 ? 'no VIPs\n' : vipTable(body))
      return 0
    }
    case 'show':
    case 'get': {
      const [name] = need(ctx, 1, 'NAME')
      const { body } = await ctx.client.get<Vip>(apiPath('v1', 'vips', name!))
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(vipDetails(body))
      return 0
    }
    case 'create':
    case 'add': {
      need(ctx, 0, 'no positional arguments (use --name)')
      const file = stringOption(ctx, 'file')
      let vip: Record<string, unknown>
      if (file !== undefined) {
        vip = readJsonFile(file) as Record<string, unknown>
      } else {
        const name = stringOption(ctx, 'name')
        if (name === undefined) throw new UsageError('create needs --file VIP.json or --name, --address and --rule')
        vip = { name, virtualSubnetId: 0, ...flagFields(ctx) }
        if (vip.address === undefined || vip.rules === undefined) throw new UsageError('create needs --address and at least one --rule')
      }
      const res = await ctx.client.post<Vip>('/v1/vips', vip, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`vip ${res.body.name} created (generation ${res.generation})\n`)
      return 0
    }
    case 'replace': {
      const [name] = need(ctx, 1, 'NAME')
      const file = stringOption(ctx, 'file')
      if (file === undefined) throw new UsageError('replace needs --file VIP.json')
      const vip = { name, ...(readJsonFile(file) as Record<string, unknown>) }
      const res = await ctx.client.put<Vip>(apiPath('v1', 'vips', name!), vip, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`vip ${name} replaced (generation ${res.generation})\n`)
      return 0
    }
    case 'set':
    case 'update': {
      const [name] = need(ctx, 1, 'NAME')
      const fields = flagFields(ctx)
      if (Object.keys(fields).length === 0) throw new UsageError('set needs at least one of --address, --vsid, --nat, --rule')
      const res = await ctx.client.patch<Vip>(apiPath('v1', 'vips', name!), fields, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`vip ${name} changed (generation ${res.generation})\n`)
      return 0
    }
    case 'delete':
    case 'rm': {
      const [name] = need(ctx, 1, 'NAME')
      const res = await ctx.client.delete(apiPath('v1', 'vips', name!), opts)
      if (ctx.json) ctx.printJson({ deleted: name, generation: res.generation })
      else ctx.io.out(`vip ${name} deleted (generation ${res.generation})\n`)
      return 0
    }
    default:
      throw new UsageError(action === undefined ? 'missing action' : `unknown action '${action}'`)
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: OPTIONS, run })
}
