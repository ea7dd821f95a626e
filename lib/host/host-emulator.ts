/**
 * The NVGRE host emulator: what a Hyper-V host with HNV does for its VMs, as pure
 * logic (frame in → frames out), so the same code runs on AF_PACKET sockets
 * (host-runner.ts) and in unit tests.
 *
 * Ports: 0 is the provider interface (the host's PA); 1..n are the VM ports, in the
 * order of `options.vms`.
 *
 * From a VM:
 * - ARP requests are answered from the lookup records (any CA of the VM's VSID or
 *   routing domain with a record, the gateway CA included); a next hop of the VSID's
 *   customer routes without a record is answered with the gateway MAC.
 * - IPv4 goes to the destination's record (same VSID, or another VSID of the routing
 *   domain: then with the destination's VSID), else to the record of the next hop of
 *   the VSID's customer route (default route → gateway CA → nvlb's PA). A destination on
 *   this host is delivered locally; anything else is NVGRE-encapsulated:
 *   host MAC → next-hop MAC | host PA → record PA, protocol 47 | key VSID << 8 | FlowID |
 *   VM MAC → record MAC | the VM's packet.
 * From the provider side:
 * - ARP for the host PA is answered, neighbours are learned from ARP.
 * - NVGRE to the host PA is decapsulated and delivered by (VSID, inner destination CA)
 *   to that VM's port, the inner destination MAC rewritten to the VM's MAC.
 * Everything else is dropped and counted by reason.
 *
 * Output frames are queued in `out` (port, buffer, offset, length). Encapsulation and
 * decapsulation work in place when the frame has HOST_HEADROOM free bytes in front of it
 * (AF_PACKET receive slots do): the outputs then point into the input buffer, so send
 * them before that buffer is reused. Generated frames (ARP) are new buffers.
 */
import * as arp from '../packet/arp'
import { readU16, readU32, writeU16 } from '../packet/bytes'
import { parseIPv4, parseMac } from '../packet/address'
import * as ethernet from '../packet/ethernet'
import * as ipv4 from '../packet/ipv4'
import * as nvgre from '../packet/nvgre'
import { HostPolicy, PolicyRecord } from './host-policy'

export const PROVIDER_PORT = 0
/** Bytes in front of a VM frame that allow encapsulation in place. */
export const HOST_HEADROOM = nvgre.NVGRE_ENCAP_OVERHEAD
/** Frames kept per unresolved provider address while its ARP is outstanding. */
export const PENDING_PER_NEIGHBOR = 16
export const PENDING_TIMEOUT_SECONDS = 3

/** Outer Ethernet, IPv4 and GRE: what encapsulation puts in front of a VM's frame. */
export const OUTER_HEADER_LENGTH = ethernet.ETHERNET_HEADER_LENGTH + ipv4.IPV4_HEADER_LENGTH + nvgre.NVGRE_HEADER_LENGTH
const ARP_FRAME_LENGTH = ethernet.ETHERNET_HEADER_LENGTH + arp.ARP_PACKET_LENGTH
const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
const ZERO_MAC = new Uint8Array(6)

export interface VmPortOptions {
  /** The VM's node name (for logs). */
  name: string
  virtualSubnetId: number
  customerAddress: string
}

export interface HostEmulatorOptions {
  name: string
  providerAddress: string
  /** The MAC of the host's provider interface. */
  providerMac: string
  /** Port i + 1 is vms[i]. */
  vms: readonly VmPortOptions[]
  policy: HostPolicy
}

export interface VmPort {
  port: number
  name: string
  virtualSubnetId: number
  customerAddress: number
  mac: Uint8Array
}

export const HOST_COUNTER_NAMES = [
  'vmFramesIn',
  'providerFramesIn',
  'vmFramesOut',
  'providerFramesOut',
  'arpRepliesToVm',
  'arpRepliesToProvider',
  'arpRequestsSent',
  'neighborsLearned',
  'encapsulated',
  'decapsulated',
  'deliveredLocally',
  'dropMalformed',
  'dropVlanTagged',
  'dropUnsupportedEthertype',
  'dropBroadcast',
  'dropSpoofedSource',
  'dropNoRoute',
  'dropArpUnanswered',
  'dropTooBig',
  'dropNotForHost',
  'dropBadChecksum',
  'dropOuterFragment',
  'dropNotNvgre',
  'dropBadNvgre',
  'dropInnerNotIpv4',
  'dropUnknownDestination',
  'dropPendingOverflow',
  'dropPendingExpired',
] as const
export type HostCounterName = (typeof HOST_COUNTER_NAMES)[number]
export type HostCounters = Record<HostCounterName, number>

/** Frames to send: port, and bytes buffer[offset, offset + length). */
export class HostOutputQueue {
  count = 0
  ports = new Int32Array(8)
  buffers: (Buffer | null)[] = new Array<Buffer | null>(8).fill(null)
  offsets = new Int32Array(8)
  lengths = new Int32Array(8)

  push(port: number, buffer: Buffer, offset: number, length: number): void {
    if (this.count === this.ports.length) this.grow()
    const i = this.count++
    this.ports[i] = port
    this.buffers[i] = buffer
    this.offsets[i] = offset
    this.lengths[i] = length
  }

  /** The i-th frame as a copy (tests, logs). */
  frame(i: number): Buffer {
    const buffer = this.buffers[i]!
    return Buffer.from(buffer.subarray(this.offsets[i]!, this.offsets[i]! + this.lengths[i]!))
  }

  clear(): void {
    for (let i = 0; i < this.count; i++) this.buffers[i] = null
    this.count = 0
  }

  private grow(): void {
    const size = this.ports.length * 2
    const ports = new Int32Array(size)
    ports.set(this.ports)
    const offsets = new Int32Array(size)
    offsets.set(this.offsets)
    const lengths = new Int32Array(size)
    lengths.set(this.lengths)
    this.ports = ports
    this.offsets = offsets
    this.lengths = lengths
    this.buffers.length = size
    this.buffers.fill(null, this.count)
  }
}

interface PendingFrames {
  frames: Buffer[]
  since: number
  lastRequest: number
}

export class HostEmulator {
  readonly name: string
  readonly policy: HostPolicy
  readonly providerAddress: number
  readonly providerMac: Uint8Array
  /** VM ports by port number (index 0 unused: the provider port). */
  readonly vmPorts: readonly (VmPort | null)[]
  readonly out = new HostOutputQueue()
  readonly counters: HostCounters
  /** Provider neighbours learned from ARP (static ones live in the policy). */
  readonly learnedNeighbors = new Map<number, Uint8Array>()

  private readonly portsBySubnet = new Map<number, Map<number, VmPort>>()
  private readonly pending = new Map<number, PendingFrames>()
  private readonly eth = ethernet.createEthernetHeader()
  private readonly ip = ipv4.createIpv4Header()
  private readonly gre = nvgre.createNvgreHeader()
  private readonly arpIn = arp.createArpPacket()
  private readonly arpOut = arp.createArpPacket()
  private readonly outerEth = ethernet.createEthernetHeader()
  private readonly outerIp = ipv4.createIpv4Header()
  private readonly outerGre = nvgre.createNvgreHeader()
  private ipId = 0
  private now = 0

  constructor(options: HostEmulatorOptions) {
    this.name = options.name
    this.policy = options.policy
    this.providerAddress = parseIPv4(options.providerAddress)
    if (this.providerAddress < 0) throw new Error(`bad provider address '${options.providerAddress}'`)
    const mac = parseMac(options.providerMac)
    if (mac === null) throw new Error(`bad provider MAC '${options.providerMac}'`)
    this.providerMac = mac
    const counters = {} as HostCounters
    for (const name of HOST_COUNTER_NAMES) counters[name] = 0
    this.counters = counters

    const ports: (VmPort | null)[] = [null]
    for (const vm of options.vms) {
      const ca = parseIPv4(vm.customerAddress)
      const record = options.policy.lookup(vm.virtualSubnetId, ca)
      if (record === undefined) {
        throw new Error(`VM ${vm.name}: no lookup record for (${vm.virtualSubnetId}, ${vm.customerAddress})`)
      }
      if (record.providerAddress !== this.providerAddress) {
        throw new Error(`VM ${vm.name}: its lookup record places it on another provider address`)
      }
      const port: VmPort = {
        port: ports.length,
        name: vm.name,
        virtualSubnetId: vm.virtualSubnetId,
        customerAddress: ca,
        mac: record.mac,
      }
      ports.push(port)
      let bySubnet = this.portsBySubnet.get(vm.virtualSubnetId)
      if (bySubnet === undefined) {
        bySubnet = new Map()
        this.portsBySubnet.set(vm.virtualSubnetId, bySubnet)
      }
      bySubnet.set(ca, port)
    }
    this.vmPorts = ports

    const e = this.outerEth
    e.src.set(this.providerMac)
    e.ethertype = ethernet.ETHERTYPE_IPV4
    const o = this.outerIp
    o.protocol = ipv4.IPPROTO_GRE
    o.ttl = ipv4.IPV4_DEFAULT_TTL
    o.src = this.providerAddress
  }

  /** The VM port of (VSID, CA) on this host, if any. */
  localPort(vsid: number, ca: number): VmPort | undefined {
    return this.portsBySubnet.get(vsid)?.get(ca)
  }

  /** Handle one received frame buf[off, off + len) from `port`; outputs go to `out`. */
  process(port: number, buf: Buffer, off: number, len: number): void {
    if (port === PROVIDER_PORT) {
      this.counters.providerFramesIn++
      this.fromProvider(buf, off, len)
      return
    }
    const vm = this.vmPorts[port]
    if (vm === undefined || vm === null) return
    this.counters.vmFramesIn++
    this.fromVm(vm, buf, off, len)
  }

  /** Coarse clock (seconds): retries ARP for unresolved provider addresses, expires waiting frames. */
  tick(nowSeconds: number): void {
    this.now = nowSeconds
    for (const [address, entry] of this.pending) {
      if (nowSeconds - entry.since >= PENDING_TIMEOUT_SECONDS) {
        this.counters.dropPendingExpired += entry.frames.length
        this.pending.delete(address)
      } else if (nowSeconds - entry.lastRequest >= 1) {
        entry.lastRequest = nowSeconds
        this.sendArpRequest(address)
      }
    }
  }

  /** The MAC of a provider address: static neighbours first, then learned ones. */
  neighborMac(address: number): Uint8Array | undefined {
    return this.policy.neighbors.get(address) ?? this.learnedNeighbors.get(address)
  }

  // -------------------------------------------------------------------------------------
  // VM side

  private fromVm(vm: VmPort, buf: Buffer, off: number, len: number): void {
    const end = off + len
    const e = this.eth
    const ethLength = ethernet.decode(buf, off, e)
    if (ethLength < 0 || off + ethLength > end) {
      this.counters.dropMalformed++
      return
    }
    if (e.vlan !== ethernet.VLAN_NONE) {
      this.counters.dropVlanTagged++
      return
    }
    if (e.ethertype === ethernet.ETHERTYPE_ARP) {
      this.vmArp(vm, buf, off + ethLength, end)
      return
    }
    if (e.ethertype !== ethernet.ETHERTYPE_IPV4) {
      this.counters.dropUnsupportedEthertype++
      return
    }
    if ((e.dst[0]! & 1) !== 0) {
      this.counters.dropBroadcast++
      return
    }
    const ipOff = off + ethLength
    const ip = this.ip
    if (ipv4.decode(buf, ipOff, ip) < 0 || ipOff + ip.totalLength > end) {
      this.counters.dropMalformed++
      return
    }
    if (ip.src !== vm.customerAddress) {
      this.counters.dropSpoofedSource++
      return
    }
    const record = this.policy.nextRecord(vm.virtualSubnetId, ip.dst)
    if (record === undefined) {
      this.counters.dropNoRoute++
      return
    }
    // Trim Ethernet padding: the inner frame ends with the IP packet.
    const frameLength = ethLength + ip.totalLength
    if (record.providerAddress === this.providerAddress) {
      this.deliverLocally(record, buf, off, frameLength)
      return
    }
    this.encapsulate(vm, record, buf, off, frameLength, ipOff)
  }

  private deliverLocally(record: PolicyRecord, buf: Buffer, off: number, len: number): void {
    const target = this.localPort(record.virtualSubnetId, record.customerAddress)
    if (target === undefined) {
      this.counters.dropUnknownDestination++
      return
    }
    buf.set(target.mac, off + ethernet.ETHERNET_OFF_DST)
    this.counters.deliveredLocally++
    this.emit(target.port, buf, off, len)
  }

  private encapsulate(vm: VmPort, record: PolicyRecord, buf: Buffer, off: number, len: number, ipOff: number): void {
    const outerIpLength = ipv4.IPV4_HEADER_LENGTH + nvgre.NVGRE_HEADER_LENGTH + len
    if (outerIpLength > this.policy.providerMtu) {
      this.counters.dropTooBig++
      return
    }
    // Inner Ethernet: VM MAC → the destination's (or the gateway's) MAC from its record.
    buf.set(record.mac, off + ethernet.ETHERNET_OFF_DST)
    buf.set(vm.mac, off + ethernet.ETHERNET_OFF_SRC)

    let out = buf
    let start = off - OUTER_HEADER_LENGTH
    if (start < 0) {
      out = Buffer.allocUnsafe(OUTER_HEADER_LENGTH + len)
      buf.copy(out, OUTER_HEADER_LENGTH, off, off + len)
      start = 0
    }
    const nextHopMac = this.neighborMac(record.providerAddress)
    const e = this.outerEth
    e.dst.set(nextHopMac ?? ZERO_MAC)
    ethernet.encode(e, out, start)
    const o = this.outerIp
    o.totalLength = outerIpLength
    o.id = this.ipId = (this.ipId + 1) & 0xffff
    o.dst = record.providerAddress
    ipv4.encode(o, out, start + ethernet.ETHERNET_HEADER_LENGTH)
    const g = this.outerGre
    g.vsid = record.virtualSubnetId
    g.flowId = flowEntropy(buf, ipOff, this.ip)
    nvgre.encode(g, out, start + ethernet.ETHERNET_HEADER_LENGTH + ipv4.IPV4_HEADER_LENGTH)
    this.counters.encapsulated++
    if (nextHopMac === undefined) {
      this.holdForArp(record.providerAddress, Buffer.from(out.subarray(start, start + OUTER_HEADER_LENGTH + len)))
      return
    }
    this.emit(PROVIDER_PORT, out, start, OUTER_HEADER_LENGTH + len)
  }

  private vmArp(vm: VmPort, buf: Buffer, arpOff: number, end: number): void {
    const a = this.arpIn
    if (arp.decode(buf, arpOff, a) < 0 || arpOff + arp.ARP_PACKET_LENGTH > end) {
      this.counters.dropMalformed++
      return
    }
    // Replies, probes (sender 0.0.0.0) and announcements of the VM's own address need no answer.
    if (a.op !== arp.ARP_OP_REQUEST || a.senderIp === 0 || a.targetIp === vm.customerAddress) {
      this.counters.dropArpUnanswered++
      return
    }
    const record = this.policy.resolve(vm.virtualSubnetId, a.targetIp)
    let mac: Uint8Array | undefined = record?.mac
    if (mac === undefined && this.policy.isGateway(vm.virtualSubnetId, a.targetIp)) mac = this.policy.gatewayMac
    if (mac === undefined) {
      this.counters.dropArpUnanswered++
      return
    }
    this.counters.arpRepliesToVm++
    this.emit(vm.port, this.arpFrame(arp.ARP_OP_REPLY, a.senderMac, mac, a.targetIp, a.senderMac, a.senderIp), 0, ARP_FRAME_LENGTH)
  }

  // -------------------------------------------------------------------------------------
  // Provider side

  private fromProvider(buf: Buffer, off: number, len: number): void {
    const end = off + len
    const e = this.eth
    const ethLength = ethernet.decode(buf, off, e)
    if (ethLength < 0 || off + ethLength > end) {
      this.counters.dropMalformed++
      return
    }
    if (e.ethertype === ethernet.ETHERTYPE_ARP) {
      this.providerArp(buf, off + ethLength, end)
      return
    }
    if (!sameMac(e.dst, 0, this.providerMac)) {
      // Flooded by the bridge toward another host (we receive promiscuously).
      this.counters.dropNotForHost++
      return
    }
    if (e.ethertype !== ethernet.ETHERTYPE_IPV4) {
      this.counters.dropUnsupportedEthertype++
      return
    }
    const ipOff = off + ethLength
    const ip = this.ip
    const ipLength = ipv4.decode(buf, ipOff, ip)
    if (ipLength < 0 || ipOff + ip.totalLength > end) {
      this.counters.dropMalformed++
      return
    }
    if (ip.dst !== this.providerAddress) {
      this.counters.dropNotForHost++
      return
    }
    if (!ip.checksumValid) {
      this.counters.dropBadChecksum++
      return
    }
    if (ipv4.isFragment(ip)) {
      this.counters.dropOuterFragment++
      return
    }
    if (ip.protocol !== ipv4.IPPROTO_GRE) {
      this.counters.dropNotNvgre++
      return
    }
    const greOff = ipOff + ipLength
    const ipEnd = ipOff + ip.totalLength
    if (greOff + nvgre.NVGRE_HEADER_LENGTH > ipEnd || nvgre.decode(buf, greOff, this.gre) < 0) {
      this.counters.dropBadNvgre++
      return
    }
    const vsid = this.gre.vsid
    const innerOff = greOff + nvgre.NVGRE_HEADER_LENGTH
    const inner = this.eth
    const innerEthLength = ethernet.decode(buf, innerOff, inner)
    if (innerEthLength < 0 || innerOff + innerEthLength > ipEnd) {
      this.counters.dropMalformed++
      return
    }
    if (inner.vlan !== ethernet.VLAN_NONE) {
      this.counters.dropVlanTagged++
      return
    }
    if (inner.ethertype !== ethernet.ETHERTYPE_IPV4) {
      this.counters.dropInnerNotIpv4++
      return
    }
    const innerIpOff = innerOff + innerEthLength
    if (innerIpOff + ipv4.IPV4_HEADER_LENGTH > ipEnd) {
      this.counters.dropMalformed++
      return
    }
    const target = this.localPort(vsid, readU32(buf, innerIpOff + ipv4.IPV4_OFF_DST))
    if (target === undefined) {
      this.counters.dropUnknownDestination++
      return
    }
    const innerTotal = readU16(buf, innerIpOff + ipv4.IPV4_OFF_TOTAL_LENGTH)
    const innerEnd = Math.min(ipEnd, innerIpOff + innerTotal)
    buf.set(target.mac, innerOff + ethernet.ETHERNET_OFF_DST)
    this.counters.decapsulated++
    this.emit(target.port, buf, innerOff, innerEnd - innerOff)
  }

  private providerArp(buf: Buffer, arpOff: number, end: number): void {
    const a = this.arpIn
    if (arp.decode(buf, arpOff, a) < 0 || arpOff + arp.ARP_PACKET_LENGTH > end) {
      this.counters.dropMalformed++
      return
    }
    const forUs = a.targetIp === this.providerAddress
    if (a.senderIp !== 0 && a.senderIp !== this.providerAddress && (forUs || this.pending.has(a.senderIp) || this.learnedNeighbors.has(a.senderIp))) {
      this.learn(a.senderIp, a.senderMac)
    }
    if (a.op === arp.ARP_OP_REQUEST && forUs && a.senderIp !== this.providerAddress) {
      this.counters.arpRepliesToProvider++
      this.emit(
        PROVIDER_PORT,
        this.arpFrame(arp.ARP_OP_REPLY, a.senderMac, this.providerMac, this.providerAddress, a.senderMac, a.senderIp),
        0,
        ARP_FRAME_LENGTH,
      )
    }
  }

  private learn(address: number, mac: Uint8Array): void {
    const known = this.learnedNeighbors.get(address)
    if (known === undefined || !sameMac(known, 0, mac)) {
      this.learnedNeighbors.set(address, Uint8Array.from(mac))
      this.counters.neighborsLearned++
    }
    const waiting = this.pending.get(address)
    if (waiting === undefined) return
    this.pending.delete(address)
    const resolved = this.neighborMac(address)!
    for (const frame of waiting.frames) {
      frame.set(resolved, ethernet.ETHERNET_OFF_DST)
      this.emit(PROVIDER_PORT, frame, 0, frame.length)
    }
  }

  private holdForArp(address: number, frame: Buffer): void {
    let entry = this.pending.get(address)
    if (entry === undefined) {
      entry = { frames: [], since: this.now, lastRequest: this.now }
      this.pending.set(address, entry)
      this.sendArpRequest(address)
    }
    if (entry.frames.length >= PENDING_PER_NEIGHBOR) {
      this.counters.dropPendingOverflow++
      return
    }
    entry.frames.push(frame)
  }

  private sendArpRequest(address: number): void {
    this.counters.arpRequestsSent++
    this.emit(
      PROVIDER_PORT,
      this.arpFrame(arp.ARP_OP_REQUEST, BROADCAST_MAC, this.providerMac, this.providerAddress, ZERO_MAC, address),
      0,
      ARP_FRAME_LENGTH,
    )
  }

  private arpFrame(
    op: number,
    ethDst: Uint8Array,
    senderMac: Uint8Array,
    senderIp: number,
    targetMac: Uint8Array,
    targetIp: number,
  ): Buffer {
    const frame = Buffer.alloc(ARP_FRAME_LENGTH)
    frame.set(ethDst, ethernet.ETHERNET_OFF_DST)
    frame.set(senderMac, ethernet.ETHERNET_OFF_SRC)
    writeU16(frame, ethernet.ETHERNET_OFF_ETHERTYPE, ethernet.ETHERTYPE_ARP)
    const a = this.arpOut
    a.op = op
    a.senderMac.set(senderMac)
    a.senderIp = senderIp
    a.targetMac.set(targetMac)
    a.targetIp = targetIp
    arp.encode(a, frame, ethernet.ETHERNET_HEADER_LENGTH)
    return frame
  }

  private emit(port: number, buffer: Buffer, offset: number, length: number): void {
    if (port === PROVIDER_PORT) this.counters.providerFramesOut++
    else this.counters.vmFramesOut++
    this.out.push(port, buffer, offset, length)
  }
}

function sameMac(a: Uint8Array, offset: number, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[offset + i] !== b[i]) return false
  return true
}

/** 8 bits of per-flow entropy for the GRE FlowID: addresses and, when present, ports. */
function flowEntropy(buf: Uint8Array, ipOff: number, ip: ipv4.Ipv4Header): number {
  let h = (ip.src ^ ip.dst ^ ip.protocol) >>> 0
  if ((ip.protocol === ipv4.IPPROTO_TCP || ip.protocol === ipv4.IPPROTO_UDP) && ip.fragmentOffset === 0) {
    const l4 = ipOff + ip.headerLength
    if (l4 + 4 <= ipOff + ip.totalLength) h = (h ^ readU32(buf, l4)) >>> 0
  }
  h ^= h >>> 16
  h ^= h >>> 8
  return h & 0xff
}
