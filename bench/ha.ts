/**
 * nvlb bench ha: how fast the router stops sending a VIP's traffic to an instance that failed,
 * with real BIRD daemons in network namespaces (examples/ha/bgp-lab.ts: a router and two
 * instances announcing the Blue and Red public VIPs; the router holds one ECMP route per VIP).
 *
 * Per case, the time from the failure until the router's kernel route to the Blue VIP has
 * lost the failed instance's next hop (polled every 5 ms):
 *  - kill -9 of nvlb: its BGP speaker dies with it (pdeathsig), the session closes at once;
 *  - a silent instance (nvlb and its speaker frozen with SIGSTOP, like a hung machine): only
 *    BFD (100 ms × 3) or, without BFD, the BGP hold time (3 s) notices it;
 *  - rejoin: a fresh instance until its next hop is back in the route;
 *  - SIGTERM: the instance withdraws itself before it stops.
 *
 * Then the data path (examples/ha/deploy.ts: the reference deployment behind the router, two
 * instances, the shared return path of docs/ha.md), once with BFD and once with the BGP hold time
 * alone: 32 keep-alive HTTP connections from the client through the Blue public VIP and, one after
 * another, kill -9 of the instance carrying most of them, its rejoin, the same instance silent
 * (frozen), a SIGTERM of it; with BFD also 32 full-NAT connections from blue-vm11 through the Blue CA
 * VIP and kill -9 of the instance that owns them. Per case: connections reset or closed
 * (`ha.broken_connections`), connections answered again, the time from the failure until every
 * connection has been answered again to a request sent after it (`ha.failover_ms`; the 8 s window
 * when some never was) and the longest wait of any request. One run of each, one after another on
 * a shared machine: the figures are noisy.
 */
import { parseArgs } from 'node:util'
import { readdirSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { referenceConfig } from '../examples/blue-red/topology'
import { createBgpLab, type BgpLab, type LabInstance } from '../examples/ha/bgp-lab'
import type { BgpTimers } from '../lib/ha/bird-config'
import { printMetrics, progress, type Metric } from './report'
import { formatTable } from '../lib/cli/table'
import { deployHa, SHARED_PA, type HaDeployment, type HaInstance } from '../examples/ha/deploy'
import { startKeepalive, type PhaseOutcome } from '../examples/ha/keepalive-driver'
import type { StatsReport } from '../lib/dataplane/stats-report'

const USAGE = `usage: nvlb bench ha [--json] [--rounds N] [--prefix P] [--cases all|router|data-path]

Router convergence when one of two nvlb instances fails (BIRD on both sides, namespaces
<prefix>-router, <prefix>-nvlb1, <prefix>-nvlb2), then the connections through the VIPs
(namespaces <prefix>b-*, <prefix>h-*). Needs root and bird2.

  --rounds N   failures per router case; the median is reported (default 3)
  --prefix P   namespace prefix, at most 7 characters (default: a short random one)
  --cases C    router: route convergence only; data-path: the connections only (default all)
  --json       one JSON object per metric line`

const BLUE = '203.0.113.10'

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

async function until(what: string, ok: () => boolean, timeoutMs = 20000): Promise<number> {
  const start = process.hrtime.bigint()
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await delay(5)
  }
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** The pid of the BIRD daemon nvlb process `nodePid` started (the instance's speaker). */
function speakerPid(nodePid: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (ppid === nodePid && cmd.startsWith('bird\0')) return Number(entry)
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no BIRD speaker under nvlb (pid ${nodePid})`)
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function both(lab: BgpLab): Promise<void> {
  await until('both next hops', () => lab.nextHops(BLUE).length === 2)
}

/** Rounds of one failure kind on a lab with `timers`; returns the failure → route-change times. */
async function runCase(
  prefix: string,
  timers: BgpTimers,
  rounds: number,
  fail: (lab: BgpLab, victim: LabInstance) => Promise<void>,
): Promise<{ failover: number[]; rejoin: number[] }> {
  const lab = await createBgpLab(prefix, 2, timers)
  const failover: number[] = []
  const rejoin: number[] = []
  try {
    await lab.startInstance(1, referenceConfig())
    let victim = await lab.startInstance(2, referenceConfig())
    await both(lab)
    for (let r = 0; r < rounds; r++) {
      const gone = lab.nextHopOf(2)
      const start = process.hrtime.bigint()
      await fail(lab, victim)
      await until('failed next hop gone', () => !lab.nextHops(BLUE).includes(gone))
      failover.push(Number(process.hrtime.bigint() - start) / 1e6)
      if (victim.child.exitCode === null && victim.child.signalCode === null) victim.child.kill('SIGKILL')
      await victim.exited
      victim = await lab.startInstance(2, referenceConfig())
      rejoin.push(await until('rejoined', () => lab.nextHops(BLUE).length === 2))
    }
  } finally {
    lab.destroy()
  }
  return { failover, rejoin }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '3' },
      prefix: { type: 'string' },
      cases: { type: 'string', default: 'all' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb bench ha: needs root (network namespaces)\n')
    return 2
  }
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error('--rounds must be 1..50')
  const prefix = values.prefix ?? `ha${randomBytes(2).toString('hex')}`
  if (!/^[a-z][a-z0-9]{0,6}$/.test(prefix)) throw new Error(`--prefix must match [a-z][a-z0-9]{0,6}`)
  const bfd: BgpTimers = { holdSeconds: 3, bfd: { intervalMs: 100, multiplier: 3 } }
  const holdOnly: BgpTimers = { holdSeconds: 3 }

  const kill9 = async (_lab: BgpLab, victim: LabInstance): Promise<void> => {
    victim.child.kill('SIGKILL')
  }
  const freeze = async (_lab: BgpLab, victim: LabInstance): Promise<void> => {
    const bird = speakerPid(victim.child.pid!)
    process.kill(victim.child.pid!, 'SIGSTOP')
    process.kill(bird, 'SIGSTOP')
  }
  const sigterm = async (_lab: BgpLab, victim: LabInstance): Promise<void> => {
    victim.child.kill('SIGTERM')
  }

  const cases = values.cases
  if (cases !== 'all' && cases !== 'router' && cases !== 'data-path') throw new Error('--cases must be all, router or data-path')
  const ms = (name: string, value: number, target: number): Metric => ({ name, value, unit: 'ms', target, better: 'lower' })
  const metrics: Metric[] = []
  if (cases !== 'data-path') {
    progress('kill -9 of an instance (BFD 100 ms x 3, hold 3 s)')
    const k = await runCase(prefix, bfd, rounds, kill9)
    progress('a silent instance, BFD 100 ms x 3')
    const sb = await runCase(prefix, bfd, rounds, freeze)
    progress('a silent instance, BGP hold time 3 s, no BFD')
    const sh = await runCase(prefix, holdOnly, rounds, freeze)
    progress('SIGTERM (withdraw, drain 2 s, stop)')
    const st = await runCase(prefix, bfd, rounds, sigterm)
    metrics.push(
      ms('ha.route_withdraw_kill9_ms', median(k.failover), 1000),
      ms('ha.route_withdraw_silent_bfd_ms', median(sb.failover), 1000),
      ms('ha.route_withdraw_silent_hold_ms', median(sh.failover), 3500),
      ms('ha.route_withdraw_sigterm_ms', median(st.failover), 1000),
      ms('ha.route_rejoin_ms', median([...k.rejoin, ...sb.rejoin, ...st.rejoin]), 5000),
    )
  }
  if (cases !== 'router') metrics.push(...(await dataPathMetrics(prefix, bfd, holdOnly)))
  printMetrics(metrics, values.json === true)
  progress(
    'router cases: kernel route to the Blue VIP, from the failure until the failed next hop is gone (median of ' +
      `${rounds}); data path: from the failure until every connection has been answered again (the ${FAILOVER_WINDOW_MS} ms window when some never was)`,
  )
  return 0
}

async function dataPathMetrics(prefix: string, bfd: BgpTimers, holdOnly: BgpTimers): Promise<Metric[]> {
  const ms = (name: string, value: number, target: number): Metric => ({ name, value, unit: 'ms', target, better: 'lower' })
  progress('data path, BFD 100 ms x 3: 32 keep-alive connections through the Blue public VIP')
  const withBfd = await dataPath(`${prefix}b`, bfd, true)
  progress('data path, BGP hold time 3 s, no BFD')
  const withHold = await dataPath(`${prefix}h`, holdOnly, false)
  const pb = withBfd.phases
  const ph = withHold.phases
  const rows = [
    ['kill -9, BFD', pb.kill9!], ['kill -9, hold only', ph.kill9!], ['silent, BFD', pb.silent!], ['silent, hold only', ph.silent!],
    ['rejoin, BFD', pb.rejoin!], ['SIGTERM, BFD', pb.sigterm!], ['CA VIP (full NAT), kill -9 of the owner', pb.caVipOwner!],
  ] as const
  progress(formatTable(['case (32 keep-alive connections)', 'broken', 'answered again', 'all answered after ms', 'longest stall ms', 'requests'],
    rows.map(([name, p]) => [name, p.broken, `${p.recovered}/${p.connections}`, p.failoverMs === null ? `none within ${FAILOVER_WINDOW_MS}` : Math.round(p.failoverMs), p.stallMs, p.requests])).trimEnd())
  const window = (p: PhaseOutcome): number => p.failoverMs ?? FAILOVER_WINDOW_MS

  return [
    ms('ha.failover_ms', window(pb.kill9!), 1000),
    { name: 'ha.broken_connections', value: pb.kill9!.broken, unit: 'connections', target: 0, better: 'lower' },
    { name: 'ha.recovered_connections', value: pb.kill9!.recovered, unit: 'connections', target: 32, better: 'higher' },
    ms('ha.failover_hold_ms', window(ph.kill9!), 1000),
    { name: 'ha.broken_connections_hold', value: ph.kill9!.broken, unit: 'connections', target: 0, better: 'lower' },
    ms('ha.failover_silent_bfd_ms', window(pb.silent!), 1000),
    ms('ha.failover_silent_hold_ms', window(ph.silent!), 3500),
    { name: 'ha.broken_connections_silent', value: pb.silent!.broken + ph.silent!.broken, unit: 'connections', target: 0, better: 'lower' },
    { name: 'ha.broken_connections_rejoin', value: pb.rejoin!.broken, unit: 'connections', target: 0, better: 'lower' },
    ms('ha.rejoin_stall_ms', pb.rejoin!.stallMs, 1000),
    { name: 'ha.broken_connections_sigterm', value: pb.sigterm!.broken, unit: 'connections', target: 0, better: 'lower' },
    ms('ha.sigterm_stall_ms', pb.sigterm!.stallMs, 1000),
    { name: 'ha.ca_vip_recovered_connections', value: pb.caVipOwner!.recovered, unit: 'connections', target: 32, better: 'higher' },
  ]
}

interface DataPathCase {
  /** Phase outcomes by case name. */
  phases: Record<string, PhaseOutcome & { killed?: number; activeFlows?: number[] }>
}

const FAILOVER_WINDOW_MS = 8000

/** The router's kernel routes to the Blue VIP and the shared PA go over exactly these next hops (bounded wait). */
async function routedOver(d: HaDeployment, instances: readonly HaInstance[]): Promise<void> {
  const external = instances.map((i) => i.node.externalAddress!).sort()
  const provider = instances.map((i) => i.node.providerAddress).sort()
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, k) => x === b[k])
  await until('router routes', () => same(d.nextHops(BLUE), external) && same(d.nextHops(SHARED_PA), provider))
}

/**
 * The data path on the reference deployment behind the router, two instances, `timers`:
 * 32 keep-alive connections through the Blue public VIP and, one after another, kill -9 of the
 * instance carrying most of them, its rejoin, a silent (frozen) instance, a SIGTERM; with
 * `caVip`, then 32 full-NAT connections through the Blue CA VIP and kill -9 of their owner.
 */
async function dataPath(prefix: string, timers: BgpTimers, caVip: boolean): Promise<DataPathCase> {
  const d = await deployHa({ prefix, instances: 2, timers, log: progress })
  const phases: DataPathCase['phases'] = {}
  const all = (): HaInstance[] => [...d.instances]
  try {
    const client = await startKeepalive(d.topology.client.namespace, BLUE, 32)
    try {
      const activeFlows = await Promise.all(d.instances.map(async (i) => (await i.api.get<StatsReport>('/v1/stats')).body.activeFlows))
      const victim = d.instances[activeFlows.indexOf(Math.max(...activeFlows))]!.index
      const inst = (i: number): HaInstance => d.instances.find((x) => x.index === i)!
      const others = (i: number): HaInstance[] => d.instances.filter((x) => x.index !== i)

      progress(`kill -9 of nvlb${victim} (active flows per instance: ${activeFlows.join(', ')})`)
      phases.kill9 = {
        ...(await client.phase(async () => {
          inst(victim).process.child.kill('SIGKILL')
          await routedOver(d, others(victim))
        }, FAILOVER_WINDOW_MS)),
        killed: victim,
        activeFlows,
      }
      progress(`nvlb${victim} rejoins`)
      const rejoin = await client.phase(async () => {
        await d.restart(victim)
        await routedOver(d, all())
      }, FAILOVER_WINDOW_MS)
      const settled = await client.phase(async () => undefined, FAILOVER_WINDOW_MS)
      phases.rejoin = { ...settled, broken: rejoin.broken + settled.broken, stallMs: Math.max(rejoin.stallMs, settled.stallMs) }

      progress(`nvlb${victim} silent (nvlb and its BGP speaker frozen)`)
      phases.silent = await client.phase(async () => {
        const pid = inst(victim).process.child.pid!
        const bird = speakerPid(pid)
        process.kill(pid, 'SIGSTOP')
        process.kill(bird, 'SIGSTOP')
        await routedOver(d, others(victim))
      }, FAILOVER_WINDOW_MS)
      inst(victim).process.child.kill('SIGKILL')
      await d.restart(victim)
      await routedOver(d, all())

      progress(`SIGTERM of nvlb${victim} (withdraw, drain 2 s, stop)`)
      phases.sigterm = await client.phase(async () => {
        await inst(victim).process.stop(10000)
        await routedOver(d, others(victim))
      }, FAILOVER_WINDOW_MS)
      await d.restart(victim)
      await routedOver(d, all())
    } finally {
      await client.stop()
    }

    if (caVip) {
      // Full NAT: the CA VIP's lookup record is on nvlb1's PA, so nvlb1 owns every NAT port.
      const app = d.topology.vms.find((v) => v.name === 'blue-vm11')!
      const ca = await startKeepalive(app.namespace, '10.1.5.100', 32)
      try {
        progress('kill -9 of nvlb1, the owner of the CA VIP connections (full NAT)')
        phases.caVipOwner = { ...(await ca.phase(async () => {
          d.instances.find((x) => x.index === 1)!.process.child.kill('SIGKILL')
          await routedOver(d, d.instances.filter((x) => x.index !== 1))
        }, 5000)), killed: 1 }
      } finally {
        await ca.stop()
      }
    }
  } finally {
    await d.teardown()
  }
  return { phases }
}
