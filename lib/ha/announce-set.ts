/**
 * Which VIPs an instance may announce right now. A public VIP (VSID 0) is announced only while
 * the instance is ready for it:
 *  - a configuration is running and every packet worker runs its generation (a worker that still
 *    runs an older one, or none, would drop or misroute the VIP's traffic);
 *  - when a rule of the VIP names a health probe, one of that rule's backends may take new flows
 *    (admin state active, weight above 0, health up or unknown: the data plane's own rule).
 * CA VIPs live inside tenant subnets and are reached through the overlay, never through BGP.
 *
 * The shared provider address (node.sharedProviderAddress, docs/ha.md "The return path") is announced
 * with the instance's own PA as next hop while at least one public VIP is: the hosts send the
 * tenants' replies to it, and the router spreads them over the instances that can translate them
 * (an instance that has no VIP yet, say one that started without a configuration, would drop them).
 */
import type { NvlbConfig } from '../control/config-types'
import type { HealthEntry } from '../health/health-monitor'

export interface Readiness {
  /** The running configuration, or undefined before there is one. */
  config: NvlbConfig | undefined
  /** Its generation. */
  generation: number
  /** The lowest generation every packet worker runs (−1: a worker runs none). */
  adoptedGeneration: number
  /** Probed backends' health (empty without probes). */
  health: readonly HealthEntry[]
}

/** The VIP /32s to announce, sorted. */
export function announcedPrefixes(r: Readiness): string[] {
  if (r.config === undefined || r.adoptedGeneration < r.generation) return []
  const out = new Set<string>()
  for (const vip of r.config.vips) {
    if (vip.virtualSubnetId !== 0) continue
    const servable = vip.rules.some((rule) => {
      if (rule.probe === undefined) return true
      const pool = r.config!.pools.find((p) => p.name === rule.pool)
      return (pool?.backends ?? []).some((b) => {
        if (b.state !== 'active' || b.weight <= 0) return false
        return !r.health.some(
          (h) => h.pool === rule.pool && h.virtualSubnetId === b.virtualSubnetId && h.address === b.address && h.state === 'down',
        )
      })
    })
    if (servable) out.add(`${vip.address}/32`)
  }
  return [...out].sort()
}

/** The shared PA to announce (`a.b.c.d/32`) and its next hop (this instance's own PA), or undefined. */
export function sharedAnnouncement(r: Readiness): { prefix: string; nextHop: string } | undefined {
  const node = r.config?.node
  if (node?.sharedProviderAddress === undefined || announcedPrefixes(r).length === 0) return undefined
  return { prefix: `${node.sharedProviderAddress}/32`, nextHop: node.providerAddress }
}
