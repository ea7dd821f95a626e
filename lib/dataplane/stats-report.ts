/**
 * The counters of the packet path as the control plane reports them
 * (`GET /v1/stats`, `GET /metrics`, `nvlb stats`). Produced by the engine's
 * Counters (or the sum over all workers' counters) against the current snapshot.
 */
export interface VipRuleStats {
  vip: string
  address: string
  virtualSubnetId: number
  protocol: 'tcp' | 'udp'
  frontendPort: number
  packets: number
  bytes: number
  /** Flows created for this rule since start. */
  flowsCreated: number
}

export interface BackendStats {
  /** "<vsid>/<address>:<port>", the name Maglev hashes. */
  name: string
  pool: string
  virtualSubnetId: number
  address: string
  port: number
  state: 'active' | 'draining' | 'disabled'
  packets: number
  bytes: number
  flowsCreated: number
}

export interface StatsReport {
  /** Generation of the snapshot the packet path runs. */
  generation: number
  /** Flows in the flow table now. */
  activeFlows: number
  flowsCreated: number
  /** Live flows pushed out of a full flow table (expired ones reclaimed count as expired). */
  flowsEvicted: number
  /**
   * The same by the class of the flow evicted: half-open (TCP before the
   * handshake completed), established (and datagram flows), closing (FIN or RST seen).
   * A flood of new flows evicts half-open ones first.
   */
  flowsEvictedByClass: { halfOpen: number; established: number; closing: number }
  flowsExpired: number
  rxPackets: number
  rxBytes: number
  txPackets: number
  txBytes: number
  /** Drop reason (snake_case, see lib/dataplane/drop-reasons.ts) → packets dropped. Every reason is present. */
  drops: Record<string, number>
  vips: VipRuleStats[]
  backends: BackendStats[]
}
