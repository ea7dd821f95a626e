/** nvlb health: every probed backend with its health, since when, the last error and the probe latency. */
import { UsageError, runCommand, type CliContext } from '../../lib/api/cli-common'
import { healthTable } from '../../lib/health/health-table'
import type { HealthEntry } from '../../lib/health/health-monitor'

const USAGE = `usage: nvlb health [--pool NAME] [--json]

Every backend a health probe judges: pool, backend (VSID/CA:port), state
(up, down, or unknown before its first verdict), since when, the probe, the
last check, the last error and the latency of the last successful probe.

options:
  --pool NAME   only this pool's backends`

interface HealthAnswer {
  backends: HealthEntry[]
  tunnel: Record<string, number>
}

async function run(ctx: CliContext): Promise<number> {
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument '${ctx.positionals[0]}'`)
  const pool = ctx.values.pool as string | undefined
  const { body } = await ctx.client.get<HealthAnswer>('/v1/health')
  const entries = pool === undefined ? body.backends : body.backends.filter((e) => e.pool === pool)
  if (ctx.json) ctx.printJson(pool === undefined ? body : { ...body, backends: entries })
  else ctx.io.out(entries.length === 0 ? 'no probed backends (no VIP rule names a probe)\n' : healthTable(entries))
  return 0
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: { pool: { type: 'string' } }, run })
}
