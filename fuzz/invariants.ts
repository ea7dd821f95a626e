/**
 * What must hold for every frame nvlb emits, whatever it was fed (the fuzzer checks it after
 * every input; the regression tests check it for the inputs the fuzzer found):
 *
 * - output for a tenant only: an NVGRE frame goes to a VSID of the input's routing domain
 *   (the VSID's domain for NVGRE input, the domains of the public VIP's pools for plain IP),
 *   to a CA that a lookup record defines, to that record's host PA and VM MAC. Hairpin is
 *   the one way between tenants: a VM's NVGRE to a public VIP may go to that VIP's pools'
 *   domains, and NVGRE to nvlb's external address (a hairpin reply) to any domain, but what
 *   enters another tenant's domain then comes from a public address (the external address
 *   or a public VIP), never from a tenant's CA;
 * - nothing larger than the MTU: node.providerMtu for the outer IPv4 packet of NVGRE, 1500 on
 *   the external side; frames are well-formed (IPv4 total length inside the frame);
 * - checksums valid: every IPv4 header nvlb emits (outer and inner) and every ICMP message; a
 *   TCP or UDP checksum that was valid in the input is valid in the output (nvlb updates
 *   checksums incrementally, so a segment that arrived corrupt stays detectably corrupt);
 * - no tenant address leaks to the Internet: plain IPv4 leaving the external side comes from a
 *   public VIP or nvlb's external address; NVGRE leaves from nvlb's PA and provider MAC;
 * - never to MAC 00:00:00:00:00:00, and IPv4 never to a group (multicast, broadcast) MAC;
 *   NVGRE only on the provider side, plain IPv4 only on the external side.
 *
 * Allocation-light, no parseFrame(): it runs for every frame of a fuzzing run.
 */
import type { NvlbConfig } from '../lib/control/config-types'
import { parseIPv4, parseMac } from '../lib/packet/address'

export const EXTERNAL_MTU = 1500
const SIDE_PROVIDER = 0
const SIDE_EXTERNAL = 1

export interface Violation {
  /** Short stable name: the finding's signature. */
  kind: string
  detail: string
}

interface Record_ {
  pa: number
  mac: Uint8Array
}

/** Big-endian 16 bits (the fuzzer's own, independent of lib/packet). */
export function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0
}

/** One's-complement sum of `len` bytes from `off`, folded to 16 bits (the fuzzer's own oracle, independent of lib/packet/checksum). */
export function sum(b: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial
  const end = off + len
  let i = off
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!
  if (i < end) s += b[i]! << 8
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return s
}

function ip4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

/** Sum of the IPv4 pseudo-header of the packet at `ip`. */
function pseudo(b: Uint8Array, ip: number, protocol: number, l4Length: number): number {
  return sum(b, ip + 12, 8, protocol + l4Length)
}

/** The customer packet of a frame: the IP packet for plain IPv4, the inner one for NVGRE. */
export interface InputContext {
  /** 'nvgre', 'external' or 'other' (ARP and anything that is no IPv4). */
  kind: string
  /** Routing domains output may go to. */
  domains: ReadonlySet<string>
  /** NVGRE input: the domain of its VSID (output into any other domain must come from a public address). */
  own: string | undefined
  /** Protocol of the customer packet when its TCP/UDP checksum was valid (or UDP had none), else -1. */
  l4ValidProtocol: number
}

const NONE: ReadonlySet<string> = new Set()

export class Invariants {
  private readonly providerAddress: number
  private readonly providerMac: Uint8Array
  private readonly providerMtu: number
  private readonly domainOfVsid = new Map<number, string>()
  private readonly vipDomains = new Map<number, Set<string>>()
  private readonly publicSources = new Set<number>()
  private readonly records = new Map<string, Record_>()
  private readonly domainSets = new Map<string, ReadonlySet<string>>()
  private readonly externalAddress: number
  /** Hairpin: the domains NVGRE of a domain to a public address may reach, by `domain|address`. */
  private readonly hairpinSets = new Map<string, ReadonlySet<string>>()

  constructor(config: NvlbConfig) {
    this.providerAddress = parseIPv4(config.node.providerAddress) >>> 0
    this.providerMac = parseMac(config.node.providerMac)!
    this.providerMtu = config.node.providerMtu
    this.externalAddress = config.node.externalAddress === undefined ? -1 : parseIPv4(config.node.externalAddress) >>> 0
    if (config.node.externalAddress !== undefined) this.publicSources.add(this.externalAddress)
    for (const r of config.lookupRecords) {
      if (r.customerId !== undefined) this.domainOfVsid.set(r.virtualSubnetId, r.customerId)
      this.records.set(`${r.virtualSubnetId}/${parseIPv4(r.customerAddress) >>> 0}`, { pa: parseIPv4(r.providerAddress) >>> 0, mac: parseMac(r.macAddress)! })
    }
    for (const r of config.customerRoutes) this.domainOfVsid.set(r.virtualSubnetId, r.customerId)
    const pools = new Map(config.pools.map((p) => [p.name, p]))
    for (const vip of config.vips) {
      if (vip.virtualSubnetId !== 0) continue
      const address = parseIPv4(vip.address) >>> 0
      this.publicSources.add(address)
      const set = this.vipDomains.get(address) ?? new Set<string>()
      for (const rule of vip.rules) {
        for (const b of pools.get(rule.pool)?.backends ?? []) {
          const d = this.domainOfVsid.get(b.virtualSubnetId)
          if (d !== undefined) set.add(d)
        }
      }
      this.vipDomains.set(address, set)
    }
    for (const d of new Set(this.domainOfVsid.values())) this.domainSets.set(d, new Set([d]))
  }

  /** What an input frame allows its output to be. */
  context(f: Uint8Array): InputContext {
    const ctx: InputContext = { kind: 'other', domains: NONE, own: undefined, l4ValidProtocol: -1 }
    if (f.length < 14) return ctx
    let l2 = 14
    let et = u16(f, 12)
    if (et === 0x8100 && f.length >= 18) {
      et = u16(f, 16)
      l2 = 18
    }
    if (et !== 0x0800 || f.length < l2 + 20) return ctx
    let ip = l2
    if (f[ip + 9] === 47 && u32(f, ip + 16) === this.providerAddress) {
      ctx.kind = 'nvgre'
      const gre = ip + ((f[ip]! & 15) << 2)
      if (gre + 8 > f.length) return ctx
      const d = this.domainOfVsid.get(u32(f, gre + 4) >>> 8)
      ip = gre + 8 + 14
      if (d !== undefined) {
        ctx.own = d
        ctx.domains = ip + 20 <= f.length ? this.hairpinDomains(d, u32(f, ip + 16)) : this.domainSets.get(d)!
      }
    } else {
      ctx.kind = 'external'
      ctx.domains = this.vipDomains.get(u32(f, ip + 16)) ?? NONE
    }
    ctx.l4ValidProtocol = this.validL4(f, ip)
    return ctx
  }

  /** Domains NVGRE of domain `own` to inner destination `dst` may reach: its own, and by hairpin others. */
  private hairpinDomains(own: string, dst: number): ReadonlySet<string> {
    const vip = this.vipDomains.get(dst)
    if (vip === undefined && dst !== this.externalAddress) return this.domainSets.get(own)!
    const key = `${own}|${dst}`
    let set = this.hairpinSets.get(key)
    if (set === undefined) {
      set = new Set([own, ...(dst === this.externalAddress ? this.domainSets.keys() : []), ...(vip ?? [])])
      this.hairpinSets.set(key, set)
    }
    return set
  }

  /** Protocol of the unfragmented TCP/UDP packet at `ip` whose checksum is right (or UDP 0), else -1. */
  private validL4(f: Uint8Array, ip: number): number {
    if (ip + 20 > f.length || f[ip]! >> 4 !== 4) return -1
    const ihl = (f[ip]! & 15) << 2
    const total = u16(f, ip + 2)
    if (ihl < 20 || total < ihl || ip + total > f.length) return -1
    if ((u16(f, ip + 6) & 0x3fff) !== 0) return -1
    const protocol = f[ip + 9]!
    const l4 = ip + ihl
    const l4Length = total - ihl
    if (protocol === 6) {
      if (l4Length < 20) return -1
      return sum(f, l4, l4Length, pseudo(f, ip, 6, l4Length)) === 0xffff ? 6 : -1
    }
    if (protocol === 17) {
      if (l4Length < 8) return -1
      if (u16(f, l4 + 6) === 0) return 17
      return sum(f, l4, l4Length, pseudo(f, ip, 17, l4Length)) === 0xffff ? 17 : -1
    }
    return -1
  }

  /** The first rule an output frame breaks, or null. */
  check(ctx: InputContext, f: Uint8Array, side: number): Violation | null {
    if (f.length < 14) return { kind: 'runt', detail: `${f.length}-byte frame` }
    if (u32(f, 0) === 0 && u16(f, 4) === 0) return { kind: 'zero_mac', detail: 'sent to 00:00:00:00:00:00' }
    let l2 = 14
    let et = u16(f, 12)
    if (et === 0x8100 && f.length >= 18) {
      et = u16(f, 16)
      l2 = 18
    }
    if (et === 0x0806) return f.length >= l2 + 28 ? null : { kind: 'runt', detail: 'ARP shorter than 28 bytes' }
    if (et !== 0x0800) return { kind: 'bad_ethertype', detail: `ethertype 0x${et.toString(16)}` }
    if ((f[0]! & 1) !== 0) return { kind: 'group_mac', detail: 'IPv4 sent to a group (multicast or broadcast) MAC' }
    const ip = l2
    const bad = this.ipHeader(f, ip, 'outer')
    if (bad !== null) return bad
    const total = u16(f, ip + 2)
    if (f[ip + 9] === 47) {
      if (side !== SIDE_PROVIDER) return { kind: 'side', detail: 'NVGRE sent on the external side' }
      if (u32(f, ip + 12) !== this.providerAddress) return { kind: 'outer_source', detail: `outer source ${ip4(u32(f, ip + 12))} is not nvlb's PA` }
      for (let i = 0; i < 6; i++) if (f[6 + i] !== this.providerMac[i]) return { kind: 'outer_source', detail: 'outer source MAC is not the provider MAC' }
      if (total > this.providerMtu || f.length - l2 > this.providerMtu) {
        return { kind: 'mtu', detail: `NVGRE IP packet of ${total} bytes (frame ${f.length}) > providerMtu ${this.providerMtu}` }
      }
      const gre = ip + ((f[ip]! & 15) << 2)
      if (gre + 8 + 14 > ip + total) return { kind: 'malformed', detail: 'NVGRE output cut short' }
      if (u16(f, gre) !== 0x2000 || u16(f, gre + 2) !== 0x6558) return { kind: 'malformed', detail: 'GRE header is not NVGRE' }
      const vsid = u32(f, gre + 4) >>> 8
      const ieth = gre + 8
      if (u16(f, ieth + 12) !== 0x0800) return { kind: 'malformed', detail: 'inner frame is not IPv4' }
      const iip = ieth + 14
      const badInner = this.ipHeader(f, iip, 'inner')
      if (badInner !== null) return badInner
      if (iip + u16(f, iip + 2) > ip + total) return { kind: 'malformed', detail: 'inner packet longer than the outer one' }
      const domain = this.domainOfVsid.get(vsid)
      if (domain === undefined || !ctx.domains.has(domain)) {
        return { kind: 'cross_tenant', detail: `${ctx.kind} input of domain(s) [${[...ctx.domains].join(',')}] sent into VSID ${vsid} (${domain ?? 'no domain'})` }
      }
      if (ctx.own !== undefined && domain !== ctx.own && !this.publicSources.has(u32(f, iip + 12))) {
        return { kind: 'cross_tenant', detail: `${ctx.kind} input of domain ${ctx.own} sent into VSID ${vsid} (${domain}) from the tenant address ${ip4(u32(f, iip + 12))}` }
      }
      const dst = u32(f, iip + 16)
      const record = this.records.get(`${vsid}/${dst}`)
      if (record === undefined) return { kind: 'unknown_destination', detail: `VSID ${vsid}, inner destination ${ip4(dst)} has no lookup record` }
      if (u32(f, ip + 16) !== record.pa) return { kind: 'wrong_host', detail: `VSID ${vsid} ${ip4(dst)} lives on ${ip4(record.pa)}, sent to ${ip4(u32(f, ip + 16))}` }
      for (let i = 0; i < 6; i++) if (f[ieth + i] !== record.mac[i]) return { kind: 'wrong_host', detail: `VSID ${vsid} ${ip4(dst)}: inner destination MAC is not the record's` }
      return this.l4(ctx, f, iip)
    }
    if (side !== SIDE_EXTERNAL) return { kind: 'side', detail: 'plain IPv4 sent on the provider side' }
    if (total > EXTERNAL_MTU || f.length - l2 > EXTERNAL_MTU) return { kind: 'mtu', detail: `external IP packet of ${total} bytes (frame ${f.length}) > ${EXTERNAL_MTU}` }
    const src = u32(f, ip + 12)
    if (!this.publicSources.has(src)) return { kind: 'tenant_address_leak', detail: `plain IPv4 from ${ip4(src)} leaves the external side` }
    return this.l4(ctx, f, ip)
  }

  private ipHeader(f: Uint8Array, ip: number, which: string): Violation | null {
    if (ip + 20 > f.length || f[ip]! >> 4 !== 4) return { kind: 'malformed', detail: `${which} IPv4 header missing` }
    const ihl = (f[ip]! & 15) << 2
    const total = u16(f, ip + 2)
    if (ihl < 20 || total < ihl || ip + total > f.length) return { kind: 'malformed', detail: `${which} IPv4 header length ${ihl}, total ${total}, ${f.length - ip} bytes present` }
    if (sum(f, ip, ihl, 0) !== 0xffff) return { kind: 'ip_checksum', detail: `${which} IPv4 header checksum wrong` }
    return null
  }

  private l4(ctx: InputContext, f: Uint8Array, ip: number): Violation | null {
    const ihl = (f[ip]! & 15) << 2
    const total = u16(f, ip + 2)
    if ((u16(f, ip + 6) & 0x3fff) !== 0) return null
    const protocol = f[ip + 9]!
    const l4 = ip + ihl
    const l4Length = total - ihl
    if (protocol === 1) {
      if (l4Length < 8) return { kind: 'malformed', detail: 'ICMP message shorter than 8 bytes' }
      return sum(f, l4, l4Length, 0) === 0xffff ? null : { kind: 'icmp_checksum', detail: 'ICMP checksum wrong' }
    }
    if (protocol !== ctx.l4ValidProtocol) return null
    if (protocol === 6 && l4Length >= 20 && sum(f, l4, l4Length, pseudo(f, ip, 6, l4Length)) !== 0xffff) {
      return { kind: 'l4_checksum', detail: 'TCP checksum valid in the input, wrong in the output' }
    }
    if (protocol === 17 && l4Length >= 8 && u16(f, l4 + 6) !== 0 && sum(f, l4, l4Length, pseudo(f, ip, 17, l4Length)) !== 0xffff) {
      return { kind: 'l4_checksum', detail: 'UDP checksum valid in the input, wrong in the output' }
    }
    return null
  }
}
