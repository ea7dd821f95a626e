/**
 * `nvlb demo`: the reference deployment (two tenants in network namespaces) brought up with deploy.ts, HTTP load
 * through all four VIPs — the Blue and Red public VIPs from the client, the Blue and Red
 * CA VIPs from blue-vm11 and red-vm11 — and per VIP: requests/s, latency p50/p99, errors
 * and the share of requests each backend answered.
 *
 * Every VIP's rules carry an HTTP probe (config.json, `web-http`); after the load the report
 * prints each backend's health as the probes see it (and --json gives it per VIP).
 *
 * --once: tear down and exit 0 when every VIP was answered only by its own tenant's
 * backends and by all of them, and the probes judged every backend up; 1 otherwise (with the reason). Without it the deployment
 * stays up, admin API reachable, until Ctrl-C (or SIGTERM), which tears it down (exit 0).
 */
import { parseArgs } from 'node:util'
import { formatTable } from '../../lib/cli/table'
import type { HealthEntry } from '../../lib/health/health-monitor'
import { healthTable } from '../../lib/health/health-table'
import { deploy, type Deployment, type VipTarget } from './deploy'
import { startLoad, type LoadResult, type LoadRun } from './load'
import { removeManagementLink } from './management-link'
import { destroyTopology, randomPrefix } from './topology'

export const DEMO_USAGE = `usage: nvlb demo [--once] [--prefix P] [--duration S] [--connections N] [--workers N] [--json]

Brings up the reference deployment (network namespaces <prefix>-*, host emulators, VM web
servers, nvlb configured through its admin API), drives HTTP load through the four VIPs and
prints requests/s, latency, errors, the share each backend answered and each backend's
health (HTTP probes through the overlay). Needs root.

options:
  --once             tear down afterwards; exit 0 iff every VIP was served by all of its own
                     tenant's backends and by nothing else and the health probes saw every
                     backend up, 1 otherwise
  --prefix P         namespace prefix (default: a short random one)
  --duration S       seconds of load per VIP (default 3)
  --connections N    concurrent connections per VIP (default 16)
  --workers N        nvlb packet worker threads (default 1)
  --json             print the per-VIP results as one JSON object per line
  --instances N      N (2..8) nvlb instances behind a BGP router instead of one (needs bird2; docs/ha.md)
  -h, --help         this help`

export interface VipOutcome {
  vip: string
  url: string
  from: string
  tenant: string
  requestsPerSecond: number
  requests: number
  p50Us: number
  p99Us: number
  errors: number
  non2xx: number
  /** Backend name → share of the answers (0..1). */
  shares: Record<string, number>
  /** Empty when the VIP behaved; otherwise why not. */
  problems: string[]
  /** Backend VM → its health as nvlb's probes see it (up, down, unknown). */
  health?: Record<string, string>
}

/** Judge one VIP's run: only its own tenant's backends answered, and every one of them. */
export function judgeVip(target: VipTarget, result: LoadResult): VipOutcome {
  const problems: string[] = []
  const answered = Object.entries(result.backends).filter(([, n]) => n > 0)
  const total = answered.reduce((sum, [, n]) => sum + n, 0)
  if (result.requests === 0 || total === 0) problems.push('no request was answered')
  const foreign = answered.filter(([name]) => !target.backends.includes(name)).map(([name]) => name)
  if (foreign.length > 0) problems.push(`answered by ${foreign.join(', ')}, not in pool ${target.pool} (${target.tenant})`)
  const silent = target.backends.filter((name) => (result.backends[name] ?? 0) === 0)
  if (silent.length > 0 && total > 0) problems.push(`backends that never answered: ${silent.join(', ')}`)
  const shares: Record<string, number> = {}
  for (const [name, n] of answered) shares[name] = total === 0 ? 0 : n / total
  return {
    vip: target.name,
    url: target.url,
    from: target.fromNode,
    tenant: target.tenant,
    requestsPerSecond: result.rps,
    requests: result.requests,
    p50Us: result.p50Us,
    p99Us: result.p99Us,
    errors: result.errors,
    non2xx: result.non2xx,
    shares,
    problems,
  }
}

/** How long the report waits for every probed backend's first verdict. */
const HEALTH_VERDICT_TIMEOUT_MS = 15000

interface HealthReport {
  backends: HealthEntry[]
  notProbing: string | null
}

/** GET /v1/health once no probed backend is `unknown` any more (or at the deadline, as it is then). */
async function probeVerdicts(d: Deployment, timeoutMs: number): Promise<HealthReport> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const report = (await d.api.get<HealthReport>('/v1/health')).body
    const settled = report.backends.length > 0 && report.backends.every((e) => e.state !== 'unknown')
    if (settled || report.notProbing !== null || Date.now() >= deadline) return report
    await new Promise((r) => setTimeout(r, 250))
  }
}

function ms(us: number): string {
  return (us / 1000).toFixed(2)
}

export function formatOutcomes(outcomes: readonly VipOutcome[]): string {
  const rows = outcomes.map((o) => [
    o.vip,
    `${o.from} → ${o.url.replace(/^http:\/\//, '').replace(/\/$/, '')}`,
    Math.round(o.requestsPerSecond),
    ms(o.p50Us),
    ms(o.p99Us),
    o.errors + o.non2xx,
    Object.entries(o.shares)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, share]) => `${name} ${(share * 100).toFixed(0)}%`)
      .join('  '),
    o.problems.length === 0 ? 'ok' : 'FAIL',
  ])
  return formatTable(['vip', 'from → to', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'answered by', 'tenant check'], rows)
}

/** One line on stderr, rewritten in place on a terminal, at most every few seconds otherwise. */
class ProgressLine {
  private lastPrinted = 0
  private shown = false
  constructor(private readonly tty = process.stderr.isTTY === true) {}

  update(text: string): void {
    if (this.tty) {
      process.stderr.write(`\r${text}\x1b[K`)
      this.shown = true
    } else if (Date.now() - this.lastPrinted >= 2000) {
      this.lastPrinted = Date.now()
      process.stderr.write(`${text}\n`)
    }
  }

  /** End the in-place line (a message after it starts on a fresh line). */
  done(): void {
    if (this.tty && this.shown) process.stderr.write('\n')
    this.shown = false
    this.lastPrinted = 0
  }
}

interface DemoOptions {
  once: boolean
  prefix: string
  duration: number
  connections: number
  workers: number
  json: boolean
}

function parseOptions(argv: string[]): DemoOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      once: { type: 'boolean', default: false },
      prefix: { type: 'string' },
      duration: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16' },
      workers: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return 'help'
  if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}'`)
  const number = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text)
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number ${min}..${max}, not '${text}'`)
    return n
  }
  const prefix = values.prefix ?? randomPrefix()
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`--prefix must match [a-z][a-z0-9]{0,7}, not '${prefix}'`)
  return {
    once: values.once,
    prefix,
    duration: number('duration', values.duration, 1, 3600),
    connections: Math.round(number('connections', values.connections, 1, 1000)),
    workers: Math.round(number('workers', values.workers, 1, 64)),
    json: values.json,
  }
}

export function usageInfo(d: Pick<Deployment, 'prefix' | 'apiUrl' | 'token'>): string {
  const api = `--api ${d.apiUrl} --token ${d.token}`
  return [
    '',
    `The deployment '${d.prefix}' stays up until Ctrl-C. nvlb's admin API (from this machine's root namespace):`,
    `  console: ${d.apiUrl}/console/   (a browser on this machine; log in with the token)`,
    `  API:    ${d.apiUrl}   (OpenAPI: ${d.apiUrl}/docs)`,
    `  token:  ${d.token}`,
    '  try:',
    `    node dist/bin/nvlb.js vip list ${api}`,
    `    node dist/bin/nvlb.js pool show blue-web ${api}`,
    `    node dist/bin/nvlb.js backend set blue-web 5001 10.1.6.21 --state draining ${api}`,
    `    node dist/bin/nvlb.js stats ${api}`,
    `    curl -H 'authorization: Bearer ${d.token}' ${d.apiUrl}/v1/stats`,
    '  traffic from the namespaces:',
    `    ip netns exec ${d.prefix}-client curl -s http://203.0.113.10/`,
    `    ip netns exec ${d.prefix}-red-vm11 curl -s http://10.1.5.100/`,
    '',
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  let options: DemoOptions | 'help'
  try {
    options = parseOptions(argv)
  } catch (err) {
    process.stderr.write(`nvlb demo: ${(err as Error).message}\n\n${DEMO_USAGE}\n`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(`${DEMO_USAGE}\n`)
    return 0
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb demo: needs root (it creates network namespaces)\n')
    return 2
  }
  const opts = options
  const progress = new ProgressLine()
  const say = (message: string): void => {
    progress.done()
    process.stderr.write(`${message}\n`)
  }

  let deployment: Deployment | undefined
  let load: LoadRun | undefined
  let interrupted: NodeJS.Signals | undefined
  let wakeUp: () => void = () => undefined
  const stopped = new Promise<void>((resolve) => {
    wakeUp = resolve
  })
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted !== undefined) return
    interrupted = signal
    say(`${signal}: stopping`)
    load?.stop()
    // Still coming up: take the namespaces away so that the start-up fails fast and cleans up.
    if (deployment === undefined) {
      try {
        destroyTopology(opts.prefix)
      } catch (err) {
        say((err as Error).message)
      }
      removeManagementLink(opts.prefix)
    }
    wakeUp()
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const s of signals) process.on(s, onSignal)

  try {
    const started = Date.now()
    try {
      deployment = await deploy({ prefix: opts.prefix, workers: opts.workers, handleSignals: false, log: say })
    } catch (err) {
      if (interrupted !== undefined) {
        say(`interrupted while starting; '${opts.prefix}' removed`)
        return opts.once ? 1 : 0
      }
      throw err
    }
    say(`deployment '${deployment.prefix}' ready in ${((Date.now() - started) / 1000).toFixed(1)} s; API ${deployment.apiUrl}`)

    const outcomes: VipOutcome[] = []
    for (const target of deployment.vips) {
      if (interrupted !== undefined) break
      const label = `${target.name} (${target.fromNode} → ${target.url})`
      load = startLoad(target.fromNamespace, target.url, {
        durationSeconds: opts.duration,
        connections: opts.connections,
        onProgress: (p) =>
          progress.update(
            `${label}  ${p.elapsed.toFixed(1)}/${opts.duration} s  ${p.requests} requests  ` +
              `${Math.round(p.requests / Math.max(p.elapsed, 0.001))} req/s  ${p.errors} errors`,
          ),
      })
      try {
        const result = await load.result
        outcomes.push(judgeVip(target, result))
      } catch (err) {
        if (interrupted !== undefined) break
        throw err
      } finally {
        load = undefined
      }
    }
    progress.done()

    // Each backend's health as nvlb's probes (HTTP through the overlay) see it. Every probed backend
    // must have a verdict (probes run within one interval; a few more seconds for a loaded machine):
    // down, still unknown, or no probes at all is a problem.
    const d = deployment
    const health = await probeVerdicts(d, HEALTH_VERDICT_TIMEOUT_MS)
    const vmOf = (e: HealthEntry) => d.vmName(e.virtualSubnetId, e.address)
    for (const o of outcomes) {
      const target = d.vips.find((v) => v.name === o.vip)
      const mine = health.backends.filter((e) => e.pool === target?.pool)
      o.health = Object.fromEntries(mine.map((e) => [vmOf(e), e.state]))
      const down = mine.filter((e) => e.state === 'down').map((e) => `${vmOf(e)} (${e.lastError ?? 'down'})`)
      if (down.length > 0) o.problems.push(`backends down by health probes: ${down.join(', ')}`)
      const unjudged = (target?.backends ?? []).filter((vm) => (o.health![vm] ?? 'unknown') === 'unknown')
      if (unjudged.length > 0) o.problems.push(`no health verdict for ${unjudged.join(', ')}${health.notProbing === null ? '' : ` (${health.notProbing})`}`)
    }

    if (interrupted === undefined) {
      if (opts.json) for (const o of outcomes) process.stdout.write(JSON.stringify(o) + '\n')
      else {
        process.stdout.write(formatOutcomes(outcomes))
        process.stdout.write('\nbackend health (HTTP probes through the overlay):\n')
        process.stdout.write(
          health.backends.length === 0
            ? `no probed backends${health.notProbing === null ? '' : `: ${health.notProbing}`}\n`
            : healthTable(health.backends.map((e) => ({ ...e, backend: `${e.backend} ${vmOf(e)}` }))),
        )
      }
    }
    const problems = outcomes.flatMap((o) => o.problems.map((p) => `${o.vip}: ${p}`))
    const errors = outcomes.filter((o) => o.errors + o.non2xx > 0).map((o) => `${o.vip}: ${o.errors} errors, ${o.non2xx} non-2xx`)
    if (errors.length > 0) say(`warning: ${errors.join('; ')}`)

    if (opts.once || interrupted !== undefined) {
      if (interrupted !== undefined) {
        say('interrupted before every VIP was measured')
        return opts.once ? 1 : 0
      }
      if (problems.length > 0) {
        say(`FAILED: ${problems.join('; ')}`)
        return 1
      }
      say('every VIP was answered by all of its own tenant\'s backends and by no other; the probes saw every backend up')
      return 0
    }

    process.stdout.write(usageInfo(deployment) + '\n')
    if (problems.length > 0) say(`warning: ${problems.join('; ')}`)
    await stopped
    return 0
  } finally {
    // The handlers stay until the teardown is over: a second Ctrl-C must not cut it short.
    load?.stop()
    if (deployment !== undefined) {
      say(`tearing down '${deployment.prefix}'`)
      try {
        const nvlbExit = await deployment.teardown()
        say(`removed '${deployment.prefix}' (nvlb exited with ${nvlbExit})`)
      } finally {
        for (const s of signals) process.off(s, onSignal)
      }
    } else {
      for (const s of signals) process.off(s, onSignal)
    }
  }
}
