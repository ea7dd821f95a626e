/** Input and answer of the "which backend gets this flow?" simulator (POST /v1/simulate). */
export interface SimulatedFlow {
  /** 0 for traffic from the Internet to a public VIP. */
  virtualSubnetId: number
  protocol: 'tcp' | 'udp'
  source: string
  sourcePort: number
  destination: string
  destinationPort: number
}

export interface SimulationResult {
  matched: boolean
  /** Why: which rule matched and how the backend was chosen, or why nothing matched. */
  reason: string
  vip?: { name: string; address: string; virtualSubnetId: number; natMode: 'dnat' | 'fullnat' }
  rule?: { protocol: 'tcp' | 'udp'; frontendPort: number; backendPort: number; pool: string; distribution: string }
  backend?: { name: string; virtualSubnetId: number; address: string; port: number; providerAddress: string; macAddress: string }
  /** The flow hash and the Maglev table slot it selected. */
  hash?: number
  slot?: number
}
