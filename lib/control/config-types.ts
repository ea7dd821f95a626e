import type { ProbeConfig } from '../health/probe-config'
/**
 * The configuration document: one JSON object, these field names (its schema, with
 * ranges and meanings, is config-schema.ts). After validation (config-validate.ts)
 * every optional field below that has a default is filled in, MAC addresses are
 * lower-case colon-separated and addresses are dotted quads.
 */
export type NatMode = 'dnat' | 'fullnat'
export type Protocol = 'tcp' | 'udp'
export type Distribution = '5-tuple' | '3-tuple' | '2-tuple'
export type BackendState = 'active' | 'draining' | 'disabled'
/** The only rule nvlb carries traffic for; Nat and None are refused (lookup-rules.ts). */
export type LookupRule = 'TranslationMethodEncap'

export interface NodeConfig {
  providerAddress: string
  providerMac: string
  /** Required once a public VIP (VSID 0) exists. */
  externalAddress?: string
  externalMac?: string
  gatewayMac: string
  /** Default 1500. */
  providerMtu: number
  providerInterface?: string
  externalInterface?: string
  /** Default false. */
  mssClamp?: boolean
  /** Default 1048576. */
  maxFlows?: number
  /** Maglev table size M, a prime; default 65537. */
  maglevTableSize?: number
  /** Inner source address of health probes; required once a rule names a probe. */
  probeAddress?: string
  /** A PA shared by all instances (docs/ha.md); NVGRE to it is accepted as to providerAddress. */
  sharedProviderAddress?: string
  /** PAs of the other nvlb instances: NVGRE from them passes the trust check. */
  peerProviderAddresses?: string[]
}

export interface Neighbor {
  address: string
  mac: string
}

export interface LookupRecord {
  customerAddress: string
  virtualSubnetId: number
  providerAddress: string
  macAddress: string
  /** Routing domain. Records without one form a domain of their own VSID. */
  customerId?: string
  /** Default TranslationMethodEncap. */
  rule?: LookupRule
}

export interface CustomerRoute {
  customerId: string
  virtualSubnetId: number
  destinationPrefix: string
  nextHop: string
  metric?: number
}

export interface PoolBackend {
  virtualSubnetId: number
  address: string
  /** Default 1; 0 keeps the backend in the pool without giving it new flows. */
  weight: number
  /** Default 'active'. */
  state: BackendState
}

export interface Pool {
  name: string
  backends: PoolBackend[]
}

export interface VipRule {
  protocol: Protocol
  frontendPort: number
  /** Default: frontendPort. */
  backendPort: number
  pool: string
  /** Default 240. */
  idleTimeoutSeconds: number
  /** Default '5-tuple'. */
  distribution: Distribution
  /** Name of a health probe (top-level `probes`). */
  probe?: string
  /** When every backend is down: 'drop' new flows (default) or 'useAll'. */
  whenAllDown?: 'drop' | 'useAll'
}

export interface Vip {
  name: string
  address: string
  /** 0 = public VIP; otherwise a CA VIP inside that VSID. */
  virtualSubnetId: number
  /** Default 'dnat' for public VIPs, 'fullnat' for CA VIPs. */
  natMode: NatMode
  rules: VipRule[]
}

export interface NvlbConfig {
  node: NodeConfig
  neighbors: Neighbor[]
  lookupRecords: LookupRecord[]
  customerRoutes: CustomerRoute[]
  pools: Pool[]
  vips: Vip[]
  /** Health probes rules may name; default []. */
  probes?: ProbeConfig[]
}
