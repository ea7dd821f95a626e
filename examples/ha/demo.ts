/**
 * `nvlb demo --instances N`: the reference deployment with N nvlb instances behind a BGP router
 * (deploy.ts), HTTP load through the public VIPs from the client, and per VIP the share each
 * backend answered, and per instance the flows it carried, the replies of other instances'
 * connections it translated without a flow (the shared return path, docs/ha.md) and the replies
 * it could not match.
 *
 * --once: tear down, exit 0 when every public VIP was answered by all of its own tenant's backends
 * and only by them, without errors, and every instance carried traffic; 1 otherwise.
 */
import { parseArgs } from 'node:util'
import { randomPrefix } from '../blue-red/topology'
import { formatTable } from '../../lib/cli/table'
import type { StatsReport } from '../../lib/dataplane/stats-report'
import { judgeVip, formatOutcomes, type VipOutcome } from '../blue-red/demo'
import { startLoad } from '../blue-red/load'
import { deployHa, type HaDeployment } from './deploy'

export const HA_DEMO_USAGE = `usage: nvlb demo --instances N [--once] [--prefix P] [--duration S] [--connections N] [--workers N] [--json]

The reference deployment with N (2..8) nvlb instances in <prefix>-nvlb1..N behind <prefix>-router,
which learns the public VIPs from each instance by BGP (BIRD) and spreads the client's flows over
them by ECMP. Needs root and bird2.`

export interface InstanceOutcome {
  instance: string
  nextHop: string
  /** Flows it created during the load. */
  flowsCreated: number
  rxPackets: number
  /** Still a next hop of the router's route to every public VIP after the load. */
  announced: boolean
  /** Backends its probes see down. */
  backendsDown: number
  noFlowDrops: number
  /** Public replies it translated without a flow (connections another instance carried), during the load. */
  repliesWithoutFlow: number
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: 'string' },
      once: { type: 'boolean', default: false },
      prefix: { type: 'string' },
      duration: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16' },
      workers: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(`${HA_DEMO_USAGE}\n`)
    return 0
  }
  const instances = Number(values.instances)
  if (!Number.isInteger(instances) || instances < 2 || instances > 8) {
    process.stderr.write(`nvlb demo: --instances must be 2..8\n\n${HA_DEMO_USAGE}\n`)
    return 2
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb demo: needs root (it creates network namespaces)\n')
    return 2
  }
  const prefix = values.prefix ?? randomPrefix()
  const say = (m: string): void => void process.stderr.write(`${m}\n`)
  let deployment: HaDeployment | undefined
  let stop: () => void = () => undefined
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`${signal}: stopping`)
    stop()
  }
  for (const s of signals) process.on(s, onSignal)
  try {
    deployment = await deployHa({ prefix, instances, workers: Number(values.workers), log: say })
    const d = deployment
    say(`deployment '${prefix}' ready: router next hops for 203.0.113.10: ${d.nextHops('203.0.113.10').join(', ')}`)
    const before = await Promise.all(d.instances.map(async (inst) => (await inst.api.get<StatsReport>('/v1/stats')).body))
    const outcomes: VipOutcome[] = []
    for (const target of d.vips.filter((v) => v.virtualSubnetId === 0)) {
      const load = startLoad(target.fromNamespace, target.url, { durationSeconds: Number(values.duration), connections: Number(values.connections) })
      outcomes.push(judgeVip(target, await load.result))
    }
    const perInstance: InstanceOutcome[] = []
    const publicVips = d.vips.filter((v) => v.virtualSubnetId === 0)
    for (const [k, inst] of d.instances.entries()) {
      const stats = (await inst.api.get<StatsReport>('/v1/stats')).body
      const health = (await inst.api.get<{ backends: { state: string }[] }>('/v1/health')).body.backends
      perInstance.push({
        instance: `nvlb${inst.index}`,
        nextHop: inst.node.externalAddress!,
        flowsCreated: stats.flowsCreated - before[k]!.flowsCreated,
        repliesWithoutFlow: stats.repliesWithoutFlow - before[k]!.repliesWithoutFlow,
        rxPackets: stats.rxPackets,
        noFlowDrops: stats.drops.no_flow ?? 0,
        announced: publicVips.every((v) => d.nextHops(v.address).includes(inst.node.externalAddress!)),
        backendsDown: health.filter((h) => h.state === 'down').length,
      })
    }
    if (values.json) {
      for (const o of outcomes) process.stdout.write(JSON.stringify(o) + '\n')
      for (const o of perInstance) process.stdout.write(JSON.stringify(o) + '\n')
    } else {
      process.stdout.write(formatOutcomes(outcomes))
      process.stdout.write('\n')
      process.stdout.write(
        formatTable(
          ['instance', 'next hop', 'announced', 'flows (load)', 'replies w/o flow (load)', 'rx packets', 'no_flow drops', 'backends down'],
          perInstance.map((o) => [o.instance, o.nextHop, o.announced ? 'yes' : 'NO', o.flowsCreated, o.repliesWithoutFlow, o.rxPackets, o.noFlowDrops, o.backendsDown]),
        ),
      )
    }
    const problems = [
      ...outcomes.flatMap((o) => o.problems.map((p) => `${o.vip}: ${p}`)),
      ...outcomes.filter((o) => o.errors + o.non2xx > 0).map((o) => `${o.vip}: ${o.errors} errors, ${o.non2xx} non-2xx`),
      ...perInstance.filter((o) => o.flowsCreated === 0).map((o) => `${o.instance} carried no traffic`),
      ...perInstance.filter((o) => !o.announced).map((o) => `${o.instance} no longer announces every public VIP`),
    ]
    if (values.once) {
      if (problems.length > 0) {
        say(`FAILED: ${problems.join('; ')}`)
        return 1
      }
      say('every public VIP was answered by all of its own tenant\'s backends, through every instance')
      return 0
    }
    if (problems.length > 0) say(`warning: ${problems.join('; ')}`)
    say(`'${prefix}' stays up until Ctrl-C; admin APIs: ${d.instances.map((i) => i.apiUrl).join(' ')} (token ${d.token})`)
    await stopped
    return 0
  } finally {
    if (deployment !== undefined) {
      say(`tearing down '${prefix}'`)
      await deployment.teardown()
    }
    for (const s of signals) process.off(s, onSignal)
  }
}
