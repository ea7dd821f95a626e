/** The shapes of the API's answers the console reads (see the API documentation at /docs). */
export interface Backend {
  virtualSubnetId: number
  address: string
  port?: number
  weight?: number
  state?: 'active' | 'draining' | 'disabled'
  /** Present once health probes exist. */
  health?: { state: 'up' | 'down' | 'unknown'; probe?: string; since?: string; lastCheck?: string; lastError?: string }
}
export interface Pool {
  name: string
  backends: Backend[]
}
export interface Rule {
  protocol: 'tcp' | 'udp'
  frontendPort: number
  backendPort?: number
  pool: string
  idleTimeoutSeconds?: number
  distribution?: string
  probe?: string
}
export interface Vip {
  name: string
  address: string
  virtualSubnetId: number
  natMode?: string
  rules: Rule[]
}
export interface LookupRecord {
  customerAddress: string
  virtualSubnetId: number
  providerAddress: string
  macAddress: string
  customerId?: string
  rule?: string
}
export interface CustomerRoute {
  customerId: string
  virtualSubnetId: number
  destinationPrefix: string
  nextHop: string
  metric?: number
}
export interface NodeConfig {
  providerAddress: string
  providerMac: string
  providerMtu?: number
  externalAddress?: string
  externalMac?: string
  gatewayMac?: string
  [key: string]: unknown
}
export interface Config {
  node: NodeConfig
  lookupRecords: LookupRecord[]
  customerRoutes: CustomerRoute[]
  pools: Pool[]
  vips: Vip[]
  [key: string]: unknown
}
export interface VipRuleStats {
  vip: string
  address: string
  virtualSubnetId: number
  protocol: string
  frontendPort: number
  packets: number
  bytes: number
  flowsCreated: number
}
export interface BackendStats {
  name: string
  pool: string
  virtualSubnetId: number
  address: string
  port: number
  state: string
  packets: number
  bytes: number
  flowsCreated: number
}
export interface Stats {
  generation: number
  activeFlows: number
  flowsCreated: number
  flowsEvicted: number
  flowsExpired: number
  rxPackets: number
  rxBytes: number
  txPackets: number
  txBytes: number
  drops: Record<string, number>
  vips: VipRuleStats[]
  backends: BackendStats[]
}
export interface Instance {
  name: string
  version: string
  providerAddress?: string
  externalAddress?: string
  ready: boolean
  configGeneration: number
  adoptedGeneration: number
  startedAt: string
  uptimeSeconds: number
}
