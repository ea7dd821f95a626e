/**
 * Address translation between the kernel's probe connections and the overlay.
 *
 * nvlb's kernel makes every probe connection (node:net, node:http) to a local
 * "probe target" address routed into a TUN device: one target per probed
 * backend (VSID, CA). What the kernel writes to the TUN is an IPv4 packet
 * `tunAddress → target`; `encapsulate` rewrites it to `probeAddress → CA`,
 * fixes the checksums and wraps it in NVGRE exactly like client traffic to that
 * backend (outer nvlb PA → host PA, key = the backend's VSID, inner
 * gateway MAC → VM MAC from the lookup record). A reply from the backend
 * (NVGRE to nvlb's PA, inner `CA → probeAddress`) goes through `decapsulate`,
 * which checks that it comes from the host the lookup record names, maps the
 * (VSID, CA) back to its target and rewrites it to `target → tunAddress` for the
 * TUN. This is the role katran's health-check program plays for its kernel
 * sockets; here the target address plays the part of katran's socket mark.
 *
 * Allocation-free per packet; every refusal is counted by reason.
 */
import { readI32, readU16, writeU16, writeU32 } from '../packet/bytes'
import { checksum, checksumAdjust32 } from '../packet/checksum'
import { ETHERTYPE_IPV4, ETHERTYPE_TEB } from '../packet/ethernet'
import { IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP } from '../packet/ipv4'
import { NVGRE_FLAGS_VERSION } from '../packet/nvgre'
import { copyMac } from '../dataplane/mac'
import { PairTable } from './pair-table'

const ETH_HLEN = 14
const IP_HLEN = 20
const GRE_HLEN = 8
/** Outer Ethernet + outer IPv4 + GRE + inner Ethernet in front of the inner IP packet. */
export const PROBE_ENCAP_HEADERS = ETH_HLEN + IP_HLEN + GRE_HLEN + ETH_HLEN
const OUTER_TTL = 64

export interface ProbeTarget {
  /** The local address the kernel connects to (unsigned). */
  target: number
  virtualSubnetId: number
  /** The backend's CA (unsigned). */
  address: number
  /** PA of the backend's host (unsigned). */
  host: number
  /** The VM's MAC, from the lookup record. */
  mac: Uint8Array
}

export interface ProbeNode {
  providerAddress: number
  providerMac: Uint8Array
  gatewayMac: Uint8Array
  /** Inner source of every probe (node.probeAddress). */
  probeAddress: number
  /** The TUN's own address: the source of the kernel's probe connections. */
  tunAddress: number
}

/** Why a packet was not translated. */
export const TranslateDrop = {
  NOT_IPV4: 0,
  NO_TARGET: 1,
  NO_NEIGHBOR: 2,
  NOT_PROBE_REPLY: 3,
  UNTRUSTED_HOST: 4,
  TOO_BIG: 5,
} as const
export const TRANSLATE_DROP_NAMES = ['not_ipv4', 'no_target', 'no_neighbor', 'not_probe_reply', 'untrusted_host', 'too_big'] as const

export class ProbeTranslator {
  private node: ProbeNode | null = null
  private targets: ProbeTarget[] = []
  /** Index in `targets` by target address. */
  private readonly byTarget = new PairTable()
  /** Index in `targets` by (VSID, CA). */
  private readonly byBackend = new PairTable()
  /** Static neighbours of the configuration (they win) and neighbours learnt from ARP: index in `macs` by address. */
  private readonly neighbors = new PairTable()
  private readonly learned = new PairTable()
  private macs: Uint8Array[] = []
  private learnedMacs: Uint8Array[] = []
  /** The host PA whose MAC encapsulate() lacked last (NO_NEIGHBOR), for the caller to resolve by ARP. */
  missingNeighbor = 0
  private ipId = 0
  readonly drops = new Float64Array(TRANSLATE_DROP_NAMES.length)
  encapsulated = 0
  decapsulated = 0
  /** Offset of the IP packet decapsulate() left in the frame. */
  outOffset = 0

  configure(node: ProbeNode, targets: readonly ProbeTarget[], neighbors: ReadonlyMap<number, Uint8Array>): void {
    this.node = node
    this.byTarget.clear()
    this.byBackend.clear()
    this.targets = [...targets]
    this.targets.forEach((t, i) => {
      this.byTarget.set(t.target, 0, i)
      this.byBackend.set(t.virtualSubnetId, t.address, i)
    })
    this.neighbors.clear()
    this.macs = []
    for (const [address, mac] of neighbors) this.neighbors.set(address, 0, this.macs.push(mac) - 1)
  }

  /** Learns the MAC of a host PA (from an ARP reply); static neighbours take precedence. */
  learnNeighbor(address: number, mac: Uint8Array): void {
    const i = this.learned.get(address, 0)
    if (i >= 0) this.learnedMacs[i] = mac
    else this.learned.set(address, 0, this.learnedMacs.push(mac) - 1)
  }

  hasNeighbor(address: number): boolean {
    return this.neighbors.has(address, 0) || this.learned.has(address, 0)
  }

  /** The next hop's MAC of a host PA: its static neighbour, else the one learnt by ARP. */
  private nextHopOf(host: number): Uint8Array | undefined {
    const i = this.neighbors.get(host, 0)
    if (i >= 0) return this.macs[i]
    const j = this.learned.get(host, 0)
    return j >= 0 ? this.learnedMacs[j] : undefined
  }

  /**
   * The IP packet pkt[off, off+len) from the TUN, as an NVGRE frame written to
   * out[outOff, …). Returns the frame's length, or -1 (counted in `drops`).
   * In place when the packet already sits where the frame wants it (pkt is out
   * and off is outOff + PROBE_ENCAP_HEADERS): the TUN is read straight into the
   * send slot, and only the headers are written.
   */
  encapsulate(pkt: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): number {
    const node = this.node
    if (node === null || len < IP_HLEN || (pkt[off]! >> 4) !== 4) return this.drop(TranslateDrop.NOT_IPV4)
    const ihl = (pkt[off]! & 0x0f) << 2
    const total = readU16(pkt, off + 2)
    if (ihl < IP_HLEN || total < ihl || total > len) return this.drop(TranslateDrop.NOT_IPV4)
    const dst = readI32(pkt, off + 16)
    const index = this.byTarget.get(dst, 0)
    if (index < 0) return this.drop(TranslateDrop.NO_TARGET)
    const target = this.targets[index]!
    const nextHop = this.nextHopOf(target.host)
    if (nextHop === undefined) {
      this.missingNeighbor = target.host >>> 0
      return this.drop(TranslateDrop.NO_NEIGHBOR)
    }
    if (outOff + PROBE_ENCAP_HEADERS + total > out.length) return this.drop(TranslateDrop.TOO_BIG)

    // Inner packet: tunAddress → probeAddress, target → CA; checksums adjusted.
    const ip = outOff + PROBE_ENCAP_HEADERS
    if (pkt !== out || off !== ip) out.set(pkt.subarray(off, off + total), ip)
    const oldSrc = readI32(out, ip + 12)
    rewriteAddresses(out, ip, ihl, total, oldSrc, node.probeAddress, dst, target.address)

    // Outer headers.
    let p = outOff
    copyMac(nextHop, 0, out, p)
    copyMac(node.providerMac, 0, out, p + 6)
    writeU16(out, p + 12, ETHERTYPE_IPV4)
    p += ETH_HLEN
    out[p] = 0x45
    out[p + 1] = 0
    writeU16(out, p + 2, IP_HLEN + GRE_HLEN + ETH_HLEN + total)
    this.ipId = (this.ipId + 1) & 0xffff
    writeU16(out, p + 4, this.ipId)
    writeU16(out, p + 6, 0)
    out[p + 8] = OUTER_TTL
    out[p + 9] = IPPROTO_GRE
    writeU16(out, p + 10, 0)
    writeU32(out, p + 12, node.providerAddress)
    writeU32(out, p + 16, target.host)
    writeU16(out, p + 10, checksum(out, p, IP_HLEN))
    p += IP_HLEN
    writeU16(out, p, NVGRE_FLAGS_VERSION)
    writeU16(out, p + 2, ETHERTYPE_TEB)
    writeU32(out, p + 4, (target.virtualSubnetId << 8) >>> 0)
    p += GRE_HLEN
    copyMac(target.mac, 0, out, p)
    copyMac(node.gatewayMac, 0, out, p + 6)
    writeU16(out, p + 12, ETHERTYPE_IPV4)
    this.encapsulated++
    return PROBE_ENCAP_HEADERS + total
  }

  /**
   * An Ethernet frame from the provider side: when it is a probe reply from the
   * backend's own host, rewrites its inner IP packet in place for the TUN and
   * returns its length (at `outOffset`); otherwise -1 (counted).
   */
  decapsulate(frame: Uint8Array, off: number, len: number): number {
    const node = this.node
    if (node === null || len < PROBE_ENCAP_HEADERS + IP_HLEN) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    const end = off + len
    if (readU16(frame, off + 12) !== ETHERTYPE_IPV4) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    const oip = off + ETH_HLEN
    const ohl = (frame[oip]! & 0x0f) << 2
    if ((frame[oip]! >> 4) !== 4 || ohl < IP_HLEN || frame[oip + 9] !== IPPROTO_GRE) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    if (readI32(frame, oip + 16) !== (node.providerAddress | 0)) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    const gre = oip + ohl
    if (gre + GRE_HLEN + ETH_HLEN + IP_HLEN > end) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    if (readU16(frame, gre) !== NVGRE_FLAGS_VERSION || readU16(frame, gre + 2) !== ETHERTYPE_TEB) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    const vsid = readI32(frame, gre + 4) >>> 8
    const inner = gre + GRE_HLEN
    if (readU16(frame, inner + 12) !== ETHERTYPE_IPV4) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    const ip = inner + ETH_HLEN
    const ihl = (frame[ip]! & 0x0f) << 2
    const total = readU16(frame, ip + 2)
    if ((frame[ip]! >> 4) !== 4 || ihl < IP_HLEN || total < ihl || ip + total > end) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    if (readI32(frame, ip + 16) !== (node.probeAddress | 0)) return this.drop(TranslateDrop.NOT_PROBE_REPLY)
    const src = readI32(frame, ip + 12) >>> 0
    const index = this.byBackend.get(vsid, src)
    if (index < 0) return this.drop(TranslateDrop.NO_TARGET)
    const target = this.targets[index]!
    if (readI32(frame, oip + 12) !== (target.host | 0)) return this.drop(TranslateDrop.UNTRUSTED_HOST)
    rewriteAddresses(frame, ip, ihl, total, src, target.target, node.probeAddress, node.tunAddress)
    this.outOffset = ip
    this.decapsulated++
    return total
  }

  private drop(reason: number): number {
    this.drops[reason]!++
    return -1
  }
}

/** src → newSrc and dst → newDst in the IPv4 packet at `ip`, with IP and TCP/UDP checksums adjusted. */
function rewriteAddresses(buf: Uint8Array, ip: number, ihl: number, total: number, oldSrc: number, newSrc: number, oldDst: number, newDst: number): void {
  let ipCheck = readU16(buf, ip + 10)
  ipCheck = checksumAdjust32(checksumAdjust32(ipCheck, oldSrc, newSrc), oldDst, newDst)
  writeU16(buf, ip + 10, ipCheck)
  writeU32(buf, ip + 12, newSrc)
  writeU32(buf, ip + 16, newDst)
  const fragment = readU16(buf, ip + 6) & 0x1fff
  if (fragment !== 0) return
  const protocol = buf[ip + 9]
  const l4 = ip + ihl
  let at = -1
  if (protocol === IPPROTO_TCP && l4 + 18 <= ip + total) at = l4 + 16
  else if (protocol === IPPROTO_UDP && l4 + 8 <= ip + total && readU16(buf, l4 + 6) !== 0) at = l4 + 6
  if (at < 0) return
  let check = readU16(buf, at)
  check = checksumAdjust32(checksumAdjust32(check, oldSrc, newSrc), oldDst, newDst)
  if (protocol === IPPROTO_UDP && check === 0) check = 0xffff
  writeU16(buf, at, check)
}
