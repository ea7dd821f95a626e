/**
 * NVGRE encapsulation (katran's pckt_encap): outer Ethernet,
 * outer IPv4 (protocol 47), GRE with the key VSID << 8 | FlowID and the inner
 * Ethernet header, written in the NVGRE_ENCAP_HEADERS bytes in front of an
 * inner IPv4 packet. 32-bit big-endian stores through a DataView: a quarter of
 * the byte stores; the outer checksum from the field values.
 */
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, ETHERTYPE_TEB } from '../packet/ethernet'
import { IPPROTO_GRE, IPV4_DEFAULT_TTL, IPV4_HEADER_LENGTH, IPV4_VERSION_IHL_NO_OPTIONS } from '../packet/ipv4'
import { NVGRE_ENCAP_OVERHEAD, NVGRE_FLAGS_VERSION, NVGRE_HEADER_LENGTH } from '../packet/nvgre'
import type { Snapshot } from './snapshot'

/** 8 bits of FlowID from a per-flow hash. */
export function flowIdOf(hash: number): number {
  return (hash ^ (hash >>> 8) ^ (hash >>> 16) ^ (hash >>> 24)) & 0xff
}

export class NvgreEncap {
  private providerAddress = 0
  // MACs as 16 + 32 bits, for 32-bit stores.
  private providerMacHigh = 0
  private providerMacLow = 0
  private gatewayMacHigh = 0
  private gatewayMacLow = 0
  private ipId = 0

  /** Take nvlb's PA and MACs from a new snapshot. */
  adopt(snapshot: Snapshot): void {
    const p = snapshot.providerMac
    const g = snapshot.gatewayMac
    this.providerAddress = snapshot.providerAddress
    this.providerMacHigh = (p[0]! << 8) | p[1]!
    this.providerMacLow = (p[2]! << 24) | (p[3]! << 16) | (p[4]! << 8) | p[5]!
    this.gatewayMacHigh = (g[0]! << 8) | g[1]!
    this.gatewayMacLow = (g[2]! << 24) | (g[3]! << 16) | (g[4]! << 8) | g[5]!
  }

  /** The IPv4 identification of the next packet nvlb originates. */
  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff
    return this.ipId
  }

  /**
   * Headers at v[start, start + NVGRE_ENCAP_HEADERS) for an inner packet of
   * `total` bytes: to the next hop (nextHop[nextHopOff..+6)) of the host PA,
   * in `vsid`, to the VM's MAC; `df` is the DF bit for the outer header.
   */
  write(v: DataView<ArrayBufferLike>, start: number, total: number, nextHop: Uint8Array, nextHopOff: number, host: number, vsid: number, vmMac: Uint8Array, vmMacOff: number, entropy: number, df: number): void {
    const nb = nextHop
    const no = nextHopOff
    // Outer Ethernet: nvlb → next hop of the host's PA.
    v.setInt32(start, (nb[no]! << 24) | (nb[no + 1]! << 16) | (nb[no + 2]! << 8) | nb[no + 3]!)
    v.setInt32(start + 4, (nb[no + 4]! << 24) | (nb[no + 5]! << 16) | this.providerMacHigh)
    v.setInt32(start + 8, this.providerMacLow)
    v.setUint16(start + 12, ETHERTYPE_IPV4)
    // Outer IPv4: nvlb PA → host PA, protocol 47.
    const oip = start + ETHERNET_HEADER_LENGTH
    const length = total + NVGRE_ENCAP_OVERHEAD
    const id = this.nextIpId()
    const pa = this.providerAddress
    let sum = (IPV4_VERSION_IHL_NO_OPTIONS << 8) + length + id + df + ((IPV4_DEFAULT_TTL << 8) | IPPROTO_GRE)
    sum += (pa >>> 16) + (pa & 0xffff) + (host >>> 16) + (host & 0xffff)
    sum = (sum & 0xffff) + (sum >>> 16)
    sum = (sum & 0xffff) + (sum >>> 16)
    v.setInt32(oip, (IPV4_VERSION_IHL_NO_OPTIONS << 24) | length)
    v.setInt32(oip + 4, (id << 16) | df)
    v.setInt32(oip + 8, (IPV4_DEFAULT_TTL << 24) | (IPPROTO_GRE << 16) | (~sum & 0xffff))
    v.setInt32(oip + 12, pa)
    v.setInt32(oip + 16, host)
    // GRE: K bit, transparent Ethernet bridging, key = VSID << 8 | FlowID.
    const gre = oip + IPV4_HEADER_LENGTH
    v.setInt32(gre, (NVGRE_FLAGS_VERSION << 16) | ETHERTYPE_TEB)
    v.setInt32(gre + 4, (vsid << 8) | flowIdOf(entropy))
    // Inner Ethernet: gateway → VM.
    const ieth = gre + NVGRE_HEADER_LENGTH
    v.setInt32(ieth, (vmMac[vmMacOff]! << 24) | (vmMac[vmMacOff + 1]! << 16) | (vmMac[vmMacOff + 2]! << 8) | vmMac[vmMacOff + 3]!)
    v.setInt32(ieth + 4, (vmMac[vmMacOff + 4]! << 24) | (vmMac[vmMacOff + 5]! << 16) | this.gatewayMacHigh)
    v.setInt32(ieth + 8, this.gatewayMacLow)
    v.setUint16(ieth + 12, ETHERTYPE_IPV4)
  }
}
