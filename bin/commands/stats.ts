/** nvlb stats: packet, flow and drop counters of the running nvlb. */
import type { StatsReport } from '../../lib/dataplane/stats-report'
import { UsageError, runCommand, type CliContext } from '../../lib/cli/common'
import { statsText } from '../../lib/cli/format'

const USAGE = `usage: nvlb stats [--json]

Totals, per VIP rule, per backend and per drop reason (reasons with no drops
are left out of the table; --json shows every counter).`

async function run(ctx: CliContext): Promise<number> {
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument '${ctx.positionals[0]}'`)
  const { body } = await ctx.client.get<StatsReport>('/v1/stats')
  if (ctx.json) ctx.printJson(body)
  else ctx.io.out(statsText(body))
  return 0
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, run })
}
