/**
 * The HNV policy a Hyper-V host holds, built from the same configuration document nvlb
 * reads: lookup records (VSID, CA) → (PA, MAC), routing domains, customer routes, and
 * the provider neighbours it may reach without ARP.
 *
 * It accepts exactly the documents nvlb accepts (it runs nvlb's validator): records
 * with the Nat or None rule are refused with the same message (lookup-rules.ts), and
 * routing domains follow the one rule of routing-domain.ts.
 *
 * Lookups take numbers (IPv4 as unsigned 32-bit) and allocate nothing.
 */
import type { NvlbConfig } from '../control/config-types'
import { validateConfig } from '../control/config-validate'
import { domainResolver, routingDomains } from '../control/routing-domain'
import { parseIPv4, parseMac, parsePrefix } from '../packet/address'

export interface PolicyRecord {
  virtualSubnetId: number
  customerAddress: number
  providerAddress: number
  mac: Uint8Array
  /** Routing domain (customerId, or `vsid:<n>` for records without one). */
  routingDomain: string
}

export interface PolicyRoute {
  virtualSubnetId: number
  prefix: number
  prefixLength: number
  mask: number
  /** 0 = on-link (no next hop). */
  nextHop: number
  metric: number
}

export class HostPolicy {
  /** Inner source MAC of routed frames and the MAC answered for a gateway CA without a record. */
  readonly gatewayMac: Uint8Array
  readonly providerMtu: number
  /** nvlb's own PA and MAC (node.providerAddress/providerMac). */
  readonly gatewayProviderAddress: number
  /** Static provider neighbours: the config's `neighbors` plus nvlb's PA. */
  readonly neighbors = new Map<number, Uint8Array>()
  private readonly records = new Map<number, Map<number, PolicyRecord>>()
  private readonly domainOf = new Map<number, string>()
  /** VSIDs of each routing domain, in ascending order. */
  private readonly domainSubnets = new Map<string, number[]>()
  /** Per VSID, longest prefix first, then lowest metric. */
  private readonly routes = new Map<number, PolicyRoute[]>()

  private constructor(config: NvlbConfig) {
    this.gatewayMac = parseMac(config.node.gatewayMac)!
    this.providerMtu = config.node.providerMtu
    this.gatewayProviderAddress = parseIPv4(config.node.providerAddress)
    this.neighbors.set(this.gatewayProviderAddress, parseMac(config.node.providerMac)!)
    for (const n of config.neighbors) this.neighbors.set(parseIPv4(n.address), parseMac(n.mac)!)

    const domainOf = domainResolver(routingDomains(config))
    for (const r of config.lookupRecords) {
      const domain = domainOf(r.virtualSubnetId)
      this.assignDomain(r.virtualSubnetId, domain)
      let bySubnet = this.records.get(r.virtualSubnetId)
      if (bySubnet === undefined) {
        bySubnet = new Map()
        this.records.set(r.virtualSubnetId, bySubnet)
      }
      const ca = parseIPv4(r.customerAddress)
      bySubnet.set(ca, {
        virtualSubnetId: r.virtualSubnetId,
        customerAddress: ca,
        providerAddress: parseIPv4(r.providerAddress),
        mac: parseMac(r.macAddress)!,
        routingDomain: domain,
      })
    }
    for (const route of config.customerRoutes) {
      this.assignDomain(route.virtualSubnetId, domainOf(route.virtualSubnetId))
      const prefix = parsePrefix(route.destinationPrefix)!
      const mask = prefix.length === 0 ? 0 : (0xffffffff << (32 - prefix.length)) >>> 0
      let list = this.routes.get(route.virtualSubnetId)
      if (list === undefined) {
        list = []
        this.routes.set(route.virtualSubnetId, list)
      }
      list.push({
        virtualSubnetId: route.virtualSubnetId,
        prefix: prefix.address,
        prefixLength: prefix.length,
        mask,
        nextHop: parseIPv4(route.nextHop),
        metric: route.metric ?? 0,
      })
    }
    for (const list of this.routes.values()) {
      list.sort((a, b) => b.prefixLength - a.prefixLength || a.metric - b.metric)
    }
    for (const subnets of this.domainSubnets.values()) subnets.sort((a, b) => a - b)
  }

  /** Validates the document (nvlb's own validator: throws NvlbError) and builds the policy. */
  static fromConfig(document: unknown): HostPolicy {
    return new HostPolicy(validateConfig(document))
  }

  private assignDomain(vsid: number, domain: string): void {
    if (this.domainOf.has(vsid)) return
    this.domainOf.set(vsid, domain)
    let subnets = this.domainSubnets.get(domain)
    if (subnets === undefined) {
      subnets = []
      this.domainSubnets.set(domain, subnets)
    }
    subnets.push(vsid)
  }

  routingDomain(vsid: number): string | undefined {
    return this.domainOf.get(vsid)
  }

  /** The record of (VSID, CA) exactly. */
  lookup(vsid: number, ca: number): PolicyRecord | undefined {
    return this.records.get(vsid)?.get(ca)
  }

  /**
   * The record for a destination CA seen from `vsid`: in the same VSID first, else in
   * another VSID of the same routing domain (the host then sends with that VSID).
   */
  resolve(vsid: number, ca: number): PolicyRecord | undefined {
    const own = this.records.get(vsid)?.get(ca)
    if (own !== undefined) return own
    const domain = this.domainOf.get(vsid)
    if (domain === undefined) return undefined
    const subnets = this.domainSubnets.get(domain)!
    for (let i = 0; i < subnets.length; i++) {
      const other = subnets[i]!
      if (other === vsid) continue
      const record = this.records.get(other)?.get(ca)
      if (record !== undefined) return record
    }
    return undefined
  }

  /** The CAs a VM in `vsid` can resolve (records of its VSID, then of its routing domain's other VSIDs), each once. */
  visibleAddresses(vsid: number): Set<number> {
    const addresses = new Set<number>(this.records.get(vsid)?.keys() ?? [])
    const domain = this.domainOf.get(vsid)
    for (const other of domain === undefined ? [] : this.domainSubnets.get(domain)!) {
      for (const ca of this.records.get(other)?.keys() ?? []) addresses.add(ca)
    }
    return addresses
  }

  /** `vsid`'s customer routes, longest prefix first, then lowest metric (the order `route` tries them in). */
  routesOf(vsid: number): readonly PolicyRoute[] {
    return this.routes.get(vsid) ?? []
  }

  /** The best customer route of `vsid` for `destination`, or undefined. */
  route(vsid: number, destination: number): PolicyRoute | undefined {
    const list = this.routes.get(vsid)
    if (list === undefined) return undefined
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!
      if (((destination & r.mask) >>> 0) === r.prefix) return r
    }
    return undefined
  }

  /** Whether `address` is the next hop of one of `vsid`'s customer routes (a gateway CA). */
  isGateway(vsid: number, address: number): boolean {
    const list = this.routes.get(vsid)
    if (list === undefined) return false
    for (let i = 0; i < list.length; i++) if (list[i]!.nextHop === address) return true
    return false
  }

  /**
   * Where a VM in `vsid` sends a packet for `destination`: the destination's record
   * (same VSID or routing domain), else the record of the next hop of its customer
   * route (the gateway CA, whose record points at nvlb). Undefined: no way there.
   */
  nextRecord(vsid: number, destination: number): PolicyRecord | undefined {
    const direct = this.resolve(vsid, destination)
    if (direct !== undefined) return direct
    const route = this.route(vsid, destination)
    if (route === undefined || route.nextHop === 0) return undefined
    return this.resolve(vsid, route.nextHop)
  }
}
