import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4'
import type { KeyTable } from './key-table'

/**
 * The compiled, immutable configuration the packet path runs.
 * Plain data only (numbers, strings, typed arrays, arrays of plain objects)
 * so that it can be posted to worker threads as it is.
 *
 * IPv4 addresses are int32 (the address's bits, `>>> 0` for the unsigned
 * value): a number above 2^31 would be boxed whenever the packet path passes
 * it to a function.
 *
 * Rules and backends have stable numeric ids across snapshots (the compiler
 * keeps a registry), so flows that name them survive a new snapshot. An id
 * is given to another rule or backend only after every engine has swept its
 * flows against a snapshot that no longer has it (lib/control/id-allocator.ts).
 */
export const NAT_DNAT = 0
export const NAT_FULLNAT = 1

export const DIST_5_TUPLE = 5
export const DIST_3_TUPLE = 3
export const DIST_2_TUPLE = 2

export const BACKEND_ACTIVE = 0
export const BACKEND_DRAINING = 1
export const BACKEND_DISABLED = 2
/** The id is not in use in this snapshot. */
export const BACKEND_ABSENT = 3

/**
 * Rule ids: 2^15, room for the 10,000 VIPs of a cloud with two rules each and those
 * quarantined after removal. The most that every packing of a rule id keeps a
 * non-negative int32: the flow record's rule id << 16 | NAT port (flow-table.ts) and
 * the flowless dnat reply index's backend id << 15 | rule id (dnat-reply-index.ts,
 * 16 + 15 bits). Counters and the engine's per-id arrays have a slot per id.
 */
export const MAX_RULE_IDS = 1 << 15
export const MAX_BACKEND_IDS = 65536

/** IP protocol numbers as the snapshot stores them (the wire's, from lib/packet). */
export const PROTO_ICMP = IPPROTO_ICMP
export const PROTO_TCP = IPPROTO_TCP
export const PROTO_UDP = IPPROTO_UDP

/**
 * rulesByAddress value when (vip, vsid, protocol) has more than one rule: a
 * VIP address all the same, but the port decides the rule. Key-table values
 * are never negative (a negative value marks an empty slot).
 */
export const RULE_SEVERAL = 0x7fffffff

/** Routing domain of VSID 0 (the public side). */
export const PUBLIC_DOMAIN = 0

export interface CompiledRule {
  id: number
  vipName: string
  vipAddress: number
  vipAddressText: string
  virtualSubnetId: number
  /** Routing domain of the VIP's VSID (PUBLIC_DOMAIN for public VIPs). */
  domain: number
  protocol: number
  frontendPort: number
  backendPort: number
  natMode: number
  distribution: number
  idleTimeoutSeconds: number
  pool: string
  /** The pool's number in this snapshot (backendPoolId has the same numbers): compared per packet instead of the name. */
  poolId: number
  /** Maglev lookup table: slot → backend id, -1 when the pool has no active backend. */
  table: Int32Array
}

export interface Snapshot {
  generation: number
  /**
   * The compiler's sequence number of this snapshot: strictly increasing
   * (a generation repeats after a change whose write failed). Engines report
   * the epoch their flow table has been swept against (G_SWEPT_EPOCH).
   */
  epoch: number
  /** Per rule id: the epoch the id was given its current rule (counters restart when it changes). */
  ruleSince: Int32Array
  /** Per backend id: the epoch the id was given its current backend. */
  backendSince: Int32Array
  providerAddress: number
  providerMac: Uint8Array
  /** node.sharedProviderAddress (0 when none): a PA every instance owns besides its own; NVGRE to it is nvlb's too. */
  sharedProviderAddress: number
  externalAddress: number
  externalMac: Uint8Array
  gatewayMac: Uint8Array
  providerMtu: number
  /** node.probeAddress (0 when none): NVGRE to it is probe traffic, not the packet path's. */
  probeAddress: number
  mssClamp: boolean
  /** providerMtu − 42 − 40: the largest MSS that fits the provider MTU after encapsulation. */
  clampedMss: number
  maxFlows: number
  maglevSize: number

  /** (vipAddress, vsid, protocol << 16 | frontendPort) → rule id. */
  rules: KeyTable
  /** (vipAddress, vsid, protocol) → rule id when exactly one rule exists for it, else RULE_SEVERAL. */
  rulesByAddress: KeyTable
  /** Public dnat replies without a flow: (backend address, backend VSID, protocol << 16 | backend port) → backendId << 15 | ruleId (dnat-reply-index.ts). */
  dnatReplies: KeyTable
  /** Indexed by rule id; null where the id is unused in this snapshot. */
  ruleList: (CompiledRule | null)[]
  /** Public VIP addresses nvlb answers ARP for: (address, 0, 0) → 1. */
  publicVips: KeyTable

  /** Backends by id (id = registry index of "<pool>|<vsid>/<address>:<port>"). */
  backendCount: number
  backendAddress: Int32Array
  backendVsid: Uint32Array
  backendPort: Uint16Array
  backendState: Uint8Array
  /** 1 where health probes took the backend down: no new flows, its flows are released on their next packet. */
  backendDown: Uint8Array
  backendDomain: Int32Array
  backendHost: Int32Array
  /** 6 bytes per backend: the VM's MAC from its lookup record. */
  backendMac: Uint8Array
  backendName: string[]
  backendPool: string[]
  /** Per backend id: its pool's number in this snapshot (CompiledRule.poolId), -1 where the id is unused. */
  backendPoolId: Int32Array

  /** (vsid, customerAddress, 0) → lookup record index. */
  lookup: KeyTable
  lookupHost: Int32Array
  /** 6 bytes per record. */
  lookupMac: Uint8Array

  /** (vsid, 0, 0) → routing domain id (≥ 1). */
  domains: KeyTable

  /** (address, 0, 0) → neighbor index; static neighbors from the configuration. */
  neighbors: KeyTable
  /** 6 bytes per neighbor. */
  neighborMac: Uint8Array

  /**
   * (address, 0, 0) → 1 for the PA of every peer instance (node.peerProviderAddresses and the
   * instances a shared store lists): NVGRE from them passes the trust check. Never nvlb's own PA.
   */
  peerProviders: KeyTable
}
