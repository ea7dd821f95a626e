/**
 * The per-packet pipeline: one frame in, a verdict out.
 *
 * Synchronous, allocation-free and exception-free: every path ends in
 * Verdict.TX (the frame was rewritten in place, send buf[outOffset,
 * outOffset + outLength) on outSide), Verdict.CONSUMED (nothing to send in
 * place; see `extra`) or Verdict.DROP (counted by reason).
 *
 * The frame may grow at the front only: encapsulation writes the outer
 * headers into the HEADROOM bytes before the received frame.
 */
import { readI32, readU16, writeU16, writeU32 } from '../packet/bytes'
import { checksum, checksumAdjust16, checksumAdjust32, onesSum } from '../packet/checksum'
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_TEB, ETHERTYPE_VLAN } from '../packet/ethernet'
import { IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAGMENT_OFFSET_MASK } from '../packet/ipv4'
import { GRE_FLAGS_CHECKSUM, GRE_FLAGS_KEY, GRE_FLAGS_SEQUENCE, NVGRE_FLAGS_VERSION, VSID_MAX, VSID_MIN } from '../packet/nvgre'
import { TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_RST, TCP_FLAG_SYN, TCP_OPTION_EOL, TCP_OPTION_MSS, TCP_OPTION_NOP } from '../packet/tcp'
import { ICMP_CODE_FRAGMENTATION_NEEDED, ICMP_TYPE_DEST_UNREACHABLE, ICMP_TYPE_TIME_EXCEEDED } from '../packet/icmp'
import { ARP_OP_REPLY, ARP_OP_REQUEST } from '../packet/arp'
import { Counters, DROPS_BASE, G_ACTIVE_FLOWS, G_FLOWS_EVICTED, G_FLOWS_EVICTED_HALF_OPEN, G_FLOWS_EXPIRED, G_GENERATION, G_RX_BYTES, G_RX_PACKETS, G_TX_BYTES, G_TX_PACKETS } from './counters'
import { DropReason } from './drop-reasons'
import { FLOW_CLOSING, FLOW_DATAGRAM, FLOW_ESTABLISHED, FLOW_NEW, FLOW_RESET, FlowTable, NO_ENTRY } from './flow-table'
import { forwardHashOfKey, forwardKeyHash, hash2, hash3, hash5, replyHash } from './flow-hash'
import { createKeyTable, keyTableGet, keyTableSet, type KeyTable } from './key-table'
import { BACKEND_ABSENT, BACKEND_DISABLED, DIST_2_TUPLE, DIST_3_TUPLE, NAT_FULLNAT, type CompiledRule, type Snapshot } from './snapshot'
import { TxQueue } from './tx-queue'
import { statsReport } from './stats'
import type { StatsReport } from './stats-report'

/** Bytes the engine may write in front of a received frame. */
export const HEADROOM = 64

export const Side = { PROVIDER: 0, EXTERNAL: 1 } as const
export const Verdict = { DROP: 0, TX: 1, CONSUMED: 2 } as const

const ETH_HLEN = 14
const VLAN_HLEN = 4
const IP_HLEN = 20
const GRE_HLEN = 8
const ARP_LEN = 28
const ICMP_HLEN = 8
const UDP_HLEN = 8
const TCP_HLEN = 20
/** Outer Ethernet + outer IPv4 + GRE + inner Ethernet, written in front of the inner IPv4 packet. */
const ENCAP_HEADERS = ETH_HLEN + IP_HLEN + GRE_HLEN + ETH_HLEN
/** What encapsulation adds to an IP packet: outer IPv4 20 + GRE 8 + inner Ethernet 14. */
const ENCAP_OVERHEAD = IP_HLEN + GRE_HLEN + ETH_HLEN
const OUTER_TTL = 64
const ICMP_TTL = 64

/** Idle timeouts (seconds) for TCP states without a rule-given one. */
export const TCP_SYN_TIMEOUT = 30
export const TCP_CLOSING_TIMEOUT = 30
export const TCP_RESET_TIMEOUT = 10
const FRAGMENT_TIMEOUT = 30

/** Full NAT source ports: from 1024 up. */
const NAT_PORT_FIRST = 1024
const NAT_PORT_TRIES = 64

const DYNAMIC_NEIGHBORS = 4096
const CLIENT_MACS = 65536
const FRAGMENT_SLOTS = 4096
const AGEING_PER_TICK = 256
/** Frames per prefetch pass; a receive batch is usually 64. */
const PREFETCH_MAX = 256

export interface EngineOptions {
  /** Flow table capacity; default: the first snapshot's node.maxFlows. */
  maxFlows?: number
  /**
   * Packet workers share flows by the client-side port (lib/io fanout): a
   * full-NAT source port must equal the client's port modulo this count so
   * the reply reaches the worker that owns the flow. Default 1.
   */
  workerCount?: number
  counters?: Counters
  /** Transmit queue slots for frames beyond the one rewritten in place. */
  extraSlots?: number
}

export class Engine {
  readonly counters: Counters
  readonly extra: TxQueue
  outOffset = 0
  outLength = 0
  outSide = 0

  private snap: Snapshot | null = null
  private flowTable: FlowTable | null = null
  private readonly maxFlows: number
  private now = 0
  private ipId = 0

  // Neighbors learned from ARP and from NVGRE senders, and ARP requests in flight.
  private readonly dynamicNeighbors: KeyTable = createKeyTable(DYNAMIC_NEIGHBORS)
  private readonly dynamicMac = new Uint8Array(DYNAMIC_NEIGHBORS * 2 * 6)
  private dynamicCount = 0
  private readonly arpRequested: KeyTable = createKeyTable(DYNAMIC_NEIGHBORS)
  private readonly arpRequestedAt = new Uint32Array(DYNAMIC_NEIGHBORS * 2)
  private arpRequestedCount = 0
  /** Result of resolveNeighbor(). */
  private neighborBytes: Uint8Array = this.dynamicMac
  private neighborOffset = 0

  // Client-side next-hop MACs of public flows, interned to 16-bit indexes.
  private readonly clientMacs: KeyTable = createKeyTable(CLIENT_MACS / 2)
  private readonly clientMacBytes = new Uint8Array(CLIENT_MACS * 6)
  private clientMacCount = 1 // index 0: unknown (broadcast is never used; all zero)

  // Fragments: (direction/vsid/protocol, src, dst, IP id) → flow, direct-mapped.
  private readonly fragmentKey = new Int32Array(FRAGMENT_SLOTS * 4)
  private readonly fragmentFlow = new Int32Array(FRAGMENT_SLOTS).fill(NO_ENTRY)
  private readonly fragmentTime = new Uint32Array(FRAGMENT_SLOTS)

  /** Set by findReply() when a reply 5-tuple matched a flow of another routing domain. */
  private replyDomainMismatch = false

  // MACs of the adopted snapshot as 16 + 32 bits, for 32-bit header stores.
  private providerMacHigh = 0
  private providerMacLow = 0
  private gatewayMacHigh = 0
  private gatewayMacLow = 0
  /** One-entry cache of resolveNeighbor(); reset by adopt(). */
  private resolvedAddress = 0
  private resolvedValid = false
  private resolvedBytes: Uint8Array = this.dynamicMac
  private resolvedOffset = 0
  /** One-entry caches of fromProvider(); reset by adopt(). */
  private lastVsid = -1
  private lastDomain = -1
  private lastNeighbor = 0
  private lastNeighborIndex = 0
  private viewBufferA: Uint8Array | null = null
  private viewA: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))
  private viewBufferB: Uint8Array | null = null
  private viewB: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))

  private readonly workerCount: number
  /** Full-NAT ports: the first multiple of workerCount from NAT_PORT_FIRST, and how many such ports fit. */
  private readonly natPortBase: number
  private readonly natPortSlots: number

  private readonly prefetchHashes = new Int32Array(PREFETCH_MAX)
  private readonly prefetchKinds = new Uint8Array(PREFETCH_MAX)
  private lookupKind = 0
  /** New flows: the reply chain newFlow() will search (kind 1), or none (kind 2). */
  private lookupReplyKind = 2
  private lookupReplyHash = 0
  private readonly prefetchReplyHashes = new Int32Array(PREFETCH_MAX)
  private readonly prefetchReplyKinds = new Uint8Array(PREFETCH_MAX)
  private readonly prefetchReplyHeads = new Int32Array(PREFETCH_MAX)
  // The prefetched batch, so process() can take each frame's hash instead of computing it again:
  // valid for the frames of the batch processed in order right after prefetch(), unchanged.
  private hintBuffer: Uint8Array | null = null
  private hintOffsets: Int32Array = new Int32Array(0)
  private hintLengths: Int32Array = new Int32Array(0)
  private hintCount = 0
  private hintNext = 0
  /** For the frame being processed: the lookupKind and hash prefetch() found, kind 2 = none. */
  private hintKind = 2
  private hintHash = 0
  private readonly prefetchHeads = new Int32Array(PREFETCH_MAX)
  /** Keeps the prefetch reads from being optimized away. */
  prefetchSink = 0

  constructor(options: EngineOptions = {}) {
    this.counters = options.counters ?? new Counters()
    this.extra = new TxQueue(options.extraSlots ?? 256)
    this.maxFlows = options.maxFlows ?? 0
    this.workerCount = Math.max(1, options.workerCount ?? 1)
    this.natPortBase = Math.ceil(NAT_PORT_FIRST / this.workerCount) * this.workerCount
    this.natPortSlots = Math.floor((65536 - this.natPortBase) / this.workerCount)
  }

  get snapshot(): Snapshot | null {
    return this.snap
  }

  get flowCount(): number {
    return this.flowTable === null ? 0 : this.flowTable.count
  }

  /** The flow table, for tests, benchmarks and the memory figure. */
  get flows(): FlowTable | null {
    return this.flowTable
  }

  /** Adopt a new snapshot; call between batches. Existing flows stay. */
  adopt(snapshot: Snapshot): void {
    if (this.flowTable === null) this.flowTable = new FlowTable(this.maxFlows > 0 ? this.maxFlows : snapshot.maxFlows)
    this.flowTable.setTimeouts(TCP_SYN_TIMEOUT, TCP_CLOSING_TIMEOUT, TCP_RESET_TIMEOUT, snapshot.ruleList)
    this.snap = snapshot
    this.lastVsid = -1
    this.resolvedValid = false
    this.hintCount = 0
    const p = snapshot.providerMac
    const g = snapshot.gatewayMac
    this.providerMacHigh = (p[0]! << 8) | p[1]!
    this.providerMacLow = (p[2]! << 24) | (p[3]! << 16) | (p[4]! << 8) | p[5]!
    this.gatewayMacHigh = (g[0]! << 8) | g[1]!
    this.gatewayMacLow = (g[2]! << 24) | (g[3]! << 16) | (g[4]! << 8) | g[5]!
    this.counters.values[G_GENERATION] = snapshot.generation
  }

  /** Coarse clock (seconds) and flow ageing; call once per batch. */
  tick(nowSeconds: number): void {
    this.now = Math.floor(nowSeconds) | 0
    this.hintCount = 0
    const flows = this.flowTable
    if (flows === null) return
    this.counters.values[G_FLOWS_EXPIRED] += flows.expire(this.now, AGEING_PER_TICK)
    this.counters.values[G_ACTIVE_FLOWS] = flows.count
  }

  statsReport(): StatsReport {
    return statsReport(this.snap, [this.counters], this.flowCount)
  }

  /**
   * A hint, before processing a batch: read the flow-table bucket and then
   * the record each frame will need, all frames' reads in one pass each, so
   * the processor overlaps their cache misses instead of waiting for one per
   * frame inside process(). The hashes are kept for process() when it is then
   * called for these frames, in this order, with the frames unchanged (what a
   * port's batch loop does); any other call computes its own. Changes no flow.
   */
  prefetch(buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): void {
    const flows = this.flowTable
    if (this.snap === null || flows === null) return
    const n = count < PREFETCH_MAX ? count : PREFETCH_MAX
    this.hintBuffer = buf
    this.hintOffsets = offsets
    this.hintLengths = lengths
    this.hintCount = n
    this.hintNext = 0
    const hashes = this.prefetchHashes
    const heads = this.prefetchHeads
    // Three tight passes: hashing (no memory traffic), then the bucket words,
    // then the records, so that many misses are in flight at once.
    const kinds = this.prefetchKinds
    const replyHashes = this.prefetchReplyHashes
    const replyKinds = this.prefetchReplyKinds
    const replyHeads = this.prefetchReplyHeads
    for (let i = 0; i < n; i++) {
      this.lookupReplyKind = 2
      hashes[i] = this.lookupHashOf(buf, offsets[i]!, lengths[i]!)
      kinds[i] = this.lookupKind
      replyHashes[i] = this.lookupReplyHash
      replyKinds[i] = this.lookupReplyKind
    }
    for (let i = 0; i < n; i++) {
      heads[i] = flows.headOf(kinds[i]!, hashes[i]!)
      replyHeads[i] = flows.headOf(replyKinds[i]!, replyHashes[i]!)
    }
    let sink = 0
    for (let i = 0; i < n; i++) {
      const head = heads[i]!
      if (head >= 0) sink ^= flows.touchRecord(head)
      const replyHead = replyHeads[i]!
      if (replyHead >= 0) sink ^= flows.touchRecord(replyHead)
    }
    this.prefetchSink = sink
  }

  /**
   * The hash of the chain this frame's flow lookup walks; sets lookupKind to
   * which chain (FlowTable.headOf: 0 forward, 1 reply, 2 none).
   */
  private lookupHashOf(buf: Uint8Array, off: number, len: number): number {
    const snap = this.snap!
    const end = off + len
    let ip = off + ETH_HLEN
    this.lookupKind = 2
    if (end > buf.length || ip + IP_HLEN > end) return 0
    if (readU16(buf, off + 12) === ETHERTYPE_VLAN) ip += VLAN_HLEN
    let protocol = buf[ip + 9]!
    let l4 = ip + ((buf[ip]! & 0x0f) << 2)
    if (protocol === IPPROTO_GRE && readI32(buf, ip + 16) === snap.providerAddress) {
      const vsid = readI32(buf, l4 + 4) >>> 8
      ip = l4 + GRE_HLEN + ETH_HLEN
      if (ip + IP_HLEN > end) return 0
      protocol = buf[ip + 9]!
      l4 = ip + ((buf[ip]! & 0x0f) << 2)
      if (l4 + 4 > end || (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP)) return 0
      const src = readI32(buf, ip + 12)
      const dst = readI32(buf, ip + 16)
      const ports = readI32(buf, l4)
      if (keyTableGet(snap.rulesByAddress, dst, vsid, protocol) !== -1) {
        this.lookupKind = 0
        return forwardKeyHash(hash5(src, dst, ports, protocol), (vsid << 8) | protocol)
      }
      this.lookupKind = 1
      return replyHash(protocol, src, dst, ports)
    }
    if (l4 + 4 > end || (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP)) return 0
    this.lookupKind = 0
    const src = readI32(buf, ip + 12)
    const dst = readI32(buf, ip + 16)
    const ports = readI32(buf, l4)
    const h5 = hash5(src, dst, ports, protocol)
    // A SYN to a destination-NAT VIP is a new flow: its reply 5-tuple (and the
    // chain newFlow() checks for a collision) is known once Maglev has picked.
    if (protocol === IPPROTO_TCP && l4 + 14 <= end && (buf[l4 + 13]! & (TCP_FLAG_SYN | TCP_FLAG_ACK)) === TCP_FLAG_SYN) {
      const ruleId = keyTableGet(snap.rules, dst, 0, (protocol << 16) | (ports & 0xffff))
      const rule = ruleId >= 0 ? snap.ruleList[ruleId] : null
      if (rule !== null && rule !== undefined && rule.natMode !== NAT_FULLNAT && rule.distribution !== DIST_3_TUPLE && rule.distribution !== DIST_2_TUPLE) {
        const backend = rule.table[(h5 >>> 0) % rule.table.length]!
        if (backend >= 0) {
          this.lookupReplyKind = 1
          this.lookupReplyHash = replyHash(protocol, snap.backendAddress[backend]!, src, (snap.backendPort[backend]! << 16) | (ports >>> 16))
        }
      }
    }
    return forwardKeyHash(h5, protocol)
  }

  /** Process one frame: buf[off, off + len). */
  process(buf: Uint8Array, off: number, len: number): number {
    // The hash prefetch() computed for this frame, when it is the next one of the prefetched batch.
    const k = this.hintNext
    if (k < this.hintCount && buf === this.hintBuffer && this.hintOffsets[k] === off && this.hintLengths[k] === len) {
      this.hintKind = this.prefetchKinds[k]!
      this.hintHash = this.prefetchHashes[k]!
      this.hintNext = k + 1
    } else {
      this.hintKind = 2
    }
    const c = this.counters.values
    c[G_RX_PACKETS]++
    c[G_RX_BYTES] += len
    const snap = this.snap
    if (snap === null) return this.drop(DropReason.NO_CONFIGURATION)
    if (len < ETH_HLEN || off < 0 || off + len > buf.length) return this.drop(DropReason.TRUNCATED)
    let ethertype = readU16(buf, off + 12)
    let l3 = off + ETH_HLEN
    if (ethertype === ETHERTYPE_VLAN) {
      if (len < ETH_HLEN + VLAN_HLEN) return this.drop(DropReason.TRUNCATED)
      ethertype = readU16(buf, off + 16)
      l3 += VLAN_HLEN
      if (ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ) return this.drop(DropReason.VLAN_DOUBLE_TAGGED)
    } else if (ethertype === ETHERTYPE_QINQ) {
      return this.drop(DropReason.VLAN_DOUBLE_TAGGED)
    }
    const end = off + len
    if (ethertype === ETHERTYPE_ARP) return this.arp(buf, off, l3, end)
    if (ethertype !== ETHERTYPE_IPV4) return this.drop(DropReason.NOT_IPV4)
    const reason = this.checkIPv4(buf, l3, end)
    if (reason >= 0) return this.drop(reason)
    const ihl = (buf[l3]! & 0x0f) << 2
    const total = readU16(buf, l3 + 2)
    if (buf[l3 + 9] === IPPROTO_GRE && readI32(buf, l3 + 16) === snap.providerAddress) {
      return this.fromProvider(buf, off, l3, ihl, total)
    }
    return this.fromExternal(buf, off, l3, ihl, total)
  }

  // ---------------------------------------------------------------- external side

  private fromExternal(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number): number {
    const snap = this.snap!
    const protocol = buf[ip + 9]!
    const src = readI32(buf, ip + 12)
    const dst = readI32(buf, ip + 16)
    if (protocol === IPPROTO_ICMP) return this.icmpFromClient(buf, ip, ihl, total, 0)
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) {
      return this.drop(keyTableGet(snap.publicVips, dst, 0, 0) >= 0 ? DropReason.NO_VIP_RULE : DropReason.NOT_FOR_US)
    }
    const fragment = readU16(buf, ip + 6)
    if ((fragment & IPV4_FRAGMENT_OFFSET_MASK) !== 0) return this.laterFragmentToVip(buf, eth, ip, total, 0, protocol, src, dst)
    const l4 = ip + ihl
    if (!this.hasL4Header(buf, protocol, l4, ip + total)) return this.drop(DropReason.BAD_L4_HEADER)
    const ports = readI32(buf, l4)
    // From the public side the key word is just the protocol, so the bucket hash is the 5-tuple hash.
    const h5 = this.hintKind === 0 ? this.hintHash : hash5(src, dst, ports, protocol)
    const fk = forwardKeyHash(h5, protocol)
    const flows = this.flowTable!
    let flow = flows.findForward(fk, protocol, src, dst, ports)
    if (flow !== NO_ENTRY && !this.isUsable(flow)) flow = this.discard(flow, fk)
    const firstFragment = (fragment & IPV4_FLAG_MF) !== 0
    if (flow === NO_ENTRY) {
      const ruleId = keyTableGet(snap.rules, dst, 0, (protocol << 16) | (ports & 0xffff))
      if (ruleId < 0) {
        return this.drop(keyTableGet(snap.publicVips, dst, 0, 0) >= 0 ? DropReason.NO_VIP_RULE : DropReason.NOT_FOR_US)
      }
      flow = this.newFlow(snap.ruleList[ruleId]!, protocol, protocol, src, dst, ports, h5, fk, firstFragment)
      if (flow === NO_ENTRY) return Verdict.DROP
      flows.setMacIndex(flow, this.internClientMac(buf, eth + 6))
    }
    if (firstFragment) this.rememberFragment(0, false, protocol, src, dst, readU16(buf, ip + 4), flow)
    return this.toBackend(buf, eth, ip, ihl, total, flow, true, Side.EXTERNAL)
  }

  // ---------------------------------------------------------------- provider side

  private fromProvider(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number): number {
    const snap = this.snap!
    // Nothing larger than the provider MTU can arrive lawfully, and what nvlb makes of it would not fit either.
    if (total > snap.providerMtu) return this.drop(DropReason.PACKET_TOO_BIG)
    if ((readU16(buf, ip + 6) & (IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK)) !== 0) return this.drop(DropReason.OUTER_FRAGMENT)
    const end = ip + total
    const gre = ip + ihl
    if (gre + GRE_HLEN > end) return this.drop(DropReason.GRE_TRUNCATED)
    const flags = readU16(buf, gre)
    if ((flags & GRE_FLAGS_CHECKSUM) !== 0) return this.drop(DropReason.GRE_CHECKSUM_PRESENT)
    if ((flags & GRE_FLAGS_SEQUENCE) !== 0) return this.drop(DropReason.GRE_SEQUENCE_PRESENT)
    if ((flags & GRE_FLAGS_KEY) === 0) return this.drop(DropReason.GRE_KEY_ABSENT)
    if (flags !== NVGRE_FLAGS_VERSION) return this.drop(DropReason.GRE_BAD_VERSION)
    if (readU16(buf, gre + 2) !== ETHERTYPE_TEB) return this.drop(DropReason.GRE_BAD_PROTOCOL)
    const vsid = readI32(buf, gre + 4) >>> 8
    if (vsid < VSID_MIN || vsid > VSID_MAX) return this.drop(DropReason.VSID_OUT_OF_RANGE)
    const innerEth = gre + GRE_HLEN
    if (innerEth + ETH_HLEN > end) return this.drop(DropReason.GRE_TRUNCATED)
    const innerType = readU16(buf, innerEth + 12)
    if (innerType === ETHERTYPE_VLAN || innerType === ETHERTYPE_QINQ) return this.drop(DropReason.INNER_TAGGED)
    if (innerType !== ETHERTYPE_IPV4) return this.drop(DropReason.INNER_NOT_IPV4)
    const iip = innerEth + ETH_HLEN
    const reason = this.checkIPv4(buf, iip, end)
    if (reason >= 0) return this.drop(reason)
    // Frames of a batch mostly come from a few tenants and hosts: one-entry caches in front of the tables.
    let domain = this.lastDomain
    if (vsid !== this.lastVsid) {
      domain = keyTableGet(snap.domains, vsid, 0, 0)
      if (domain < 0) return this.drop(DropReason.UNKNOWN_VSID)
      this.lastVsid = vsid
      this.lastDomain = domain
    }
    const outerSrc = readI32(buf, ip + 12)
    if (outerSrc !== this.lastNeighbor || !sameMac(buf, eth + 6, this.dynamicMac, this.lastNeighborIndex * 6)) {
      this.learnNeighbor(outerSrc, buf, eth + 6)
    }

    const ihl2 = (buf[iip]! & 0x0f) << 2
    const total2 = readU16(buf, iip + 2)
    const protocol = buf[iip + 9]!
    const src = readI32(buf, iip + 12)
    const dst = readI32(buf, iip + 16)
    // Replies to health probes belong to the probe tunnel (lib/health), not to any tenant's counters.
    if (dst === snap.probeAddress && dst !== 0) return Verdict.CONSUMED
    if (protocol === IPPROTO_ICMP) return this.icmpFromTenant(buf, iip, ihl2, total2, vsid, domain)
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return this.drop(DropReason.NO_VIP_RULE)
    const fragment = readU16(buf, iip + 6)
    if ((fragment & IPV4_FRAGMENT_OFFSET_MASK) !== 0) {
      if (keyTableGet(snap.rulesByAddress, dst, vsid, protocol) !== -1) {
        return this.laterFragmentToVip(buf, eth, iip, total2, vsid, protocol, src, dst)
      }
      return this.laterFragmentReply(buf, iip, total2, domain, protocol, src, dst)
    }
    const l4 = iip + ihl2
    if (!this.hasL4Header(buf, protocol, l4, iip + total2)) return this.drop(DropReason.BAD_L4_HEADER)
    const ports = readI32(buf, l4)
    const firstFragment = (fragment & IPV4_FLAG_MF) !== 0
    const flows = this.flowTable!

    // A client inside a tenant talking to a CA VIP? (The small rule table says
    // whether dst is a VIP at all before the flow table is touched.)
    const hinted = this.hintKind
    if (hinted === 0 || (hinted === 2 && keyTableGet(snap.rulesByAddress, dst, vsid, protocol) !== -1)) {
      const keyProto = (vsid << 8) | protocol
      const fk = hinted === 0 ? this.hintHash : forwardKeyHash(hash5(src, dst, ports, protocol), keyProto)
      const h5 = forwardKeyHash(fk, keyProto) // the bucket mix is its own inverse
      let flow = flows.findForward(fk, keyProto, src, dst, ports)
      if (flow !== NO_ENTRY && !this.isUsable(flow)) flow = this.discard(flow, fk)
      if (flow === NO_ENTRY) {
        // Full-NAT replies are addressed to the VIP too (at a NAT port, never a rule's port).
        const ruleId = keyTableGet(snap.rules, dst, vsid, (protocol << 16) | (ports & 0xffff))
        if (ruleId >= 0) {
          flow = this.newFlow(snap.ruleList[ruleId]!, keyProto, protocol, src, dst, ports, h5, fk, firstFragment)
          if (flow === NO_ENTRY) return Verdict.DROP
        }
      }
      if (flow !== NO_ENTRY) {
        if (firstFragment) this.rememberFragment(vsid, false, protocol, src, dst, readU16(buf, iip + 4), flow)
        return this.toBackend(buf, eth, iip, ihl2, total2, flow, true, Side.PROVIDER)
      }
    }

    // A backend answering a flow.
    const flow = this.findReply(hinted === 1 ? this.hintHash : replyHash(protocol, src, dst, ports), domain, protocol, src, dst, ports)
    if (flow === NO_ENTRY) return this.drop(this.replyDomainMismatch ? DropReason.WRONG_ROUTING_DOMAIN : DropReason.NO_FLOW)
    if (!this.isUsable(flow)) {
      this.discard(flow, -1)
      return this.drop(DropReason.NO_FLOW)
    }
    if (firstFragment) this.rememberFragment(domain, true, protocol, src, dst, readU16(buf, iip + 4), flow)
    return this.toClient(buf, iip, ihl2, total2, flow, true)
  }

  // ---------------------------------------------------------------- flows

  private newFlow(
    rule: CompiledRule,
    keyProto: number,
    protocol: number,
    src: number,
    dst: number,
    ports: number,
    h5: number,
    fk: number,
    fragmented: boolean,
  ): number {
    const snap = this.snap!
    let h = h5
    if (fragmented || rule.distribution === DIST_3_TUPLE) h = hash3(src, dst, protocol)
    else if (rule.distribution === DIST_2_TUPLE) h = hash2(src, dst)
    const backend = rule.table[(h >>> 0) % rule.table.length]!
    if (backend < 0) return this.dropFlow(DropReason.NO_BACKEND)
    const dip = snap.backendAddress[backend]!
    const backendDomain = snap.backendDomain[backend]!
    const backendPort = snap.backendPort[backend]!
    let natPort = 0
    let replyDst = src
    let replyPorts = (backendPort << 16) | (ports >>> 16)
    if (rule.natMode === NAT_FULLNAT) {
      replyDst = dst
      const start = (h >>> 0) % this.natPortSlots
      const lane = (ports >>> 16) % this.workerCount
      for (let t = 0; t < NAT_PORT_TRIES; t++) {
        const candidate = this.natPortBase + ((start + t * 4099) % this.natPortSlots) * this.workerCount + lane
        const candidatePorts = (backendPort << 16) | candidate
        if (keyTableGet(snap.rules, dst, rule.virtualSubnetId, (protocol << 16) | candidate) >= 0) continue
        if (this.findReply(replyHash(protocol, dip, dst, candidatePorts), backendDomain, protocol, dip, dst, candidatePorts) === NO_ENTRY && !this.replyDomainMismatch) {
          natPort = candidate
          replyPorts = candidatePorts
          break
        }
      }
      if (natPort === 0) return this.dropFlow(DropReason.NAT_PORTS_EXHAUSTED)
    } else if (this.findReply(replyHash(protocol, dip, replyDst, replyPorts), backendDomain, protocol, dip, replyDst, replyPorts) !== NO_ENTRY) {
      return this.dropFlow(DropReason.REVERSE_COLLISION)
    }
    const flows = this.flowTable!
    const state = protocol === IPPROTO_TCP ? FLOW_NEW : FLOW_DATAGRAM
    const flow = flows.insert(fk, replyHash(protocol, dip, replyDst, replyPorts), keyProto, src, dst, ports, backend, rule.id, natPort, state, this.now)
    if (flows.evicted) {
      this.counters.values[G_FLOWS_EVICTED]++
      this.counters.values[G_FLOWS_EVICTED_HALF_OPEN + flows.evictedClass]++
    }
    this.counters.values[G_FLOWS_EXPIRED] += flows.reclaimed
    this.counters.countNewFlow(rule.id, backend)
    return flow
  }

  /**
   * Find the flow a reply 5-tuple belongs to: the backend (src, sport), the
   * client or the full-NAT address (dst, dport), within the routing domain.
   */
  private findReply(hash: number, domain: number, protocol: number, src: number, dst: number, ports: number): number {
    const snap = this.snap!
    const flows = this.flowTable!
    this.replyDomainMismatch = false
    let i = flows.replyHead(hash)
    while (i !== NO_ENTRY) {
      const backend = flows.backend(i)
      if (snap.backendAddress[backend] === src && (flows.keyProto(i) & 0xff) === protocol) {
        const natPort = flows.natPort(i)
        const replyDst = natPort !== 0 ? flows.dst(i) : flows.src(i)
        const replyPorts = (snap.backendPort[backend]! << 16) | (natPort !== 0 ? natPort : flows.ports(i) >>> 16)
        if (replyDst === dst && replyPorts === ports) {
          if (snap.backendDomain[backend] === domain) return i
          this.replyDomainMismatch = true
        }
      }
      i = flows.replyNext(i)
    }
    return NO_ENTRY
  }

  /** Still valid under the current snapshot and not idle past its timeout. */
  private isUsable(flow: number): boolean {
    const snap = this.snap!
    const flows = this.flowTable!
    const backend = flows.backend(flow)
    if (backend >= snap.backendCount) return false
    const state = snap.backendState[backend]!
    if (state === BACKEND_DISABLED || state === BACKEND_ABSENT || snap.backendDown[backend] === 1) return false
    const rule = snap.ruleList[flows.rule(flow)]
    if (rule === null || rule === undefined || rule.pool !== snap.backendPool[backend]) return false
    if ((rule.natMode === NAT_FULLNAT) !== (flows.natPort(flow) !== 0)) return false
    return !this.isExpired(flow)
  }

  private isExpired(flow: number): boolean {
    const flows = this.flowTable!
    const idle = (this.now - flows.lastSeen(flow)) | 0
    const state = flows.state(flow)
    let timeout: number
    if (state === FLOW_ESTABLISHED || state === FLOW_DATAGRAM) {
      const rule = this.snap!.ruleList[flows.rule(flow)]
      timeout = rule === null || rule === undefined ? TCP_SYN_TIMEOUT : rule.idleTimeoutSeconds
    } else if (state === FLOW_NEW) timeout = TCP_SYN_TIMEOUT
    else if (state === FLOW_CLOSING) timeout = TCP_CLOSING_TIMEOUT
    else timeout = TCP_RESET_TIMEOUT
    return idle > timeout
  }

  /** Remove an unusable flow; returns NO_ENTRY for the caller's "not found" path. */
  private discard(flow: number, forwardHash: number): number {
    const flows = this.flowTable!
    if (this.isExpired(flow)) this.counters.values[G_FLOWS_EXPIRED]++
    if (forwardHash >= 0) flows.removeWithHash(flow, forwardHash)
    else flows.remove(flow)
    return NO_ENTRY
  }

  private trackTcp(flow: number, buf: Uint8Array, l4: number): void {
    const flows = this.flowTable!
    const flags = buf[l4 + 13]!
    const state = flows.state(flow)
    if ((flags & TCP_FLAG_RST) !== 0) flows.setState(flow, FLOW_RESET)
    else if ((flags & TCP_FLAG_FIN) !== 0) {
      if (state !== FLOW_RESET) flows.setState(flow, FLOW_CLOSING)
    } else if (state === FLOW_NEW && (flags & (TCP_FLAG_ACK | TCP_FLAG_SYN)) === TCP_FLAG_ACK) {
      flows.setState(flow, FLOW_ESTABLISHED)
    }
  }

  // ---------------------------------------------------------------- NAT and output

  /**
   * Client → backend: destination NAT (and source NAT for full NAT), then
   * NVGRE to the backend's host. `l4` false for a non-first fragment.
   */
  private toBackend(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number, flow: number, l4Present: boolean, fromSide: number): number {
    const snap = this.snap!
    const flows = this.flowTable!
    const backend = flows.backend(flow)
    if (total + ENCAP_OVERHEAD > snap.providerMtu && (readU16(buf, ip + 6) & IPV4_FLAG_DF) !== 0) {
      return this.packetTooBig(buf, eth, ip, ihl, total, flows.keyProto(flow) >>> 8, fromSide)
    }
    flows.touch(flow, this.now)
    const protocol = buf[ip + 9]!
    const l4 = ip + ihl
    if (l4Present && protocol === IPPROTO_TCP) this.trackTcp(flow, buf, l4)
    const natPort = flows.natPort(flow)
    if (natPort !== 0) this.rewriteSource(buf, ip, ihl, protocol, l4Present, flows.dst(flow), natPort)
    this.rewriteDestination(buf, ip, ihl, protocol, l4Present, snap.backendAddress[backend]!, snap.backendPort[backend]!)
    if (l4Present && protocol === IPPROTO_TCP && snap.mssClamp) this.clampMss(buf, l4, ip + total)
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(backend, total)
    if (total + ENCAP_OVERHEAD > snap.providerMtu) {
      return this.fragmentAndEncapsulate(buf, ip, ihl, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, flows.src(flow))
    }
    return this.encapsulate(buf, ip, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, flows.src(flow))
  }

  /** Backend → client: the reverse translation, then out of the external side or NVGRE to the client's host. */
  private toClient(buf: Uint8Array, ip: number, ihl: number, total: number, flow: number, l4Present: boolean): number {
    const snap = this.snap!
    const flows = this.flowTable!
    flows.touch(flow, this.now)
    const protocol = buf[ip + 9]!
    const l4 = ip + ihl
    if (l4Present && protocol === IPPROTO_TCP) this.trackTcp(flow, buf, l4)
    const client = flows.src(flow)
    const ports = flows.ports(flow)
    this.rewriteSource(buf, ip, ihl, protocol, l4Present, flows.dst(flow), ports & 0xffff)
    if (flows.natPort(flow) !== 0) this.rewriteDestination(buf, ip, ihl, protocol, l4Present, client, ports >>> 16)
    if (l4Present && protocol === IPPROTO_TCP && snap.mssClamp) this.clampMss(buf, l4, ip + total)
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(flows.backend(flow), total)
    const vsid = flows.keyProto(flow) >>> 8
    if (vsid === 0) return this.toExternal(buf, ip, total, this.clientMacBytes, flows.macIndex(flow) * 6)
    const record = keyTableGet(snap.lookup, vsid, client, 0)
    if (record < 0) return this.drop(DropReason.NO_LOOKUP_RECORD)
    return this.encapsulate(buf, ip, total, snap.lookupHost[record]!, vsid, snap.lookupMac, record * 6, client)
  }

  // The rewrites below go through a DataView (the callers have checked that the IPv4
  // header, and the TCP/UDP header when l4Present, lie inside buf).

  private rewriteSource(buf: Uint8Array, ip: number, ihl: number, protocol: number, l4Present: boolean, address: number, port: number): void {
    const v = this.viewOf(buf)
    const old = v.getInt32(ip + 12)
    v.setInt32(ip + 12, address)
    v.setUint16(ip + 10, checksumAdjust32(v.getUint16(ip + 10), old, address))
    if (!l4Present) return
    const l4 = ip + ihl
    const oldPort = v.getUint16(l4)
    v.setUint16(l4, port)
    this.adjustL4(v, l4, protocol, old, address, oldPort, port)
  }

  private rewriteDestination(buf: Uint8Array, ip: number, ihl: number, protocol: number, l4Present: boolean, address: number, port: number): void {
    const v = this.viewOf(buf)
    const old = v.getInt32(ip + 16)
    v.setInt32(ip + 16, address)
    v.setUint16(ip + 10, checksumAdjust32(v.getUint16(ip + 10), old, address))
    if (!l4Present) return
    const l4 = ip + ihl
    const oldPort = v.getUint16(l4 + 2)
    v.setUint16(l4 + 2, port)
    this.adjustL4(v, l4, protocol, old, address, oldPort, port)
  }

  /** TCP/UDP checksum after an address (pseudo-header) and a port change. UDP checksum 0 means none. */
  private adjustL4(v: DataView<ArrayBufferLike>, l4: number, protocol: number, oldAddress: number, newAddress: number, oldPort: number, newPort: number): void {
    const at = protocol === IPPROTO_TCP ? l4 + 16 : l4 + 6
    let sum = v.getUint16(at)
    if (protocol === IPPROTO_UDP && sum === 0) return
    sum = checksumAdjust16(checksumAdjust32(sum, oldAddress, newAddress), oldPort, newPort)
    if (protocol === IPPROTO_UDP && sum === 0) sum = 0xffff
    v.setUint16(at, sum)
  }

  /** Lower the MSS option of a SYN to what fits the provider MTU after encapsulation. */
  private clampMss(buf: Uint8Array, l4: number, end: number): void {
    if ((buf[l4 + 13]! & TCP_FLAG_SYN) === 0) return
    const headerEnd = l4 + ((buf[l4 + 12]! >>> 4) << 2)
    if (headerEnd > end) return
    let p = l4 + TCP_HLEN
    while (p < headerEnd) {
      const kind = buf[p]!
      if (kind === TCP_OPTION_EOL) return
      if (kind === TCP_OPTION_NOP) {
        p++
        continue
      }
      if (p + 1 >= headerEnd) return
      const length = buf[p + 1]!
      if (length < 2 || p + length > headerEnd) return
      if (kind === TCP_OPTION_MSS && length === 4) {
        const mss = readU16(buf, p + 2)
        const clamped = this.snap!.clampedMss
        if (mss > clamped) {
          writeU16(buf, p + 2, clamped)
          writeU16(buf, l4 + 16, checksumAdjust16(readU16(buf, l4 + 16), mss, clamped))
        }
        return
      }
      p += length
    }
  }

  /** Write outer Ethernet, outer IPv4, GRE and inner Ethernet in front of the IPv4 packet at `ip`. */
  private encapsulate(buf: Uint8Array, ip: number, total: number, host: number, vsid: number, vmMac: Uint8Array, vmMacOff: number, entropy: number): number {
    const start = ip - ENCAP_HEADERS
    if (start < 0) return this.drop(DropReason.NO_HEADROOM)
    if (!this.resolveNeighbor(host)) return this.drop(DropReason.NEIGHBOR_UNRESOLVED)
    this.writeEncapsulation(buf, start, total, host, vsid, vmMac, vmMacOff, entropy, readU16(buf, ip + 6) & IPV4_FLAG_DF)
    return this.transmit(start, total + ENCAP_HEADERS, Side.PROVIDER)
  }

  /** Needs resolveNeighbor(host) to have succeeded. */
  private writeEncapsulation(buf: Uint8Array, start: number, total: number, host: number, vsid: number, vmMac: Uint8Array, vmMacOff: number, entropy: number, df: number): void {
    const snap = this.snap!
    // 32-bit big-endian stores through a DataView: a quarter of the byte stores. The caller
    // checked that [start, start + ENCAP_HEADERS) lies inside buf.
    const v = this.viewOf(buf)
    const nb = this.neighborBytes
    const no = this.neighborOffset
    // Outer Ethernet: nvlb → next hop of the host's PA.
    v.setInt32(start, (nb[no]! << 24) | (nb[no + 1]! << 16) | (nb[no + 2]! << 8) | nb[no + 3]!)
    v.setInt32(start + 4, (nb[no + 4]! << 24) | (nb[no + 5]! << 16) | this.providerMacHigh)
    v.setInt32(start + 8, this.providerMacLow)
    v.setUint16(start + 12, ETHERTYPE_IPV4)
    // Outer IPv4: nvlb PA → host PA, protocol 47; the checksum from the field values.
    const oip = start + ETH_HLEN
    const length = total + ENCAP_OVERHEAD
    this.ipId = (this.ipId + 1) & 0xffff
    let sum = 0x4500 + length + this.ipId + df + ((OUTER_TTL << 8) | IPPROTO_GRE)
    sum += (snap.providerAddress >>> 16) + (snap.providerAddress & 0xffff) + (host >>> 16) + (host & 0xffff)
    sum = (sum & 0xffff) + (sum >>> 16)
    sum = (sum & 0xffff) + (sum >>> 16)
    v.setInt32(oip, (0x4500 << 16) | length)
    v.setInt32(oip + 4, (this.ipId << 16) | df)
    v.setInt32(oip + 8, (OUTER_TTL << 24) | (IPPROTO_GRE << 16) | (~sum & 0xffff))
    v.setInt32(oip + 12, snap.providerAddress)
    v.setInt32(oip + 16, host)
    // GRE: K bit, transparent Ethernet bridging, key = VSID << 8 | FlowID.
    const gre = oip + IP_HLEN
    v.setInt32(gre, (NVGRE_FLAGS_VERSION << 16) | ETHERTYPE_TEB)
    const flowId = (entropy ^ (entropy >>> 8) ^ (entropy >>> 16) ^ (entropy >>> 24)) & 0xff
    v.setInt32(gre + 4, (vsid << 8) | flowId)
    // Inner Ethernet: gateway → VM.
    const ieth = gre + GRE_HLEN
    v.setInt32(ieth, (vmMac[vmMacOff]! << 24) | (vmMac[vmMacOff + 1]! << 16) | (vmMac[vmMacOff + 2]! << 8) | vmMac[vmMacOff + 3]!)
    v.setInt32(ieth + 4, (vmMac[vmMacOff + 4]! << 24) | (vmMac[vmMacOff + 5]! << 16) | this.gatewayMacHigh)
    v.setInt32(ieth + 8, this.gatewayMacLow)
    v.setUint16(ieth + 12, ETHERTYPE_IPV4)
  }

  /** A DataView of buf, kept for the last two buffers seen (a port's receive buffer and the transmit queue). */
  private viewOf(buf: Uint8Array): DataView<ArrayBufferLike> {
    if (buf === this.viewBufferA) return this.viewA
    if (buf === this.viewBufferB) return this.viewB
    this.viewBufferB = this.viewBufferA
    this.viewB = this.viewA
    this.viewBufferA = buf
    this.viewA = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    return this.viewA
  }

  /** Plain IPv4 out of the external side, to a client-side MAC. */
  private toExternal(buf: Uint8Array, ip: number, total: number, mac: Uint8Array, macOff: number): number {
    const start = ip - ETH_HLEN
    if (start < 0) return this.drop(DropReason.NO_HEADROOM)
    copyMac(mac, macOff, buf, start)
    copyMac(this.snap!.externalMac, 0, buf, start + 6)
    writeU16(buf, start + 12, ETHERTYPE_IPV4)
    return this.transmit(start, total + ETH_HLEN, Side.EXTERNAL)
  }

  private transmit(offset: number, length: number, side: number): number {
    this.outOffset = offset
    this.outLength = length
    this.outSide = side
    const c = this.counters.values
    c[G_TX_PACKETS]++
    c[G_TX_BYTES] += length
    return Verdict.TX
  }

  private drop(reason: number): number {
    this.counters.values[DROPS_BASE + reason]++
    return Verdict.DROP
  }

  /** Count a drop where a flow was refused; returns NO_ENTRY. */
  private dropFlow(reason: number): number {
    this.drop(reason)
    return NO_ENTRY
  }

  // ---------------------------------------------------------------- path MTU and fragments

  /**
   * DF set and too big after encapsulation: ICMP fragmentation-needed back to
   * the sender, from the address it sent to, with MTU = providerMtu − 42.
   */
  private packetTooBig(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number, vsid: number, fromSide: number): number {
    const snap = this.snap!
    this.drop(DropReason.PACKET_TOO_BIG)
    const q = this.extra
    const slot = q.reserve()
    if (slot < 0) return this.drop(DropReason.TX_QUEUE_FULL)
    const out = q.buffer
    const quoted = Math.min(total, ihl + 8)
    const icmpLength = ICMP_HLEN + quoted
    const oip = slot + (fromSide === Side.EXTERNAL ? ETH_HLEN : ENCAP_HEADERS)
    const sender = readI32(buf, ip + 12)
    writeIPv4Header(out, oip, IP_HLEN + icmpLength, (this.ipId = (this.ipId + 1) & 0xffff), ICMP_TTL, IPPROTO_ICMP, readI32(buf, ip + 16), sender)
    const icmp = oip + IP_HLEN
    out[icmp] = ICMP_TYPE_DEST_UNREACHABLE
    out[icmp + 1] = ICMP_CODE_FRAGMENTATION_NEEDED
    writeU16(out, icmp + 2, 0)
    writeU16(out, icmp + 4, 0)
    writeU16(out, icmp + 6, snap.providerMtu - ENCAP_OVERHEAD)
    copyBytes(buf, ip, out, icmp + ICMP_HLEN, quoted)
    writeU16(out, icmp + 2, checksum(out, icmp, icmpLength))
    const length = IP_HLEN + icmpLength
    if (fromSide === Side.EXTERNAL) {
      copyMac(buf, eth + 6, out, slot)
      copyMac(snap.externalMac, 0, out, slot + 6)
      writeU16(out, slot + 12, ETHERTYPE_IPV4)
      return this.commitExtra(length + ETH_HLEN, Side.EXTERNAL)
    }
    const record = keyTableGet(snap.lookup, vsid, sender, 0)
    if (record < 0) return this.drop(DropReason.NO_LOOKUP_RECORD)
    if (!this.resolveNeighbor(snap.lookupHost[record]!)) return this.drop(DropReason.NEIGHBOR_UNRESOLVED)
    this.writeEncapsulation(out, slot, length, snap.lookupHost[record]!, vsid, snap.lookupMac, record * 6, sender, 0)
    return this.commitExtra(length + ENCAP_HEADERS, Side.PROVIDER)
  }

  private commitExtra(length: number, side: number): number {
    this.extra.commit(length, side)
    const c = this.counters.values
    c[G_TX_PACKETS]++
    c[G_TX_BYTES] += length
    return Verdict.CONSUMED
  }

  /**
   * DF clear and too big: split the (already translated) packet into
   * fragments that fit and encapsulate each into the extra queue. IP options
   * are kept on the first fragment only.
   */
  private fragmentAndEncapsulate(buf: Uint8Array, ip: number, ihl: number, total: number, host: number, vsid: number, vmMac: Uint8Array, vmMacOff: number, entropy: number): number {
    const snap = this.snap!
    if (!this.resolveNeighbor(host)) return this.drop(DropReason.NEIGHBOR_UNRESOLVED)
    const maxInner = snap.providerMtu - ENCAP_OVERHEAD
    const fragmentField = readU16(buf, ip + 6)
    const baseOffset = (fragmentField & IPV4_FRAGMENT_OFFSET_MASK) << 3
    const lastHasMore = (fragmentField & IPV4_FLAG_MF) !== 0
    const payload = total - ihl
    let done = 0
    const q = this.extra
    while (done < payload) {
      const headerLength = done === 0 ? ihl : IP_HLEN
      const room = ((maxInner - headerLength) >> 3) << 3
      const size = Math.min(room, payload - done)
      const more = done + size < payload || lastHasMore
      const slot = q.reserve()
      if (slot < 0) return this.drop(DropReason.TX_QUEUE_FULL)
      const out = q.buffer
      const fip = slot + ENCAP_HEADERS
      copyBytes(buf, ip, out, fip, headerLength)
      out[fip] = 0x40 | (headerLength >> 2)
      writeU16(out, fip + 2, headerLength + size)
      writeU16(out, fip + 6, (more ? IPV4_FLAG_MF : 0) | ((baseOffset + done) >> 3))
      writeU16(out, fip + 10, 0)
      writeU16(out, fip + 10, checksum(out, fip, headerLength))
      copyBytes(buf, ip + ihl + done, out, fip + headerLength, size)
      this.writeEncapsulation(out, slot, headerLength + size, host, vsid, vmMac, vmMacOff, entropy, 0)
      this.commitExtra(headerLength + size + ENCAP_HEADERS, Side.PROVIDER)
      done += size
    }
    return Verdict.CONSUMED
  }

  /**
   * Fragment state is keyed by (scope << 8 | protocol, src, dst, direction << 16 | IP id):
   * scope is the VSID toward a VIP (0 from the Internet) and the routing domain for replies.
   */
  private fragmentSlot(key0: number, src: number, dst: number, key3: number): number {
    return (Math.imul(key0 ^ src ^ Math.imul(dst, 31) ^ Math.imul(key3, 0x9e3779b1), 0x85ebca6b) >>> 20) & (FRAGMENT_SLOTS - 1)
  }

  private rememberFragment(scope: number, reply: boolean, protocol: number, src: number, dst: number, id: number, flow: number): void {
    const key0 = (scope << 8) | protocol
    const key3 = ((reply ? 1 : 0) << 16) | id
    const slot = this.fragmentSlot(key0, src, dst, key3)
    const k = slot * 4
    this.fragmentKey[k] = key0
    this.fragmentKey[k + 1] = src
    this.fragmentKey[k + 2] = dst
    this.fragmentKey[k + 3] = key3
    this.fragmentFlow[slot] = flow
    this.fragmentTime[slot] = this.now
  }

  private recallFragment(scope: number, reply: boolean, protocol: number, src: number, dst: number, id: number): number {
    const key0 = (scope << 8) | protocol
    const key3 = ((reply ? 1 : 0) << 16) | id
    const slot = this.fragmentSlot(key0, src, dst, key3)
    const k = slot * 4
    if (this.fragmentKey[k] !== key0 || this.fragmentKey[k + 1] !== src || this.fragmentKey[k + 2] !== dst || this.fragmentKey[k + 3] !== key3) return NO_ENTRY
    if (((this.now - this.fragmentTime[slot]!) | 0) > FRAGMENT_TIMEOUT) return NO_ENTRY
    return this.fragmentFlow[slot]!
  }

  /**
   * A non-first fragment toward a VIP: the flow its first fragment created,
   * or — for destination NAT, where no port is needed — the backend the
   * 3-tuple picks, which is the one the first fragment gets too.
   */
  private laterFragmentToVip(buf: Uint8Array, eth: number, ip: number, total: number, vsid: number, protocol: number, src: number, dst: number): number {
    const snap = this.snap!
    const ihl = (buf[ip]! & 0x0f) << 2
    const fromSide = vsid === 0 ? Side.EXTERNAL : Side.PROVIDER
    const flow = this.recallFragment(vsid, false, protocol, src, dst, readU16(buf, ip + 4))
    const flows = this.flowTable!
    // The slot may have been reused since, by another flow (of another tenant: CAs overlap): the whole key must match.
    if (flow !== NO_ENTRY && flows.src(flow) === src && flows.dst(flow) === dst && flows.keyProto(flow) === ((vsid << 8) | protocol) && this.isTracked(flow) && this.isUsable(flow)) {
      return this.toBackend(buf, eth, ip, ihl, total, flow, false, fromSide)
    }
    const ruleId = keyTableGet(snap.rulesByAddress, dst, vsid, protocol)
    if (ruleId < 0) return this.drop(ruleId === -1 ? (vsid === 0 ? DropReason.NOT_FOR_US : DropReason.NO_VIP_RULE) : DropReason.FRAGMENT_NO_STATE)
    const rule = snap.ruleList[ruleId]!
    if (rule.natMode === NAT_FULLNAT) return this.drop(DropReason.FRAGMENT_NO_STATE)
    const backend = rule.table[(hash3(src, dst, protocol) >>> 0) % rule.table.length]!
    if (backend < 0) return this.drop(DropReason.NO_BACKEND)
    if (total + ENCAP_OVERHEAD > snap.providerMtu && (readU16(buf, ip + 6) & IPV4_FLAG_DF) !== 0) {
      return this.packetTooBig(buf, eth, ip, ihl, total, vsid, fromSide)
    }
    this.rewriteDestination(buf, ip, ihl, protocol, false, snap.backendAddress[backend]!, 0)
    this.counters.countRule(rule.id, total)
    this.counters.countBackend(backend, total)
    if (total + ENCAP_OVERHEAD > snap.providerMtu) {
      return this.fragmentAndEncapsulate(buf, ip, ihl, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, src)
    }
    return this.encapsulate(buf, ip, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, src)
  }

  /** The fragment table may name a flow removed since: only a slot its key still finds is that flow. */
  private isTracked(flow: number): boolean {
    const f = this.flowTable!
    const kp = f.keyProto(flow)
    return f.findForward(forwardHashOfKey(kp, f.src(flow), f.dst(flow), f.ports(flow)), kp, f.src(flow), f.dst(flow), f.ports(flow)) === flow
  }

  private laterFragmentReply(buf: Uint8Array, ip: number, total: number, domain: number, protocol: number, src: number, dst: number): number {
    const flow = this.recallFragment(domain, true, protocol, src, dst, readU16(buf, ip + 4))
    const flows = this.flowTable!
    // The slot may have been reused since, by another flow (of another tenant: CAs overlap): the reply must be this flow's.
    const snap = this.snap!
    if (flow === NO_ENTRY || !this.isTracked(flow) || snap.backendAddress[flows.backend(flow)] !== src || snap.backendDomain[flows.backend(flow)] !== domain || (flows.natPort(flow) !== 0 ? flows.dst(flow) : flows.src(flow)) !== dst || !this.isUsable(flow)) {
      return this.drop(DropReason.FRAGMENT_NO_STATE)
    }
    return this.toClient(buf, ip, (buf[ip]! & 0x0f) << 2, total, flow, false)
  }

  // ---------------------------------------------------------------- ICMP errors

  /**
   * An ICMP error from a client's side (the Internet, vsid 0, or a tenant VM)
   * quoting a packet nvlb sent to that client: translate it like the flow's
   * forward direction, quoted header included, and send it to the backend.
   */
  private icmpFromClient(buf: Uint8Array, ip: number, ihl: number, total: number, vsid: number): number {
    const icmp = ip + ihl
    const quoted = this.quotedHeader(buf, icmp, ip + total)
    if (quoted < 0) return this.drop(quoted === -2 ? DropReason.ICMP_UNSUPPORTED : DropReason.BAD_L4_HEADER)
    const { quotedIhl: qihl, quotedProtocol: protocol, quotedSrc: qsrc, quotedDst: qdst, quotedPortsSwapped: ports } = this
    // An error about a packet nvlb sent is addressed to that packet's source (the VIP).
    if (readI32(buf, ip + 16) !== qsrc) return this.drop(DropReason.ICMP_NO_FLOW)
    // An ICMP error may be cut (RFC 1812 4.3.2.3): keep what fits the provider MTU once encapsulated.
    if (total + ENCAP_OVERHEAD > this.snap!.providerMtu) {
      const cut = this.snap!.providerMtu - ENCAP_OVERHEAD
      writeU16(buf, ip + 10, checksumAdjust16(readU16(buf, ip + 10), total, cut))
      writeU16(buf, ip + 2, cut)
      total = cut
    }
    // The quoted packet went VIP → client; its flow's forward key is client → VIP.
    const keyProto = (vsid << 8) | protocol
    const fk = forwardKeyHash(hash5(qdst, qsrc, ports, protocol), keyProto)
    const flows = this.flowTable!
    const flow = flows.findForward(fk, keyProto, qdst, qsrc, ports)
    if (flow === NO_ENTRY || !this.isUsable(flow)) return this.drop(DropReason.ICMP_NO_FLOW)
    const snap = this.snap!
    const backend = flows.backend(flow)
    const dip = snap.backendAddress[backend]!
    const natPort = flows.natPort(flow)
    // Quoted: VIP:fport → client:cport becomes DIP:bport → (VIP:natPort | client:cport).
    this.rewriteQuoted(buf, quoted, qihl, protocol, 12, dip, 0, snap.backendPort[backend]!)
    if (natPort !== 0) this.rewriteQuoted(buf, quoted, qihl, protocol, 16, flows.dst(flow), 2, natPort)
    // Outer: → DIP (and from the VIP for full NAT, so the backend sees its peer).
    if (natPort !== 0) this.rewriteSource(buf, ip, ihl, IPPROTO_ICMP, false, flows.dst(flow), 0)
    this.rewriteDestination(buf, ip, ihl, IPPROTO_ICMP, false, dip, 0)
    writeU16(buf, icmp + 2, 0)
    writeU16(buf, icmp + 2, checksum(buf, icmp, total - ihl))
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(backend, total)
    return this.encapsulate(buf, ip, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, flows.src(flow))
  }

  /**
   * ICMP inside NVGRE: either from a tenant client about a reply nvlb sent it
   * (CA VIP), or from a backend's side about a packet nvlb sent to the
   * backend; the latter is translated like the flow's reply direction.
   */
  private icmpFromTenant(buf: Uint8Array, ip: number, ihl: number, total: number, vsid: number, domain: number): number {
    const icmp = ip + ihl
    const quoted = this.quotedHeader(buf, icmp, ip + total)
    if (quoted < 0) return this.drop(quoted === -2 ? DropReason.ICMP_UNSUPPORTED : DropReason.BAD_L4_HEADER)
    const { quotedIhl: qihl, quotedProtocol: protocol, quotedSrc: qsrc, quotedDst: qdst, quotedPortsSwapped: replyPorts } = this
    // Quoted packet was client/VIP → DIP; its reply 5-tuple is DIP → client/VIP.
    const flow = this.findReply(replyHash(protocol, qdst, qsrc, replyPorts), domain, protocol, qdst, qsrc, replyPorts)
    if (flow === NO_ENTRY) {
      const snap = this.snap!
      if (keyTableGet(snap.rulesByAddress, readI32(buf, ip + 16), vsid, protocol) !== -1) {
        return this.icmpFromClient(buf, ip, ihl, total, vsid)
      }
      return this.drop(DropReason.ICMP_NO_FLOW)
    }
    if (!this.isUsable(flow)) return this.drop(DropReason.ICMP_NO_FLOW)
    const snap = this.snap!
    const flows = this.flowTable!
    const vip = flows.dst(flow)
    const ports = flows.ports(flow)
    const client = flows.src(flow)
    const natPort = flows.natPort(flow)
    // Quoted: (client|VIP:natPort) → DIP:bport becomes client:cport → VIP:fport.
    this.rewriteQuoted(buf, quoted, qihl, protocol, 16, vip, 2, ports & 0xffff)
    if (natPort !== 0) this.rewriteQuoted(buf, quoted, qihl, protocol, 12, client, 0, ports >>> 16)
    // Outer: from the VIP (tenant addresses never leak to the client), to the client.
    this.rewriteSource(buf, ip, ihl, IPPROTO_ICMP, false, vip, 0)
    if (natPort !== 0) this.rewriteDestination(buf, ip, ihl, IPPROTO_ICMP, false, client, 0)
    writeU16(buf, icmp + 2, 0)
    writeU16(buf, icmp + 2, checksum(buf, icmp, total - ihl))
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(flows.backend(flow), total)
    const clientVsid = flows.keyProto(flow) >>> 8
    if (clientVsid === 0) return this.toExternal(buf, ip, total, this.clientMacBytes, flows.macIndex(flow) * 6)
    const record = keyTableGet(snap.lookup, clientVsid, client, 0)
    if (record < 0) return this.drop(DropReason.NO_LOOKUP_RECORD)
    return this.encapsulate(buf, ip, total, snap.lookupHost[record]!, clientVsid, snap.lookupMac, record * 6, client)
  }

  /**
   * Offset of the quoted IPv4 header of a translatable ICMP error (its fields
   * in quoted*), -1 when malformed, -2 when the message is not one nvlb translates.
   */
  private quotedHeader(buf: Uint8Array, icmp: number, end: number): number {
    if (icmp + ICMP_HLEN > end) return -1
    const type = buf[icmp]!
    if (type !== ICMP_TYPE_DEST_UNREACHABLE && type !== ICMP_TYPE_TIME_EXCEEDED) return -2
    const quoted = icmp + ICMP_HLEN
    if (quoted + IP_HLEN > end || buf[quoted]! >> 4 !== 4) return -1
    const qihl = (buf[quoted]! & 0x0f) << 2
    if (qihl < IP_HLEN || quoted + qihl + 8 > end) return -1
    const protocol = buf[quoted + 9]!
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return -2
    const qports = readI32(buf, quoted + qihl)
    this.quotedIhl = qihl
    this.quotedProtocol = protocol
    this.quotedSrc = readI32(buf, quoted + 12)
    this.quotedDst = readI32(buf, quoted + 16)
    this.quotedPortsSwapped = (qports << 16) | (qports >>> 16)
    return quoted
  }

  // The quoted header's fields, set by quotedHeader().
  private quotedIhl = 0
  private quotedProtocol = 0
  private quotedSrc = 0
  private quotedDst = 0
  /** The quoted ports the other way round: (dport << 16 | sport). */
  private quotedPortsSwapped = 0

  /** Rewrite an address (at ip+addressAt) and a port (at l4+portAt) of a quoted header, keeping its checksums right. */
  private rewriteQuoted(buf: Uint8Array, ip: number, ihl: number, protocol: number, addressAt: number, address: number, portAt: number, port: number): void {
    const old = readI32(buf, ip + addressAt)
    writeU32(buf, ip + addressAt, address)
    writeU16(buf, ip + 10, checksumAdjust32(readU16(buf, ip + 10), old, address))
    const l4 = ip + ihl
    const oldPort = readU16(buf, l4 + portAt)
    writeU16(buf, l4 + portAt, port)
    // Only the UDP checksum lies within the 8 quoted bytes.
    if (protocol === IPPROTO_UDP) this.adjustL4(this.viewOf(buf), l4, protocol, old, address, oldPort, port)
  }

  // ---------------------------------------------------------------- ARP

  private arp(buf: Uint8Array, eth: number, arp: number, end: number): number {
    if (arp + ARP_LEN > end) return this.drop(DropReason.TRUNCATED)
    if (readI32(buf, arp) !== 0x00010800 || readU16(buf, arp + 4) !== 0x0604) return this.drop(DropReason.ARP_IGNORED)
    const snap = this.snap!
    const op = readU16(buf, arp + 6)
    const senderIp = readI32(buf, arp + 14)
    const targetIp = readI32(buf, arp + 24)
    let side = -1
    if (targetIp === snap.providerAddress) side = Side.PROVIDER
    else if (snap.externalAddress !== 0 && targetIp === snap.externalAddress) side = Side.EXTERNAL
    else if (keyTableGet(snap.publicVips, targetIp, 0, 0) >= 0) side = Side.EXTERNAL
    if (senderIp !== 0 && (side >= 0 || keyTableGet(this.arpRequested, senderIp, 0, 0) >= 0)) this.learnNeighbor(senderIp, buf, arp + 8)
    if (op === ARP_OP_REPLY) return side >= 0 || keyTableGet(this.arpRequested, senderIp, 0, 0) >= 0 ? Verdict.CONSUMED : this.drop(DropReason.ARP_IGNORED)
    if (op !== ARP_OP_REQUEST || side < 0) return this.drop(DropReason.ARP_IGNORED)
    const ourMac = side === Side.PROVIDER ? snap.providerMac : snap.externalMac
    // Reply in place: Ethernet to the asker, ARP sender/target swapped.
    copyMac(buf, arp + 8, buf, eth)
    copyMac(ourMac, 0, buf, eth + 6)
    writeU16(buf, arp + 6, ARP_OP_REPLY)
    copyMac(buf, arp + 8, buf, arp + 18)
    writeU32(buf, arp + 24, senderIp)
    copyMac(ourMac, 0, buf, arp + 8)
    writeU32(buf, arp + 14, targetIp)
    return this.transmit(eth, end - eth, side)
  }

  /** Point neighborBytes/neighborOffset at the MAC of a provider address; ARP for it when unknown. */
  private resolveNeighbor(address: number): boolean {
    // The last answer stands until the next snapshot: entries are never removed, and a
    // learned MAC changes in place.
    if (address === this.resolvedAddress && this.resolvedValid) {
      this.neighborBytes = this.resolvedBytes
      this.neighborOffset = this.resolvedOffset
      return true
    }
    const snap = this.snap!
    const staticIndex = keyTableGet(snap.neighbors, address, 0, 0)
    if (staticIndex >= 0) {
      this.neighborBytes = snap.neighborMac
      this.neighborOffset = staticIndex * 6
      return this.rememberResolved(address)
    }
    const learned = keyTableGet(this.dynamicNeighbors, address, 0, 0)
    if (learned >= 0) {
      this.neighborBytes = this.dynamicMac
      this.neighborOffset = learned * 6
      return this.rememberResolved(address)
    }
    this.requestArp(address)
    return false
  }

  private rememberResolved(address: number): boolean {
    this.resolvedAddress = address
    this.resolvedBytes = this.neighborBytes
    this.resolvedOffset = this.neighborOffset
    this.resolvedValid = true
    return true
  }

  private learnNeighbor(address: number, mac: Uint8Array, macOff: number): void {
    let index = keyTableGet(this.dynamicNeighbors, address, 0, 0)
    if (index >= 0) {
      this.lastNeighbor = address
      this.lastNeighborIndex = index
      if (sameMac(mac, macOff, this.dynamicMac, index * 6)) return
    } else {
      if (this.dynamicCount >= DYNAMIC_NEIGHBORS) return
      index = this.dynamicCount
      if (!keyTableSet(this.dynamicNeighbors, address, 0, 0, index)) return
      this.dynamicCount++
      this.lastNeighbor = address
      this.lastNeighborIndex = index
    }
    copyMac(mac, macOff, this.dynamicMac, index * 6)
  }

  /** Broadcast an ARP request for a provider address, at most once a second per address. */
  private requestArp(address: number): void {
    let index = keyTableGet(this.arpRequested, address, 0, 0)
    if (index >= 0) {
      if (this.arpRequestedAt[index] === this.now) return
    } else {
      if (this.arpRequestedCount >= DYNAMIC_NEIGHBORS) return
      index = this.arpRequestedCount
      if (!keyTableSet(this.arpRequested, address, 0, 0, index)) return
      this.arpRequestedCount++
    }
    this.arpRequestedAt[index] = this.now
    const slot = this.extra.reserve()
    if (slot < 0) {
      this.drop(DropReason.TX_QUEUE_FULL)
      return
    }
    const snap = this.snap!
    const out = this.extra.buffer
    out.fill(0xff, slot, slot + 6)
    copyMac(snap.providerMac, 0, out, slot + 6)
    writeU16(out, slot + 12, ETHERTYPE_ARP)
    const arp = slot + ETH_HLEN
    writeU32(out, arp, 0x00010800)
    writeU16(out, arp + 4, 0x0604)
    writeU16(out, arp + 6, ARP_OP_REQUEST)
    copyMac(snap.providerMac, 0, out, arp + 8)
    writeU32(out, arp + 14, snap.providerAddress)
    out.fill(0, arp + 18, arp + 24)
    writeU32(out, arp + 24, address)
    this.commitExtra(ETH_HLEN + ARP_LEN, Side.PROVIDER)
  }

  private internClientMac(buf: Uint8Array, off: number): number {
    const high = readU16(buf, off)
    const low = readI32(buf, off + 2)
    const known = keyTableGet(this.clientMacs, high, low, 0)
    if (known >= 0) return known
    if (this.clientMacCount >= CLIENT_MACS) return 0
    const index = this.clientMacCount
    if (!keyTableSet(this.clientMacs, high, low, 0, index)) return 0
    this.clientMacCount++
    copyMac(buf, off, this.clientMacBytes, index * 6)
    return index
  }

  // ---------------------------------------------------------------- header checks

  /** -1 when the IPv4 header at `ip` is sound within `end`, else the drop reason. */
  private checkIPv4(buf: Uint8Array, ip: number, end: number): number {
    if (ip + IP_HLEN > end) return DropReason.TRUNCATED
    const versionIhl = buf[ip]!
    if (versionIhl >> 4 !== 4) return DropReason.BAD_IP_HEADER
    const ihl = (versionIhl & 0x0f) << 2
    const total = readU16(buf, ip + 2)
    if (ihl < IP_HLEN || total < ihl) return DropReason.BAD_IP_HEADER
    if (ip + total > end) return DropReason.TRUNCATED
    // RFC 1812 5.2.2: a header nvlb would forward with its checksum updated incrementally must be sound.
    if ((ihl === IP_HLEN ? headerSum20(buf, ip) : onesSum(buf, ip, ihl)) !== 0xffff) return DropReason.BAD_IP_CHECKSUM
    return -1
  }

  private hasL4Header(buf: Uint8Array, protocol: number, l4: number, end: number): boolean {
    if (protocol !== IPPROTO_TCP) return l4 + UDP_HLEN <= end
    if (l4 + TCP_HLEN > end) return false
    const dataOffset = (buf[l4 + 12]! >> 4) << 2
    return dataOffset >= TCP_HLEN && l4 + dataOffset <= end
  }
}

/** One's-complement sum of a 20-byte IPv4 header, unrolled. */
function headerSum20(buf: Uint8Array, ip: number): number {
  let sum =
    readU16(buf, ip) + readU16(buf, ip + 2) + readU16(buf, ip + 4) + readU16(buf, ip + 6) + readU16(buf, ip + 8) +
    readU16(buf, ip + 10) + readU16(buf, ip + 12) + readU16(buf, ip + 14) + readU16(buf, ip + 16) + readU16(buf, ip + 18)
  sum = (sum & 0xffff) + (sum >>> 16)
  return (sum & 0xffff) + (sum >>> 16)
}

function sameMac(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] && a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5]
}

function copyMac(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number): void {
  to[toOff] = from[fromOff]!
  to[toOff + 1] = from[fromOff + 1]!
  to[toOff + 2] = from[fromOff + 2]!
  to[toOff + 3] = from[fromOff + 3]!
  to[toOff + 4] = from[fromOff + 4]!
  to[toOff + 5] = from[fromOff + 5]!
}

function copyBytes(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number, length: number): void {
  if (from === to && toOff > fromOff) {
    for (let i = length - 1; i >= 0; i--) to[toOff + i] = from[fromOff + i]!
    return
  }
  for (let i = 0; i < length; i++) to[toOff + i] = from[fromOff + i]!
}

function writeIPv4Header(buf: Uint8Array, ip: number, total: number, id: number, ttl: number, protocol: number, src: number, dst: number): void {
  buf[ip] = 0x45
  buf[ip + 1] = 0
  writeU16(buf, ip + 2, total)
  writeU16(buf, ip + 4, id)
  writeU16(buf, ip + 6, 0)
  buf[ip + 8] = ttl
  buf[ip + 9] = protocol
  writeU16(buf, ip + 10, 0)
  writeU32(buf, ip + 12, src)
  writeU32(buf, ip + 16, dst)
  writeU16(buf, ip + 10, checksum(buf, ip, IP_HLEN))
}
