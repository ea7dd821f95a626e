/** nvlb pool list|show|create|replace|delete: backend pools through the admin API. */
import type { Pool, PoolBackend, Vip } from '../../lib/control/config-types'
import { apiPath } from '../../lib/api/client'
import {
  IF_MATCH_HELP,
  IF_MATCH_OPTION,
  UsageError,
  ifMatchOption,
  listOption,
  need,
  readJsonFile,
  runCommand,
  stringOption,
  type CliContext,
} from '../../lib/api/cli-common'
import { backendTable, poolTable } from '../../lib/api/cli-format'

const USAGE = `usage: nvlb pool <action> [options]

actions:
  list                          every pool: backends by state, the VIPs using it
  show NAME                     one pool's backends
  create NAME [--backend B...]  create a pool (or: create --file POOL.json)
  replace NAME --file POOL.json replace a pool's backends
  delete NAME                   delete a pool no VIP uses

options:
  --file FILE         the pool as JSON (one entry of the configuration's 'pools')
  --backend B         VSID/ADDRESS[*WEIGHT], e.g. 5001/10.1.6.21 or 5001/10.1.6.22*2 (repeatable)
${IF_MATCH_HELP}

Backends one at a time: 'nvlb backend --help'.`

const OPTIONS = {
  file: { type: 'string' },
  backend: { type: 'string', multiple: true },
  ...IF_MATCH_OPTION,
} as const

export function parseBackend(text: string): Partial<PoolBackend> {
  const m = /^(\d+)\/([^*]+?)(?:\*(\d+))?$/.exec(text)
  if (m === null) throw new UsageError(`--backend must be VSID/ADDRESS[*WEIGHT] (e.g. 5001/10.1.6.21*2), not '${text}'`)
  const backend: Partial<PoolBackend> = { virtualSubnetId: Number(m[1]), address: m[2]! }
  if (m[3] !== undefined) backend.weight = Number(m[3])
  return backend
}

async function run(ctx: CliContext): Promise<number> {
  const action = ctx.positionals[0]
  const opts = { ifMatch: ifMatchOption(ctx) }
  switch (action) {
    case 'list':
    case 'ls': {
      need(ctx, 0, 'no arguments')
      const [pools, vips] = await Promise.all([ctx.client.get<Pool[]>('/v1/pools'), ctx.client.get<Vip[]>('/v1/vips')])
      if (ctx.json) ctx.printJson(pools.body)
      else ctx.io.out(pools.body.length === 0 ? 'no pools\n' : poolTable(pools.body, vips.body))
      return 0
    }
    case 'show':
    case 'get': {
      const [name] = need(ctx, 1, 'NAME')
      const { body } = await ctx.client.get<Pool>(apiPath('v1', 'pools', name!))
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(`pool ${body.name}: ${body.backends.length} backends\n\n` + backendTable(body.backends, { health: true }))
      return 0
    }
    case 'create':
    case 'add': {
      const file = stringOption(ctx, 'file')
      let pool: Record<string, unknown>
      if (file !== undefined) {
        const args = ctx.positionals.slice(1)
        if (args.length > 1) throw new UsageError('expected at most NAME')
        pool = readJsonFile(file) as Record<string, unknown>
        if (args[0] !== undefined) pool.name = args[0]
      } else {
        const [name] = need(ctx, 1, 'NAME')
        pool = { name, backends: listOption(ctx, 'backend').map(parseBackend) }
      }
      const res = await ctx.client.post<Pool>('/v1/pools', pool, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`pool ${res.body.name} created with ${res.body.backends.length} backends (generation ${res.generation})\n`)
      return 0
    }
    case 'replace': {
      const [name] = need(ctx, 1, 'NAME')
      const file = stringOption(ctx, 'file')
      const backends = listOption(ctx, 'backend')
      let pool: Record<string, unknown>
      if (file !== undefined) pool = { ...(readJsonFile(file) as Record<string, unknown>), name }
      else if (backends.length > 0) pool = { name, backends: backends.map(parseBackend) }
      else throw new UsageError('replace needs --file POOL.json or --backend')
      const res = await ctx.client.put<Pool>(apiPath('v1', 'pools', name!), pool, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`pool ${name} replaced (generation ${res.generation})\n`)
      return 0
    }
    case 'delete':
    case 'rm': {
      const [name] = need(ctx, 1, 'NAME')
      const res = await ctx.client.delete(apiPath('v1', 'pools', name!), opts)
      if (ctx.json) ctx.printJson({ deleted: name, generation: res.generation })
      else ctx.io.out(`pool ${name} deleted (generation ${res.generation})\n`)
      return 0
    }
    default:
      throw new UsageError(action === undefined ? 'missing action' : `unknown action '${action}'`)
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: OPTIONS, run })
}
