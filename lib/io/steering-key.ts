import { ETHERNET_HEADER_LENGTH, ETHERNET_OFF_ETHERTYPE, ETHERTYPE_IPV4, ETHERTYPE_TEB } from '../packet/ethernet'
import { ICMP_OFF_ID, ICMP_OFF_QUOTED, ICMP_TYPE_DEST_UNREACHABLE, ICMP_TYPE_ECHO_REPLY, ICMP_TYPE_ECHO_REQUEST, ICMP_TYPE_TIME_EXCEEDED } from '../packet/icmp'
import {
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_OFF_DST,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_ID,
  IPV4_OFF_PROTOCOL,
  IPV4_OFF_SRC,
} from '../packet/ipv4'
import { NVGRE_FLAGS_VERSION, NVGRE_HEADER_LENGTH, NVGRE_OFF_FLAGS_VERSION, NVGRE_OFF_KEY, NVGRE_OFF_PROTOCOL } from '../packet/nvgre'
import { TCP_OFF_DST_PORT, TCP_OFF_SRC_PORT } from '../packet/tcp'
import type { Frontend } from './fanout-program'

/**
 * The steering key of the fanout program (fanout-program.ts), computed in
 * software from the same headers: a worker runs it on every frame the kernel
 * gave it and hands the frame to the worker that owns it when the answer is
 * not itself (worker-handoff.ts). Both directions of a flow get one key, so
 * the owner is the worker whose flow table has the flow.
 *
 * Where the program and this agree (the same frontends), no frame moves. They
 * disagree:
 * - for fragments: the program can only steer them by src ^ dst (a later
 *   fragment has no ports). Here a first fragment gets the key its datagram
 *   would have had unfragmented, and the later fragments of that datagram
 *   (same src, dst, protocol, IP id) follow it (fragment-owners.ts);
 * - while the kernel still runs the program of an older snapshot (a CA VIP
 *   added or removed a moment ago): this uses the worker's own snapshot.
 *
 * Allocation-free; every read is bounds-checked, and a frame too short for a
 * read gets key 0, as the kernel's program does.
 */
const ETH = ETHERNET_HEADER_LENGTH
const L4_SRC_PORT = TCP_OFF_SRC_PORT
const L4_DST_PORT = TCP_OFF_DST_PORT
const FRAGMENT_BITS = IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK

/** What `classify` found; the key itself is in `key`. */
export const STEER_KEY = 0
/** A first fragment: `key` is its datagram's key; remember the owner of (fragment fields). */
export const STEER_FIRST_FRAGMENT = 1
/** A later fragment: its owner is the one its first fragment had (fragment fields). */
export const STEER_LATER_FRAGMENT = 2

export class SteeringKey {
  /** Results of the last classify(); `key` as a signed 32-bit integer (read it with >>> 0). */
  key = 0
  fragmentSrc = 0
  fragmentDst = 0
  /** protocol | IP id << 8 */
  fragmentId = 0
  /** VSID for an inner fragment, 0 for a plain one. */
  fragmentScope = 0

  /** Open-addressing set of (address, port) frontends; empty slots have port −1. */
  private addresses = new Int32Array(1)
  private ports = new Int32Array(1).fill(-1)
  private mask = 0
  /** Too many frontends for the program's table: a frontend is the endpoint with the lower port. */
  private portOrder = false

  /**
   * The frontends of a snapshot, and whether the program built from them has
   * a frontend table (steeringPlan().table) or falls back to port order.
   */
  setFrontends(frontends: readonly Frontend[], withTable: boolean): void {
    this.portOrder = !withTable
    let size = 2
    while (size < frontends.length * 2) size <<= 1
    this.addresses = new Int32Array(size)
    this.ports = new Int32Array(size).fill(-1)
    this.mask = size - 1
    for (const f of frontends) {
      let i = slotOf(f.address | 0, f.port) & this.mask
      while (this.ports[i] !== -1 && !(this.ports[i] === f.port && this.addresses[i] === (f.address | 0))) i = (i + 1) & this.mask
      this.addresses[i] = f.address | 0
      this.ports[i] = f.port
    }
  }

  isFrontend(address: number, port: number): boolean {
    let i = slotOf(address, port) & this.mask
    for (;;) {
      const p = this.ports[i]!
      if (p === -1) return false
      if (p === port && this.addresses[i] === address) return true
      i = (i + 1) & this.mask
    }
  }

  /** Classifies a frame (STEER_*) and sets `key` (for STEER_KEY and STEER_FIRST_FRAGMENT). */
  classify(buf: Uint8Array, off: number, len: number): number {
    this.key = 0
    const end = off + len
    if (len < ETH + 20 || u16(buf, off + ETHERNET_OFF_ETHERTYPE) !== ETHERTYPE_IPV4) return STEER_KEY
    const ip = off + ETH
    const ihl = (buf[ip]! & 0x0f) << 2
    const protocol = buf[ip + IPV4_OFF_PROTOCOL]!
    const fragment = u16(buf, ip + IPV4_OFF_FLAGS_FRAGMENT)
    if ((fragment & FRAGMENT_BITS) !== 0) {
      // Outer fragments of NVGRE are the engine's to drop; key them as the program does.
      if (protocol === IPPROTO_GRE) {
        this.key = i32(buf, ip + IPV4_OFF_SRC) ^ i32(buf, ip + IPV4_OFF_DST)
        return STEER_KEY
      }
      return this.fragment(buf, ip, 0, fragment, end)
    }
    const l4 = ip + ihl
    if (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) {
      if (l4 + 2 > end) return STEER_KEY
      this.key = u16(buf, l4 + L4_SRC_PORT)
      return STEER_KEY
    }
    if (protocol === IPPROTO_ICMP) {
      this.key = this.plainIcmp(buf, l4, end)
      return STEER_KEY
    }
    if (protocol !== IPPROTO_GRE) return STEER_KEY
    const gre = l4
    if (gre + NVGRE_HEADER_LENGTH + ETH + 20 > end) return STEER_KEY
    if (u16(buf, gre + NVGRE_OFF_FLAGS_VERSION) !== NVGRE_FLAGS_VERSION) return STEER_KEY
    if (u16(buf, gre + NVGRE_OFF_PROTOCOL) !== ETHERTYPE_TEB) return STEER_KEY
    const innerEth = gre + NVGRE_HEADER_LENGTH
    if (u16(buf, innerEth + ETHERNET_OFF_ETHERTYPE) !== ETHERTYPE_IPV4) return STEER_KEY
    const iip = innerEth + ETH
    const innerFragment = u16(buf, iip + IPV4_OFF_FLAGS_FRAGMENT)
    if ((innerFragment & FRAGMENT_BITS) !== 0) return this.fragment(buf, iip, (i32(buf, gre + NVGRE_OFF_KEY) >>> 8) | 0, innerFragment, end)
    this.key = this.inner(buf, iip, end)
    return STEER_KEY
  }

  private fragment(buf: Uint8Array, ip: number, scope: number, fragment: number, end: number): number {
    const protocol = buf[ip + IPV4_OFF_PROTOCOL]!
    this.fragmentSrc = i32(buf, ip + IPV4_OFF_SRC)
    this.fragmentDst = i32(buf, ip + IPV4_OFF_DST)
    this.fragmentId = protocol | (u16(buf, ip + IPV4_OFF_ID) << 8)
    this.fragmentScope = scope
    if ((fragment & IPV4_FRAGMENT_OFFSET_MASK) !== 0) return STEER_LATER_FRAGMENT
    // A first fragment: the key of its datagram unfragmented.
    if (scope === 0) {
      const l4 = ip + ((buf[ip]! & 0x0f) << 2)
      if (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) this.key = l4 + 2 > end ? 0 : u16(buf, l4 + L4_SRC_PORT)
      else if (protocol === IPPROTO_ICMP) this.key = this.plainIcmp(buf, l4, end)
    } else {
      this.key = this.inner(buf, ip, end)
    }
    return STEER_FIRST_FRAGMENT
  }

  private plainIcmp(buf: Uint8Array, icmp: number, end: number): number {
    if (icmp + 1 > end) return 0
    const type = buf[icmp]!
    if (type === ICMP_TYPE_ECHO_REQUEST || type === ICMP_TYPE_ECHO_REPLY) return icmp + ICMP_OFF_ID + 2 > end ? 0 : u16(buf, icmp + ICMP_OFF_ID)
    if (type !== ICMP_TYPE_DEST_UNREACHABLE && type !== ICMP_TYPE_TIME_EXCEEDED) return 0
    const quoted = icmp + ICMP_OFF_QUOTED
    if (quoted + 20 > end) return 0
    const protocol = buf[quoted + IPV4_OFF_PROTOCOL]!
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return 0
    const ql4 = quoted + ((buf[quoted]! & 0x0f) << 2)
    // An error about a packet nvlb sent to a client: the quoted destination port.
    return ql4 + 4 > end ? 0 : u16(buf, ql4 + L4_DST_PORT)
  }

  /** Key of an inner (tenant) packet at `iip`. */
  private inner(buf: Uint8Array, iip: number, end: number): number {
    if (iip + 20 > end) return 0
    const protocol = buf[iip + IPV4_OFF_PROTOCOL]!
    const l4 = iip + ((buf[iip]! & 0x0f) << 2)
    if (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) {
      if (l4 + 4 > end) return 0
      const srcPort = u16(buf, l4 + L4_SRC_PORT)
      const dstPort = u16(buf, l4 + L4_DST_PORT)
      // A request to a CA VIP frontend: the client's (source) port; a reply: the destination port.
      return this.matches(i32(buf, iip + IPV4_OFF_DST), dstPort, srcPort) ? srcPort : dstPort
    }
    if (protocol !== IPPROTO_ICMP) return 0
    if (l4 + 1 > end) return 0
    const type = buf[l4]!
    if (type === ICMP_TYPE_ECHO_REQUEST || type === ICMP_TYPE_ECHO_REPLY) return l4 + ICMP_OFF_ID + 2 > end ? 0 : u16(buf, l4 + ICMP_OFF_ID)
    if (type !== ICMP_TYPE_DEST_UNREACHABLE && type !== ICMP_TYPE_TIME_EXCEEDED) return 0
    const quoted = l4 + ICMP_OFF_QUOTED
    if (quoted + 20 > end) return 0
    const qprotocol = buf[quoted + IPV4_OFF_PROTOCOL]!
    if (qprotocol !== IPPROTO_TCP && qprotocol !== IPPROTO_UDP) return 0
    const ql4 = quoted + ((buf[quoted]! & 0x0f) << 2)
    if (ql4 + 4 > end) return 0
    const qsrcPort = u16(buf, ql4 + L4_SRC_PORT)
    const qdstPort = u16(buf, ql4 + L4_DST_PORT)
    // Quoted source a frontend (sent toward a CA VIP's client): its destination port; else its source port.
    return this.matches(i32(buf, quoted + IPV4_OFF_SRC), qsrcPort, qdstPort) ? qdstPort : qsrcPort
  }

  /** Whether (address, port) is a frontend; in port order, whether port < otherPort. */
  private matches(address: number, port: number, otherPort: number): boolean {
    return this.portOrder ? port < otherPort : this.isFrontend(address, port)
  }
}

function slotOf(address: number, port: number): number {
  return Math.imul((address ^ Math.imul(port, 0x9e3779b1)) | 0, 0x85ebca6b) >>> 16
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!
}

function i32(buf: Uint8Array, at: number): number {
  return (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!
}
