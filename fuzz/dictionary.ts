/** Dictionary words (libFuzzer -dict): the reference configuration's addresses, MACs, VSIDs and ports, and wire constants. */
import type { NvlbConfig } from '../lib/control/config-types'
import { parseIPv4, parseMac } from '../lib/packet/address'

function word(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes)
}

function u32(v: number): Uint8Array {
  return word((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255)
}

export function configDictionary(config: NvlbConfig): Uint8Array[] {
  const out: Uint8Array[] = []
  const ips = new Set<string>([
    config.node.providerAddress,
    ...(config.node.externalAddress === undefined ? [] : [config.node.externalAddress]),
    ...(config.node.peerProviderAddresses ?? []),
    '198.51.100.10',
  ])
  const macs = new Set<string>([config.node.providerMac, config.node.gatewayMac, ...(config.node.externalMac === undefined ? [] : [config.node.externalMac])])
  const vsids = new Set<number>()
  const ports = new Set<number>([80, 443, 1024, 53])
  for (const r of config.lookupRecords) {
    ips.add(r.customerAddress)
    ips.add(r.providerAddress)
    macs.add(r.macAddress)
    vsids.add(r.virtualSubnetId)
  }
  for (const n of config.neighbors ?? []) {
    ips.add(n.address)
    macs.add(n.mac)
  }
  for (const v of config.vips) {
    ips.add(v.address)
    for (const r of v.rules) {
      ports.add(r.frontendPort)
      ports.add(r.backendPort)
    }
  }
  for (const ip of ips) out.push(u32(parseIPv4(ip) >>> 0))
  for (const mac of macs) {
    const m = parseMac(mac)
    if (m !== null) out.push(Uint8Array.from(m))
  }
  out.push(word(0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
  for (const v of vsids) out.push(u32((v << 8) >>> 0), word(0x20, 0x00, 0x65, 0x58, (v >>> 16) & 255, (v >>> 8) & 255, v & 255))
  for (const p of ports) out.push(word(p >>> 8, p & 255))
  // Ethertypes, the NVGRE header, IPv4 version/IHL, DF, protocols, TCP flags, ICMP types, ARP.
  out.push(word(0x08, 0x00), word(0x08, 0x06), word(0x81, 0x00), word(0x88, 0xa8), word(0x65, 0x58), word(0x86, 0xdd))
  out.push(word(0x20, 0x00, 0x65, 0x58), word(0x45), word(0x46), word(0x4f), word(0x40, 0x00), word(0x20, 0x00), word(0x00, 0x01))
  out.push(word(6), word(17), word(1), word(47), word(0x02), word(0x12), word(0x10), word(0x11), word(0x04), word(0x18))
  out.push(word(3, 3), word(3, 4), word(11, 0), word(8, 0), word(0, 1, 8, 0, 6, 4), word(0x02, 0x04, 0x05, 0xb4))
  return out
}
