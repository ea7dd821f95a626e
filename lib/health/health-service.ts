/**
 * Backend health in `nvlb run`: the probe tunnel (opened once the first
 * configuration names a probe), the health monitor fed with every new
 * configuration, and a new snapshot for the packet path whenever health changes
 * what it should do (same configuration generation; every worker adopts it like
 * a configuration change).
 */
import type { Logger } from 'pino'
import { Histogram, Gauge, type Registry } from 'prom-client'
import type { NvlbConfig } from '../control/config-types'
import type { CompileHealth } from '../control/compiler'
import { HealthMonitor, type HealthEntry, type HealthView, type ProbeTransport } from './health-monitor'
import { ProbeTunnel } from './probe-tunnel'
import { TunnelTransport } from './tunnel-transport'

/** What the admin API reads. */
export interface HealthSource {
  list(): HealthEntry[]
  backendHealth(pool: string, virtualSubnetId: number, address: string): HealthView | undefined
  /** Probe tunnel counters (empty before the tunnel opened). */
  tunnelStats(): Record<string, number>
  /**
   * Whether the packet path runs the health `list()` shows: the last snapshot
   * published was compiled with the current set of down backends and every packet
   * worker runs its epoch (or a later one). False between a change of health and
   * its adoption.
   */
  applied(): boolean
  /** Epoch of the last snapshot published to the packet path (−1 before the first). */
  publishedEpoch(): number
  /** Why no probes run (null while they do, or while no rule names a probe). */
  notProbing(): string | null
  registerMetrics(registry: Registry): void
}

export interface HealthServiceOptions {
  logger: Logger
  /** Recompile and publish the running configuration (ControlPlane.republish). */
  republish: () => Promise<void>
  /** A transport instead of the probe tunnel (tests). */
  transport?: ProbeTransport
  /** The lowest snapshot epoch every packet worker runs (WorkerPool.adoptedEpoch). */
  runningEpoch: () => number
  /** Probes cannot run, and why (nvlb run --no-dataplane): the service then only reports that. */
  disabled?: string
}

/** Latency buckets of probe answers, seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export class HealthService implements HealthSource {
  private tunnel: ProbeTunnel | null = null
  private opening: Promise<ProbeTunnel | null> | null = null
  private monitor: HealthMonitor | null = null
  private readonly latency = new Histogram({
    name: 'nvlb_probe_latency_seconds',
    help: 'Time from the start of a health probe until its answer (successful probes)',
    labelNames: ['probe'],
    buckets: LATENCY_BUCKETS,
    registers: [],
  })
  private readonly failures = new Histogram({
    name: 'nvlb_probe_failure_seconds',
    help: 'Time until a health probe failed',
    labelNames: ['probe'],
    buckets: LATENCY_BUCKETS,
    registers: [],
  })
  private updates: Promise<void> = Promise.resolve()
  private stopped = false
  /** The down set the last compile used, and the one (with its epoch) the last published snapshot carries. */
  private compiledKey = ''
  private publishedKey = ''
  private published = -1
  private why: string | null = null
  private wanted = false

  /** Each probe label's histogram children (a probe's outcome is observed without hashing its labels). */
  private readonly observers = new Map<string, [Histogram.Internal<'probe'>, Histogram.Internal<'probe'>]>()

  constructor(private readonly options: HealthServiceOptions) {}

  private observerOf(probe: string, ok: boolean): Histogram.Internal<'probe'> {
    let pair = this.observers.get(probe)
    if (pair === undefined) {
      pair = [this.latency.labels(probe), this.failures.labels(probe)]
      this.observers.set(probe, pair)
    }
    return pair[ok ? 0 : 1]
  }

  /** The compiler's health input. */
  compileInput(): CompileHealth {
    const down = this.monitor?.downSet() ?? new Set<string>()
    this.compiledKey = downKey(down)
    return { down }
  }

  /**
   * A snapshot went to the packet path (a configuration change or a health
   * republish); it was compiled last, so it carries the down set of the last compile.
   */
  snapshotPublished(epoch: number): void {
    this.publishedKey = this.compiledKey
    this.published = epoch
  }

  applied(): boolean {
    const current = downKey(this.monitor?.downSet() ?? new Set())
    return current === this.publishedKey && this.published >= 0 && this.options.runningEpoch() >= this.published
  }

  publishedEpoch(): number {
    return this.published
  }

  notProbing(): string | null {
    return this.wanted ? this.why : null
  }

  /** Adopts a configuration the packet path now runs (in order; never concurrently). */
  update(config: NvlbConfig): Promise<void> {
    const next = this.updates.then(() => this.apply(config))
    this.updates = next.catch((err) => this.options.logger.error({ err }, 'health probes could not adopt the configuration'))
    return next
  }

  private async apply(config: NvlbConfig): Promise<void> {
    if (this.stopped) return
    const wantsProbes = config.vips.some((v) => v.rules.some((r) => r.probe !== undefined))
    this.wanted = wantsProbes
    if (this.options.disabled !== undefined) {
      this.why = this.options.disabled
      return
    }
    if (this.monitor === null) {
      if (!wantsProbes) return
      const transport = this.options.transport ?? (await this.openTunnel())
      if (transport === null || this.stopped) return
      const monitor = new HealthMonitor({
        logger: this.options.logger,
        transport,
        onResult: (probe, result) => this.observerOf(probe, result.ok).observe(result.latencyMs / 1000),
      })
      monitor.onChange(() => {
        this.options.republish().catch((err) => this.options.logger.error({ err }, 'publishing a health change failed'))
      })
      this.monitor = monitor
    }
    await this.monitor.update(config)
  }

  private async openTunnel(): Promise<TunnelTransport | null> {
    this.opening ??= ProbeTunnel.start().then(
      (tunnel) => {
        this.tunnel = tunnel
        tunnel.onError((message) => this.options.logger.error({ message }, 'probe tunnel'))
        this.options.logger.info({ tun: tunnel.tunName }, 'probe tunnel open')
        return tunnel
      },
      (err) => {
        this.options.logger.error({ err }, 'cannot open the probe tunnel; backends stay unknown (trusted)')
        this.why = `the probe tunnel could not be opened: ${(err as Error).message}; backends stay unknown (trusted)`
        return null
      },
    )
    const tunnel = await this.opening
    return tunnel === null ? null : new TunnelTransport(tunnel)
  }

  list(): HealthEntry[] {
    return this.monitor?.list() ?? []
  }

  backendHealth(pool: string, virtualSubnetId: number, address: string): HealthView | undefined {
    return this.monitor?.backendHealth(pool, virtualSubnetId, address)
  }

  tunnelStats(): Record<string, number> {
    return this.tunnel?.stats() ?? {}
  }

  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.latency)
    registry.registerMetric(this.failures)
    const list = () => this.list()
    new Gauge({
      name: 'nvlb_backend_up',
      help: "1 while a probed backend's health is up or unknown (it may get new flows), 0 while it is down",
      labelNames: ['pool', 'backend'],
      registers: [registry],
      collect() {
        this.reset()
        for (const e of list()) this.set({ pool: e.pool, backend: e.backend }, e.state === 'down' ? 0 : 1)
      },
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.monitor?.stop()
    await this.updates.catch(() => undefined)
    const tunnel = this.tunnel ?? (this.opening === null ? null : await this.opening)
    await tunnel?.stop()
  }
}

function downKey(down: ReadonlySet<string>): string {
  return [...down].sort().join('\n')
}
