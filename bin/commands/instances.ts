/** nvlb instances: every nvlb instance sharing this configuration (through etcd), as the registry lists them. */
import { UsageError, runCommand, type CliContext } from '../../lib/cli/common'
import { instancesTable } from '../../lib/cli/instances-table'
import type { InstanceInfo } from '../../lib/control/instance-registry'

const USAGE = `usage: nvlb instances [--json]

Every nvlb instance that shares the configuration of the one asked (nvlb run
--store etcd://…): name, provider and external address, admin API, the
generation it runs, whether it is ready and reaches etcd, and when it last
wrote its entry. A stopped or dead instance disappears when its lease expires
(nvlb run --instance-ttl). Without a shared store the list is the instance itself.`

async function run(ctx: CliContext): Promise<number> {
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument '${ctx.positionals[0]}'`)
  const { body } = await ctx.client.get<{ instances: InstanceInfo[] }>('/v1/instances')
  if (ctx.json) ctx.printJson(body)
  else ctx.io.out(instancesTable(body.instances))
  return 0
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, run })
}
