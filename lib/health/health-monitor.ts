/**
 * Backend health for the whole configuration: which probes to run, running
 * them on their intervals, their state machines, and what the compiler and
 * the admin API need from them.
 *
 * A *check* is one probe of one backend (VSID, CA): protocol, port, path,
 * interval, timeout and thresholds. Identical checks are run once however many
 * rules and pools use them. A *pool backend* (pool, VSID, CA, backend port: the
 * compiler's backend) is down when any check that applies to it is down, up
 * when one is up and none is down, unknown otherwise. Disabled backends are not
 * probed.
 *
 * Runs in the main process: probes are the kernel's connections through the
 * probe tunnel (a ProbeTransport), never packets of the packet workers.
 */
import type { Logger } from 'pino'
import type { NvlbConfig } from '../control/config-types'
import { HealthState, type HealthStateName, type Transition } from './health-state'
import type { ProbeConfig } from './probe-config'
import { ProbeLimits } from './probe-config'
import { ProbeWheel } from './probe-wheel'
import { runProbe, type ProbeRequest, type ProbeResult } from './probe-runner'

/** Where probe connections go: the probe tunnel in production, anything reachable in tests. */
export interface ProbeTransport {
  /** Applies the probed backends of a configuration (targets, neighbours, node addresses). */
  configure(config: NvlbConfig, backends: readonly { virtualSubnetId: number; address: string }[]): Promise<void>
  /** The host the kernel connects to for a backend. */
  hostOf(virtualSubnetId: number, address: string): string
  /** Runs one probe (the probe tunnel's kernel sockets); without it, runProbe on node:net. */
  probe?(request: ProbeRequest): Promise<ProbeResult>
  /** probe() without a promise: `done` is called once with the outcome (the monitor uses it when there is one). */
  start?(request: ProbeRequest, done: (result: ProbeResult) => void): void
}

export interface HealthView {
  state: HealthStateName
  /** Probe name(s) that judge the backend. */
  probe: string
  since: string
  lastCheck: string | null
  lastError: string | null
  latencyMs: number | null
}

export interface HealthEntry extends HealthView {
  pool: string
  /** `<vsid>/<address>:<port>`, the backend's name. */
  backend: string
  virtualSubnetId: number
  address: string
  port: number
}

interface Check {
  key: string
  virtualSubnetId: number
  address: string
  probe: Required<Pick<ProbeConfig, 'protocol' | 'intervalSeconds' | 'timeoutSeconds' | 'unhealthyThreshold' | 'healthyThreshold'>> & {
    port: number
    requestPath: string
  }
  names: Set<string>
  /** `names` joined (metrics label, log lines). */
  label: string
  /** Pool-backend keys this check judges. */
  users: Set<string>
  state: HealthState
  /** Waiting in the wheel for its next run. */
  scheduled: boolean
  running: boolean
  /** When its next run is due (ms, `now()`): one interval after the last one was due, so runs do not drift. */
  due: number
  /** What each run asks the transport (one object per configuration: transports may keep what they derive from it). */
  request: ProbeRequest | null
  /** No longer part of the configuration (a run in flight is forgotten, the next not started). */
  retired: boolean
  /** Takes the outcome of each run (made once per check: no closure per probe). */
  done: (result: ProbeResult) => void
}

interface PoolBackend {
  key: string
  pool: string
  name: string
  virtualSubnetId: number
  address: string
  port: number
  checks: Check[]
  state: HealthStateName
}

export interface HealthMonitorOptions {
  logger: Logger
  transport: ProbeTransport
  now?: () => number
  /** Called after each probe (metrics). */
  onResult?: (probe: string, result: ProbeResult) => void
  /** Runs a probe; default: runProbe (the kernel's TCP). */
  probe?: (request: ProbeRequest) => Promise<ProbeResult>
}

export class HealthMonitor {
  private checks = new Map<string, Check>()
  private backends = new Map<string, PoolBackend>()
  /** `<pool>|<vsid>/<address>` → the checks of that pool member over all its ports. */
  private members = new Map<string, Check[]>()
  private readonly listeners = new Set<() => void>()
  private changePending = false
  private stopped = false
  private readonly now: () => number
  private readonly logger: Logger
  private readonly probe: (request: ProbeRequest) => Promise<ProbeResult>
  /** The transport's callback form of a probe, when it has one and no `probe` option replaces it. */
  private readonly start: ((request: ProbeRequest, done: (result: ProbeResult) => void) => void) | null
  private configured: Promise<void> = Promise.resolve()
  /** The transport has not finished adopting the last configuration: runs wait for `configured`. */
  private configuring = false
  /** Checks removed by a configuration leave the wheel at their next turn (runCheck ignores them). */
  private readonly wheel = new ProbeWheel<Check>((check) => {
    check.scheduled = false
    void this.runCheck(check)
  })

  constructor(private readonly options: HealthMonitorOptions) {
    this.now = options.now ?? Date.now
    this.logger = options.logger
    const transport = options.transport
    this.probe = options.probe ?? (transport.probe === undefined ? runProbe : (request) => transport.probe!(request))
    this.start = options.probe === undefined && transport.start !== undefined ? (request, done) => transport.start!(request, done) : null
  }

  /** Called after health changed what the packet path should do (batched: once per turn of the event loop). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Number of distinct checks running. */
  get checkCount(): number {
    return this.checks.size
  }

  /** Adopts a configuration: keeps the state of checks that did not change, starts new ones, stops the rest. */
  update(config: NvlbConfig): Promise<void> {
    const probes = new Map((config.probes ?? []).map((p) => [p.name, p]))
    const pools = new Map(config.pools.map((p) => [p.name, p]))
    const nextChecks = new Map<string, Check>()
    const nextBackends = new Map<string, PoolBackend>()
    const probed = new Map<string, { virtualSubnetId: number; address: string }>()
    for (const vip of config.vips) {
      for (const rule of vip.rules) {
        if (rule.probe === undefined) continue
        const p = probes.get(rule.probe)
        const pool = pools.get(rule.pool)
        if (p === undefined || pool === undefined) continue
        const backendPort = rule.backendPort ?? rule.frontendPort
        const spec = {
          protocol: p.protocol,
          port: p.port ?? backendPort,
          requestPath: p.protocol === 'http' ? (p.requestPath ?? ProbeLimits.DEFAULT_PATH) : '',
          intervalSeconds: p.intervalSeconds ?? ProbeLimits.DEFAULT_INTERVAL,
          timeoutSeconds: p.timeoutSeconds ?? ProbeLimits.DEFAULT_TIMEOUT,
          unhealthyThreshold: p.unhealthyThreshold ?? ProbeLimits.DEFAULT_UNHEALTHY,
          healthyThreshold: p.healthyThreshold ?? ProbeLimits.DEFAULT_HEALTHY,
        }
        for (const b of pool.backends) {
          if ((b.state ?? 'active') === 'disabled') continue
          const backend = `${b.virtualSubnetId}/${b.address}`
          const key = `${backend}|${spec.protocol}|${spec.port}|${spec.requestPath}|${spec.intervalSeconds}|${spec.timeoutSeconds}|${spec.unhealthyThreshold}|${spec.healthyThreshold}`
          let check = nextChecks.get(key)
          if (check === undefined) {
            const old = this.checks.get(key)
            check = old ?? {
              key,
              virtualSubnetId: b.virtualSubnetId,
              address: b.address,
              probe: spec,
              names: new Set(),
              label: '',
              users: new Set(),
              state: new HealthState(spec, this.now()),
              scheduled: false,
              running: false,
              due: 0,
              request: null,
              retired: false,
              done: () => undefined,
            }
            if (old === undefined) {
              const made = check
              made.done = (result) => this.finish(made, result)
            }
            check.names = new Set()
            check.users = new Set()
            nextChecks.set(key, check)
          }
          check.names.add(p.name)
          check.label = [...check.names].join(',')
          const name = `${backend}:${backendPort}`
          const userKey = `${rule.pool}|${name}`
          check.users.add(userKey)
          let pb = nextBackends.get(userKey)
          if (pb === undefined) {
            pb = { key: userKey, pool: rule.pool, name, virtualSubnetId: b.virtualSubnetId, address: b.address, port: backendPort, checks: [], state: 'unknown' }
            nextBackends.set(userKey, pb)
          }
          if (!pb.checks.includes(check)) pb.checks.push(check)
          probed.set(backend, { virtualSubnetId: b.virtualSubnetId, address: b.address })
        }
      }
    }
    const downBefore = this.downSet()
    const before = this.backends
    for (const check of this.checks.values()) if (nextChecks.get(check.key) !== check) check.retired = true
    this.checks = nextChecks
    this.backends = nextBackends
    const members = new Map<string, Check[]>()
    for (const pb of nextBackends.values()) {
      const key = `${pb.pool}|${pb.virtualSubnetId}/${pb.address}`
      const list = members.get(key) ?? []
      for (const c of pb.checks) if (!list.includes(c)) list.push(c)
      members.set(key, list)
    }
    this.members = members
    for (const pb of nextBackends.values()) {
      pb.state = aggregate(pb.checks)
      // A configuration that changes a backend's probes can change its health (a down backend whose
      // failing probe is replaced is unknown until the new one judges it): one line, like any change.
      const from = before.get(pb.key)?.state
      if (from !== undefined && from !== pb.state) this.logChange(pb, [...new Set(pb.checks.map((c) => c.label))].join(','), from, 'the configuration changed its probes', false)
    }
    const transport = this.options.transport
    const configured = transport.configure(config, [...probed.values()])
    const settled = configured.catch(() => undefined)
    this.configured = settled
    this.configuring = true
    void settled.then(() => {
      if (this.configured === settled) this.configuring = false
    })
    const now = this.now()
    for (const check of nextChecks.values()) {
      const p = check.probe
      check.request = {
        protocol: p.protocol,
        host: transport.hostOf(check.virtualSubnetId, check.address),
        port: p.port,
        requestPath: p.requestPath,
        hostHeader: check.address,
        timeoutMs: p.timeoutSeconds * 1000,
        intervalMs: p.intervalSeconds * 1000,
      }
      if (!check.scheduled && !check.running && !this.stopped) {
        check.due = now + Math.random() * p.intervalSeconds * 1000
        this.schedule(check, check.due - now)
      }
    }
    if (!sameSet(downBefore, this.downSet())) this.changed()
    return configured
  }

  /** `<pool>|<backend name>` of every pool backend that is down (the compiler's health input). */
  downSet(): Set<string> {
    const down = new Set<string>()
    for (const pb of this.backends.values()) if (pb.state === 'down') down.add(pb.key)
    return down
  }

  /** Health of a pool's backend (VSID, CA) over all its ports and probes; undefined when it is not probed. */
  backendHealth(pool: string, virtualSubnetId: number, address: string): HealthView | undefined {
    const checks = this.members.get(`${pool}|${virtualSubnetId}/${address}`)
    return checks === undefined || checks.length === 0 ? undefined : view(checks)
  }

  /** Every probed pool backend. */
  list(): HealthEntry[] {
    const out: HealthEntry[] = []
    for (const pb of this.backends.values()) {
      out.push({ pool: pb.pool, backend: pb.name, virtualSubnetId: pb.virtualSubnetId, address: pb.address, port: pb.port, ...view(pb.checks) })
    }
    out.sort((a, b) => (a.pool === b.pool ? a.backend.localeCompare(b.backend) : a.pool.localeCompare(b.pool)))
    return out
  }

  stop(): void {
    this.stopped = true
    this.wheel.clear()
    for (const check of this.checks.values()) check.scheduled = false
    this.listeners.clear()
  }

  private schedule(check: Check, delayMs: number): void {
    check.scheduled = true
    this.wheel.schedule(check, delayMs)
  }

  /** Starts a run of the check (once the transport has adopted the configuration). */
  private runCheck(check: Check): void {
    if (this.stopped || check.retired) return
    if (this.configuring) {
      check.running = true
      void this.configured.then(() => {
        check.running = false
        this.runCheck(check)
      })
      return
    }
    check.running = true
    if (this.start !== null) {
      this.start(check.request!, check.done)
      return
    }
    let result: Promise<ProbeResult>
    try {
      result = this.probe(check.request!)
    } catch (err) {
      result = Promise.reject(err)
    }
    result.then(check.done, (err: unknown) => check.done({ ok: false, error: (err as Error).message, latencyMs: 0 }))
  }

  /** A run's outcome: the check's state, then its next run one interval after this one was due. */
  private finish(check: Check, result: ProbeResult): void {
    check.running = false
    if (this.stopped || check.retired) return
    this.options.onResult?.(check.label, result)
    const transition = check.state.record(result.ok, result.error, result.ok ? result.latencyMs : null, this.now())
    if (transition !== null) this.apply(check, transition)
    const now = this.now()
    check.due = Math.max(now, check.due + check.probe.intervalSeconds * 1000)
    this.schedule(check, check.due - now)
  }

  private apply(check: Check, transition: Transition): void {
    let downChanged = false
    for (const key of check.users) {
      const pb = this.backends.get(key)
      if (pb === undefined) continue
      const next = aggregate(pb.checks)
      if (next === pb.state) continue
      const from = pb.state
      pb.state = next
      if ((from === 'down') !== (next === 'down')) downChanged = true
      this.logChange(pb, check.label, from, transition.reason, check.state.suppressed)
    }
    if (downChanged) this.changed()
  }

  /** The one log line of a change of a pool backend's health. */
  private logChange(pb: PoolBackend, probe: string, from: HealthStateName, reason: string, heldDown: boolean): void {
    this.logger.info(
      { pool: pb.pool, backend: pb.name, probe, from, to: pb.state, reason, ...(heldDown ? { heldDownForFlapping: true } : {}) },
      `backend ${pb.name} of pool ${pb.pool} is ${pb.state}`,
    )
  }

  private changed(): void {
    if (this.changePending) return
    this.changePending = true
    setImmediate(() => {
      this.changePending = false
      for (const listener of [...this.listeners]) {
        try {
          listener()
        } catch (err) {
          this.logger.error({ err }, 'a health listener failed')
        }
      }
    })
  }
}

function aggregate(checks: readonly Check[]): HealthStateName {
  let up = false
  for (const c of checks) {
    if (c.state.state === 'down') return 'down'
    if (c.state.state === 'up') up = true
  }
  return up ? 'up' : 'unknown'
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

/** The worst check speaks for the backend. */
function view(checks: readonly Check[]): HealthView {
  const state = aggregate(checks)
  const judge = checks.find((c) => c.state.state === state) ?? checks[0]!
  const names = new Set<string>()
  for (const c of checks) for (const n of c.names) names.add(n)
  let lastCheck: number | null = null
  let lastError: string | null = null
  for (const c of checks) {
    if (c.state.lastCheck !== null && (lastCheck === null || c.state.lastCheck > lastCheck)) lastCheck = c.state.lastCheck
    if (c.state.lastError !== null && (lastError === null || c === judge)) lastError = c.state.lastError
  }
  return {
    state,
    probe: [...names].join(','),
    since: iso(judge.state.since)!,
    lastCheck: iso(lastCheck),
    lastError,
    latencyMs: judge.state.lastLatencyMs === null ? null : Math.round(judge.state.lastLatencyMs * 1000) / 1000,
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false
  for (const x of a) if (!b.has(x)) return false
  return true
}
