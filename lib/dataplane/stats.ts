import { BACKEND_ABSENT, PROTO_TCP, type Snapshot } from './snapshot'
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from './drop-reasons'
import {
  BACKENDS_BASE,
  DROPS_BASE,
  G_FLOWS_CREATED,
  G_FLOWS_EVICTED,
  G_FLOWS_EVICTED_CLOSING,
  G_FLOWS_EVICTED_ESTABLISHED,
  G_FLOWS_EVICTED_HALF_OPEN,
  G_FLOWS_EXPIRED,
  G_REPLIES_WITHOUT_FLOW,
  G_RX_BYTES,
  G_RX_PACKETS,
  G_SWEPT_EPOCH,
  G_TX_BYTES,
  G_TX_PACKETS,
  PER_BYTES,
  PER_FLOWS,
  PER_PACKETS,
  RULES_BASE,
  type Counters,
} from './counters'
import type { BackendStats, StatsReport, VipRuleStats } from './stats-report'
import { formatIPv4 } from '../packet/address'

const STATE_NAMES = ['active', 'draining', 'disabled'] as const

/** Sum the counters of one or more engines (workers) into a report named by the snapshot. */
export function statsReport(snapshot: Snapshot | null, counters: readonly Counters[], activeFlows: number): StatsReport {
  const sum = (slot: number): number => {
    let total = 0
    for (const c of counters) total += c.values[slot]!
    return total
  }
  const drops: Record<string, number> = {}
  for (let r = 0; r < DROP_REASON_COUNT; r++) drops[DROP_REASON_NAMES[r]!] = sum(DROPS_BASE + r)
  const vips: VipRuleStats[] = []
  const backends: BackendStats[] = []
  if (snapshot !== null) {
    for (const rule of snapshot.ruleList) {
      if (rule === null) continue
      const base = RULES_BASE + rule.id * 3
      vips.push({
        vip: rule.vipName,
        address: rule.vipAddressText,
        virtualSubnetId: rule.virtualSubnetId,
        protocol: rule.protocol === PROTO_TCP ? 'tcp' : 'udp',
        frontendPort: rule.frontendPort,
        packets: sum(base + PER_PACKETS),
        bytes: sum(base + PER_BYTES),
        flowsCreated: sum(base + PER_FLOWS),
      })
    }
    for (let id = 0; id < snapshot.backendCount; id++) {
      const state = snapshot.backendState[id]!
      if (state === BACKEND_ABSENT) continue
      const base = BACKENDS_BASE + id * 3
      backends.push({
        name: snapshot.backendName[id]!,
        pool: snapshot.backendPool[id]!,
        virtualSubnetId: snapshot.backendVsid[id]!,
        address: formatIPv4(snapshot.backendAddress[id]!),
        port: snapshot.backendPort[id]!,
        state: STATE_NAMES[state]!,
        packets: sum(base + PER_PACKETS),
        bytes: sum(base + PER_BYTES),
        flowsCreated: sum(base + PER_FLOWS),
      })
    }
  }
  let swept = counters.length === 0 ? 0 : Infinity
  for (const c of counters) swept = Math.min(swept, c.values[G_SWEPT_EPOCH]!)
  return {
    generation: snapshot === null ? 0 : snapshot.generation,
    sweptEpoch: swept,
    activeFlows,
    flowsCreated: sum(G_FLOWS_CREATED),
    flowsEvicted: sum(G_FLOWS_EVICTED),
    flowsEvictedByClass: {
      halfOpen: sum(G_FLOWS_EVICTED_HALF_OPEN),
      established: sum(G_FLOWS_EVICTED_ESTABLISHED),
      closing: sum(G_FLOWS_EVICTED_CLOSING),
    },
    flowsExpired: sum(G_FLOWS_EXPIRED),
    repliesWithoutFlow: sum(G_REPLIES_WITHOUT_FLOW),
    rxPackets: sum(G_RX_PACKETS),
    rxBytes: sum(G_RX_BYTES),
    txPackets: sum(G_TX_PACKETS),
    txBytes: sum(G_TX_BYTES),
    drops,
    vips,
    backends,
  }
}
