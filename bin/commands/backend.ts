/** nvlb backend list|show|add|set|remove: one pool's backends through the admin API. */
import type { PoolBackend } from '../../lib/control/config-types'
import { apiPath } from '../../lib/cli/client'
import {
  IF_MATCH_HELP,
  IF_MATCH_OPTION,
  UsageError,
  ifMatchOption,
  intOption,
  need,
  runCommand,
  stringOption,
  type CliContext,
} from '../../lib/cli/common'
import { backendTable } from '../../lib/cli/format'

const USAGE = `usage: nvlb backend <action> POOL [...] [options]

actions:
  list POOL                                  the pool's backends
  show POOL VSID ADDRESS                     one backend
  add POOL --vsid VSID --address ADDRESS [--weight W] [--state S]
                                             add a backend (its (VSID, CA) needs a lookup record)
  set POOL VSID ADDRESS [--state S] [--weight W]
                                             change state and/or weight, nothing else
  remove POOL VSID ADDRESS                   take a backend out of the pool

options:
  --vsid VSID         the backend's virtual subnet
  --address ADDRESS   the backend's customer address (CA)
  --weight W          relative share of new flows (default 1; 0 = no new flows)
  --state S           active, draining (keeps its flows, gets no new ones) or disabled
${IF_MATCH_HELP}

examples:
  nvlb backend add blue-web --vsid 5001 --address 10.1.6.21 --weight 2
  nvlb backend set blue-web 5001 10.1.6.21 --state draining`

const OPTIONS = {
  vsid: { type: 'string' },
  address: { type: 'string' },
  weight: { type: 'string' },
  state: { type: 'string' },
  ...IF_MATCH_OPTION,
} as const

function backendPath(pool: string, vsid: string, address: string): string {
  if (!/^\d+$/.test(vsid)) throw new UsageError(`VSID must be a number, not '${vsid}'`)
  return apiPath('v1', 'pools', pool, 'backends', vsid, address)
}

function describe(b: PoolBackend): string {
  return `${b.virtualSubnetId}/${b.address} weight ${b.weight} ${b.state}`
}

async function run(ctx: CliContext): Promise<number> {
  const action = ctx.positionals[0]
  const opts = { ifMatch: ifMatchOption(ctx) }
  const weight = intOption(ctx, 'weight', 'a whole number')
  const state = stringOption(ctx, 'state')
  switch (action) {
    case 'list':
    case 'ls': {
      const [pool] = need(ctx, 1, 'POOL')
      const { body } = await ctx.client.get<PoolBackend[]>(apiPath('v1', 'pools', pool!, 'backends'))
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(body.length === 0 ? `pool ${pool} has no backends\n` : backendTable(body))
      return 0
    }
    case 'show':
    case 'get': {
      const [pool, vsid, address] = need(ctx, 3, 'POOL VSID ADDRESS')
      const { body } = await ctx.client.get<PoolBackend>(backendPath(pool!, vsid!, address!))
      if (ctx.json) ctx.printJson(body)
      else ctx.io.out(backendTable([body]))
      return 0
    }
    case 'add': {
      const [pool] = need(ctx, 1, 'POOL')
      const vsid = intOption(ctx, 'vsid', 'a VSID number')
      const address = stringOption(ctx, 'address')
      if (vsid === undefined || address === undefined) throw new UsageError('add needs --vsid and --address')
      const backend: Record<string, unknown> = { virtualSubnetId: vsid, address }
      if (weight !== undefined) backend.weight = weight
      if (state !== undefined) backend.state = state
      const res = await ctx.client.post<PoolBackend>(apiPath('v1', 'pools', pool!, 'backends'), backend, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`backend ${describe(res.body)} added to pool ${pool} (generation ${res.generation})\n`)
      return 0
    }
    case 'set':
    case 'update': {
      const [pool, vsid, address] = need(ctx, 3, 'POOL VSID ADDRESS')
      const patch: Record<string, unknown> = {}
      if (state !== undefined) patch.state = state
      if (weight !== undefined) patch.weight = weight
      if (Object.keys(patch).length === 0) throw new UsageError('set needs --state and/or --weight')
      const res = await ctx.client.patch<PoolBackend>(backendPath(pool!, vsid!, address!), patch, opts)
      if (ctx.json) ctx.printJson(res.body)
      else ctx.io.out(`backend ${describe(res.body)} in pool ${pool} (generation ${res.generation})\n`)
      return 0
    }
    case 'remove':
    case 'rm':
    case 'delete': {
      const [pool, vsid, address] = need(ctx, 3, 'POOL VSID ADDRESS')
      const res = await ctx.client.delete(backendPath(pool!, vsid!, address!), opts)
      if (ctx.json) ctx.printJson({ removed: `${vsid}/${address}`, pool, generation: res.generation })
      else ctx.io.out(`backend ${vsid}/${address} removed from pool ${pool} (generation ${res.generation})\n`)
      return 0
    }
    default:
      throw new UsageError(action === undefined ? 'missing action' : `unknown action '${action}'`)
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: OPTIONS, run })
}
