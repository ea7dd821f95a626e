/**
 * GET /metrics: a private prom-client Registry whose metrics read the packet
 * path's StatsReport when scraped (one report per scrape, shared by all
 * collect() functions).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { StatsReport } from '../dataplane/stats-report'

export type StatsSource = () => StatsReport

export interface MetricsOptions {
  stats: StatsSource
  /** Generation of the running configuration (the control plane's, which may lead the packet path's). */
  configGeneration: () => number
  ready: () => boolean
  /** Node.js process metrics (memory, CPU, event loop); default true. */
  processMetrics?: boolean
}

const VIP_LABELS = ['vip', 'address', 'vsid', 'protocol', 'port'] as const
const BACKEND_LABELS = ['pool', 'backend', 'vsid', 'address', 'port'] as const
const BACKEND_STATES = ['active', 'draining', 'disabled'] as const

export class Metrics {
  readonly registry = new Registry()
  readonly contentType = this.registry.contentType
  private readonly stats: StatsSource
  private report: StatsReport | undefined

  constructor(options: MetricsOptions) {
    this.stats = options.stats
    const registers = [this.registry]
    const read = (): StatsReport => (this.report ??= this.stats())

    new Gauge({
      name: 'nvlb_config_generation',
      help: 'Generation of the running configuration',
      registers,
      collect() {
        this.set(options.configGeneration())
      },
    })
    new Gauge({
      name: 'nvlb_ready',
      help: '1 when a valid configuration is loaded and compiled',
      registers,
      collect() {
        this.set(options.ready() ? 1 : 0)
      },
    })
    new Gauge({
      name: 'nvlb_snapshot_generation',
      help: 'Generation of the snapshot the packet path runs',
      registers,
      collect() {
        this.set(read().generation)
      },
    })
    new Gauge({
      name: 'nvlb_active_flows',
      help: 'Flows in the flow table',
      registers,
      collect() {
        this.set(read().activeFlows)
      },
    })

    const totals: Array<[string, string, (r: StatsReport) => number]> = [
      ['nvlb_flows_created_total', 'Flows created', (r) => r.flowsCreated],
      ['nvlb_flows_evicted_total', 'Flows evicted from a full flow table', (r) => r.flowsEvicted],
      ['nvlb_flows_expired_total', 'Flows expired after their idle timeout', (r) => r.flowsExpired],
      ['nvlb_replies_without_flow_total', 'Public dnat replies translated without a flow (another instance carried the connection)', (r) => r.repliesWithoutFlow],
      ['nvlb_rx_packets_total', 'Frames received', (r) => r.rxPackets],
      ['nvlb_rx_bytes_total', 'Bytes received', (r) => r.rxBytes],
      ['nvlb_tx_packets_total', 'Frames sent', (r) => r.txPackets],
      ['nvlb_tx_bytes_total', 'Bytes sent', (r) => r.txBytes],
      ['nvlb_worker_restarts_total', 'Packet workers that died and were started again', (r) => r.io?.workerRestarts ?? 0],
      ['nvlb_worker_handoffs_total', 'Frames a packet worker handed to the worker that owns their flow', (r) => r.io?.handoffs ?? 0],
      ['nvlb_worker_handoff_drops_total', "Frames dropped because the owning worker's handoff ring was full", (r) => r.io?.handoffDrops ?? 0],
      ['nvlb_kernel_drops_total', "Frames the kernel dropped because a socket's receive queue was full", (r) => r.io?.kernelDrops ?? 0],
    ]
    for (const [name, help, value] of totals) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset()
          this.inc(value(read()))
        },
      })
    }

    new Counter({
      name: 'nvlb_flows_evicted_by_class_total',
      help: 'Flows evicted from a full flow table, by the class of the flow evicted (half_open, established, closing)',
      labelNames: ['class'],
      registers,
      collect() {
        this.reset()
        const byClass = read().flowsEvictedByClass
        this.inc({ class: 'half_open' }, byClass.halfOpen)
        this.inc({ class: 'established' }, byClass.established)
        this.inc({ class: 'closing' }, byClass.closing)
      },
    })

    new Counter({
      name: 'nvlb_drops_total',
      help: 'Packets dropped, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset()
        for (const [reason, packets] of Object.entries(read().drops)) this.inc({ reason }, packets)
      },
    })

    const perVip: Array<[string, string, (v: StatsReport['vips'][number]) => number]> = [
      ['nvlb_vip_rule_packets_total', 'Packets matched by a VIP rule', (v) => v.packets],
      ['nvlb_vip_rule_bytes_total', 'Bytes matched by a VIP rule', (v) => v.bytes],
      ['nvlb_vip_rule_flows_created_total', 'Flows created by a VIP rule', (v) => v.flowsCreated],
    ]
    for (const [name, help, value] of perVip) {
      new Counter({
        name,
        help,
        labelNames: VIP_LABELS,
        registers,
        collect() {
          this.reset()
          for (const v of read().vips) {
            this.inc(
              { vip: v.vip, address: v.address, vsid: v.virtualSubnetId, protocol: v.protocol, port: v.frontendPort },
              value(v),
            )
          }
        },
      })
    }

    const perBackend: Array<[string, string, (b: StatsReport['backends'][number]) => number]> = [
      ['nvlb_backend_packets_total', 'Packets sent to a backend', (b) => b.packets],
      ['nvlb_backend_bytes_total', 'Bytes sent to a backend', (b) => b.bytes],
      ['nvlb_backend_flows_created_total', 'Flows given to a backend', (b) => b.flowsCreated],
    ]
    for (const [name, help, value] of perBackend) {
      new Counter({
        name,
        help,
        labelNames: BACKEND_LABELS,
        registers,
        collect() {
          this.reset()
          for (const b of read().backends) {
            this.inc(
              { pool: b.pool, backend: b.name, vsid: b.virtualSubnetId, address: b.address, port: b.port },
              value(b),
            )
          }
        },
      })
    }

    new Gauge({
      name: 'nvlb_backend_state',
      help: "A backend's administrative state: 1 for the state it is in, 0 for the others",
      labelNames: ['pool', 'backend', 'state'],
      registers,
      collect() {
        this.reset()
        for (const b of read().backends) {
          for (const state of BACKEND_STATES) this.set({ pool: b.pool, backend: b.name, state }, b.state === state ? 1 : 0)
        }
      },
    })

    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'nvlb_' })
  }

  /** The Prometheus text exposition of every metric, from one fresh StatsReport. */
  async scrape(): Promise<string> {
    this.report = undefined
    try {
      return await this.registry.metrics()
    } finally {
      this.report = undefined
    }
  }
}
