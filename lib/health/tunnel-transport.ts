/**
 * The production ProbeTransport: probe connections go to the probe tunnel's
 * target addresses, and every configuration gives the tunnel the backends'
 * hosts and MACs (lookup records), nvlb's PA/MACs, node.probeAddress and the
 * hosts' next-hop MACs (static neighbours of the configuration).
 */
import type { NvlbConfig } from '../control/config-types'
import { formatIPv4, parseIPv4, parseMac } from '../packet/address'
import type { ProbeTransport } from './health-monitor'
import type { ProbeTarget } from './probe-translator'
import type { ProbeRequest, ProbeResult } from './probe-runner'
import { httpProbeRequest, keepAliveMs } from './probe-connections'
import type { ProbeTunnel, TunnelProbe } from './probe-tunnel'

export class TunnelTransport implements ProbeTransport {
  /** The tunnel's form of each request the monitor keeps (it reuses one per check): parsed and built once. */
  private readonly prepared = new WeakMap<ProbeRequest, TunnelProbe>()

  constructor(private readonly tunnel: ProbeTunnel) {}

  hostOf(virtualSubnetId: number, address: string): string {
    return formatIPv4(this.tunnel.targetOf(virtualSubnetId, address))
  }

  /**
   * Probes run on the tunnel thread's kernel sockets (probe-connections.ts), not on node:net; an
   * HTTP check's connection is kept for its next probe.
   */
  probe(request: ProbeRequest): Promise<ProbeResult> {
    return this.tunnel.run(this.prepare(request))
  }

  /** probe() without a promise (what the monitor calls). */
  start(request: ProbeRequest, done: (result: ProbeResult) => void): void {
    this.tunnel.start(this.prepare(request), done)
  }

  private prepare(request: ProbeRequest): TunnelProbe {
    let probe = this.prepared.get(request)
    if (probe === undefined) {
      const host = parseIPv4(request.host)
      // An HTTP check keeps its connection for its next probe (probe-connections.ts says when not).
      const keepMs = request.protocol === 'http' && request.intervalMs !== undefined ? keepAliveMs(request.intervalMs) : 0
      probe = {
        protocol: request.protocol,
        host,
        port: request.port,
        request: request.protocol === 'http' ? httpProbeRequest(request.requestPath ?? '/', request.hostHeader ?? request.host, keepMs > 0) : undefined,
        timeoutMs: request.timeoutMs,
        keepMs,
      }
      this.prepared.set(request, probe)
    }
    return probe
  }

  async configure(config: NvlbConfig, backends: readonly { virtualSubnetId: number; address: string }[]): Promise<void> {
    const node = config.node
    if (backends.length === 0 || node.probeAddress === undefined || node.providerInterface === undefined) {
      this.tunnel.retain(new Set())
      return
    }
    const records = new Map(config.lookupRecords.map((r) => [`${r.virtualSubnetId}/${parseIPv4(r.customerAddress)}`, r]))
    const targets: ProbeTarget[] = []
    const keep = new Set<string>()
    for (const b of backends) {
      const record = records.get(`${b.virtualSubnetId}/${parseIPv4(b.address)}`)
      if (record === undefined) continue
      keep.add(`${b.virtualSubnetId}/${b.address}`)
      targets.push({
        target: this.tunnel.targetOf(b.virtualSubnetId, b.address),
        virtualSubnetId: b.virtualSubnetId,
        address: parseIPv4(b.address),
        host: parseIPv4(record.providerAddress),
        mac: parseMac(record.macAddress)!,
      })
    }
    this.tunnel.retain(keep)
    const neighbors = new Map<number, Uint8Array>()
    for (const n of config.neighbors) neighbors.set(parseIPv4(n.address), parseMac(n.mac)!)
    await this.tunnel.configure(
      node.providerInterface,
      {
        providerAddress: parseIPv4(node.providerAddress),
        providerMac: parseMac(node.providerMac)!,
        gatewayMac: parseMac(node.gatewayMac)!,
        probeAddress: parseIPv4(node.probeAddress),
      },
      node.providerMtu ?? 1500,
      targets,
      neighbors,
    )
  }
}
