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
 * instances): 32 keep-alive HTTP connections from the client through the Blue public VIP, kill -9 of
 * the instance with the most active flows, and `ha.failover_ms` (until every connection, or the one
 * that replaced it, has been answered again; the observation window when some never was) and
 * `ha.broken_connections` (connections reset or closed). The rounds run one after another on a
 * shared machine: the figures are noisy.
 */
import { parseArgs } from 'node:util'
import { readdirSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { referenceConfig } from '../examples/blue-red/topology'
import { createBgpLab, type BgpLab, type LabInstance } from '../examples/ha/bgp-lab'
import type { BgpTimers } from '../lib/ha/bird-config'
import { printMetrics, progress, type Metric } from './report'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { nodeMainCommand } from '../examples/blue-red/topology'
import { deployHa } from '../examples/ha/deploy'
import type { StatsReport } from '../lib/dataplane/stats-report'

const USAGE = `usage: nvlb bench ha [--json] [--rounds N] [--prefix P]

Router convergence when one of two nvlb instances fails (BIRD on both sides, namespaces
<prefix>-router, <prefix>-nvlb1, <prefix>-nvlb2). Needs root and bird2.

  --rounds N   failures per case; the median is reported (default 3)
  --prefix P   namespace prefix (default: a short random one)
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

/** The pid of the BIRD daemon whose configuration lives under `stateDirPart` (the instance's speaker). */
function speakerPid(inst: LabInstance): number {
  const nodePid = inst.child.pid!
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
  throw new Error(`no BIRD speaker under nvlb${inst.index} (pid ${nodePid})`)
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
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`--prefix must match [a-z][a-z0-9]{0,7}`)
  const bfd: BgpTimers = { holdSeconds: 3, bfd: { intervalMs: 100, multiplier: 3 } }
  const holdOnly: BgpTimers = { holdSeconds: 3 }

  const kill9 = async (_lab: BgpLab, victim: LabInstance): Promise<void> => {
    victim.child.kill('SIGKILL')
  }
  const freeze = async (_lab: BgpLab, victim: LabInstance): Promise<void> => {
    const bird = speakerPid(victim)
    process.kill(victim.child.pid!, 'SIGSTOP')
    process.kill(bird, 'SIGSTOP')
  }
  const sigterm = async (_lab: BgpLab, victim: LabInstance): Promise<void> => {
    victim.child.kill('SIGTERM')
  }

  progress('kill -9 of an instance (BFD 100 ms x 3, hold 3 s)')
  const k = await runCase(prefix, bfd, rounds, kill9)
  progress('a silent instance, BFD 100 ms x 3')
  const sb = await runCase(prefix, bfd, rounds, freeze)
  progress('a silent instance, BGP hold time 3 s, no BFD')
  const sh = await runCase(prefix, holdOnly, rounds, freeze)
  progress('SIGTERM (withdraw, drain 2 s, stop)')
  const st = await runCase(prefix, bfd, rounds, sigterm)

  progress('data path: 32 keep-alive connections through the Blue public VIP, kill -9 of the instance carrying most')
  const dp = await dataPathFailover(`${prefix}d`.slice(0, 8), 32, 8000)
  progress(`killed nvlb${dp.killed} (active flows per instance before: ${dp.activeFlows.join(', ')}); ${dp.recovered}/32 connections answered again within 8 s`)

  const ms = (name: string, value: number, target: number): Metric => ({ name, value, unit: 'ms', target, better: 'lower' })
  const metrics: Metric[] = [
    ms('ha.route_withdraw_kill9_ms', median(k.failover), 1000),
    ms('ha.route_withdraw_silent_bfd_ms', median(sb.failover), 1000),
    ms('ha.route_withdraw_silent_hold_ms', median(sh.failover), 3500),
    ms('ha.route_withdraw_sigterm_ms', median(st.failover), 1000),
    ms('ha.route_rejoin_ms', median([...k.rejoin, ...sb.rejoin, ...st.rejoin]), 5000),
    ms('ha.failover_ms', dp.failoverMs ?? 8000, 1000),
    { name: 'ha.broken_connections', value: dp.broken, unit: 'connections', target: 0, better: 'lower' },
    { name: 'ha.recovered_connections', value: dp.recovered, unit: 'connections', target: 32, better: 'higher' },
  ]
  printMetrics(metrics, values.json === true)
  progress(
    'router kernel route to the Blue VIP, from the failure until the failed next hop is gone (median of ' +
      `${rounds}); ha.failover_ms is the observation window (8000) when some connection never recovered`,
  )
  return 0
}

interface DataPathResult {
  killed: number
  activeFlows: number[]
  failoverMs: number | null
  broken: number
  recovered: number
}

async function dataPathFailover(prefix: string, connections: number, observeMs: number): Promise<DataPathResult> {
  const d = await deployHa({ prefix, instances: 2, log: progress })
  try {
    const child = spawn(
      'ip',
      ['netns', 'exec', d.topology.client.namespace, ...nodeMainCommand('examples/ha/keepalive-client', [
        '--host', BLUE, '--connections', String(connections), '--observe-ms', String(observeMs),
      ])],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    const errors: string[] = []
    createInterface({ input: child.stderr! }).on('line', (l) => errors.push(l))
    const lines = createInterface({ input: child.stdout! })
    const next = (timeoutMs: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`keep-alive client: no answer in ${timeoutMs} ms\n${errors.join('\n')}`)), timeoutMs)
        lines.once('line', (l) => {
          clearTimeout(timer)
          resolve(l)
        })
      })
    await next(30000)
    const activeFlows = await Promise.all(d.instances.map(async (i) => (await i.api.get<StatsReport>('/v1/stats')).body.activeFlows))
    const victim = d.instances[activeFlows.indexOf(Math.max(...activeFlows))]!
    victim.process.child.kill('SIGKILL')
    child.stdin!.write('mark\n')
    const result = JSON.parse(await next(observeMs + 10000)) as { broken: number; recovered: number; failoverMs: number | null }
    child.kill()
    return { killed: victim.index, activeFlows, ...result }
  } finally {
    await d.teardown()
  }
}
