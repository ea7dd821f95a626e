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

/** What the packet workers' I/O saw (only with AF_PACKET workers). */
export interface IoReport {
  workers: number
  /** How long a worker keeps looking at its sockets after the last frame before it sleeps (µs; 0: busy-polling off). */
  busyPollUs: number
  /** How the workers move frames: 'rings', 'recvmmsg' (the kernel refused rings) or 'af-xdp'. */
  mode: string
  /** Workers that died and were started again on the same sockets. */
  workerRestarts: number
  /** Frames a worker handed to the worker that owns their flow (fragments, frames steered under an older program). */
  handoffs: number
  /** Frames that could not be handed over (the owner's ring was full): dropped. */
  handoffDrops: number
  /** Frames the kernel dropped because a socket's receive queue was full. */
  kernelDrops: number
  /** Frames longer than a receive slot: dropped. */
  rxTruncated: number
  /** Frames the kernel refused to send: dropped. */
  txErrors: number
  /** Each worker on its own: how evenly the kernel spreads frames over them. */
  perWorker?: WorkerReport[]
}

export interface WorkerReport {
  worker: number
  rxPackets: number
  txPackets: number
  activeFlows: number
  /** Generation this worker runs (−1 while it starts). */
  generation: number
  /** Times it slept in poll(2) waiting for frames. */
  sleeps: number
}

export interface StatsReport {
  /** Generation of the snapshot the packet path runs. */
  generation: number
  /**
   * The lowest snapshot epoch every engine has swept its flows against: the
   * compiler's `swept` argument (rule and backend ids freed at or before it
   * may be reused). Internal: not part of the /v1/stats document.
   */
  sweptEpoch?: number
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
  /** Public dnat replies translated without a flow (a connection another instance carried; docs/ha.md). */
  repliesWithoutFlow: number
  rxPackets: number
  rxBytes: number
  txPackets: number
  txBytes: number
  /** Drop reason (snake_case, see lib/dataplane/drop-reasons.ts) → packets dropped. Every reason is present. */
  drops: Record<string, number>
  vips: VipRuleStats[]
  backends: BackendStats[]
  /** Present when packet workers run (nvlb run with AF_PACKET). */
  io?: IoReport
}
