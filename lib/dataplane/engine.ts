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
import { readI32, readU16, writeU16 } from '../packet/bytes'
import { checksumAdjust16 } from '../packet/checksum'
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_TEB, ETHERTYPE_VLAN, VLAN_TAG_LENGTH } from '../packet/ethernet'
import { IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAGMENT_OFFSET_MASK, IPV4_HEADER_LENGTH } from '../packet/ipv4'
import { GRE_FLAGS_CHECKSUM, GRE_FLAGS_KEY, GRE_FLAGS_SEQUENCE, NVGRE_ENCAP_HEADERS, NVGRE_ENCAP_OVERHEAD, NVGRE_FLAGS_VERSION, NVGRE_HEADER_LENGTH, VSID_MAX, VSID_MIN } from '../packet/nvgre'
import { TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN } from '../packet/tcp'
import { ICMP_CODE_PORT_UNREACHABLE, ICMP_CODE_PROTOCOL_UNREACHABLE, ICMP_OFF_CODE, ICMP_OFF_TYPE, ICMP_TYPE_DEST_UNREACHABLE } from '../packet/icmp'
import { ARP_LENGTHS_ETHERNET_IPV4, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PACKET_LENGTH, ARP_WORD_ETHERNET_IPV4 } from '../packet/arp'
import { Counters, DROPS_BASE, G_ACTIVE_FLOWS, G_FLOWS_EVICTED, G_FLOWS_EVICTED_HALF_OPEN, G_FLOWS_EXPIRED, G_GENERATION, G_REPLIES_WITHOUT_FLOW, G_RX_BYTES, G_RX_PACKETS, G_SWEPT_EPOCH, G_TX_BYTES, G_TX_PACKETS } from './counters'
import { DropReason } from './drop-reasons'
import { FLOW_DATAGRAM, FLOW_NEW, FlowTable, NO_ENTRY } from './flow-table'
import { forwardHashOfKey, forwardKeyHash, hash2, hash3, hash5, replyHash } from './flow-hash'
import { hashMod } from '../hash/hash-mod'
import { KEY_TABLE_MISSING, keyTableGet } from './key-table'
import { dnatReplyBackend, dnatReplyRule } from './dnat-reply-index'
import { BACKEND_ABSENT, BACKEND_DISABLED, DIST_2_TUPLE, DIST_3_TUPLE, MAX_BACKEND_IDS, MAX_RULE_IDS, NAT_FULLNAT, RULE_SEVERAL, type CompiledRule, type Snapshot } from './snapshot'
import { TxQueue } from './tx-queue'
import { CLIENT_MAC_NONE, ClientMacs } from './client-macs'
import { DataViews } from './data-views'
import { FragmentTable } from './fragment-table'
import { idleTimeout, nextSeqWord, nextTcpState, rstInWindow, TCP_CLOSING_TIMEOUT, TCP_RESET_TIMEOUT, TCP_SYN_TIMEOUT } from './flow-state'
import { checkIPv4, HEADER_OK, hasL4Header } from './header-checks'
import { raiseInliningBudget } from './inlining-budget'
import { IdSweep } from './id-sweep'
import { IcmpRateLimit } from './icmp-rate-limit'
import { copyMac, isNoStationMac } from './mac'
import { NAT_PORT_TRIES, NatPorts } from './nat-ports'
import { clampMss, rewriteDestination, rewriteQuoted, rewriteSource } from './nat-rewrite'
import { ARP_FRAME_LENGTH, writeArpReply, writeArpRequest } from './arp-frames'
import { finishIcmp, QUOTE_UNSUPPORTED, QuotedHeader } from './icmp-translate'
import { NeighborTable } from './neighbor-table'
import { NvgreEncap } from './nvgre-encap'
import { fragmentRoom, writeFragment, writeFragmentationNeeded } from './path-mtu'
import { statsReport } from './stats'
import type { StatsReport } from './stats-report'

/** Bytes the engine may write in front of a received frame. */
export const HEADROOM = 64

export const Side = { PROVIDER: 0, EXTERNAL: 1 } as const
/** process()'s side when the provider and external sides share one interface (or it is not known). */
export const SIDE_ANY = -1
export const Verdict = { DROP: 0, TX: 1, CONSUMED: 2 } as const


const AGEING_PER_TICK = 256
/** log2 of the public VIP filter's bits. */
const PUBLIC_VIP_FILTER_BITS = 13
/** Prefetch kind of a hairpin request: walks the forward chain like kind 0. */
const KIND_HAIRPIN = 3
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

  private readonly neighbors = new NeighborTable()
  private readonly encap = new NvgreEncap()
  private readonly quoted = new QuotedHeader()
  private readonly clientMacs = new ClientMacs()
  /** Client-side MAC index of the latest new public flow: where a reply without a flow goes (0: none yet). */
  private lastClientMac = 0
  private readonly fragments = new FragmentTable()
  private readonly views = new DataViews()
  private readonly sweep = new IdSweep()
  private readonly icmpLimit = new IcmpRateLimit()

  /** Set by findReply() when a reply 5-tuple matched a flow of another routing domain. */
  private replyDomainMismatch = false

  /** nvlb's MACs as a 32-bit word and a 16-bit word each (set by adopt()). */
  private providerMacHi = 0
  private providerMacLo = 0
  private externalMacHi = 0
  private externalMacLo = 0
  /** The side of the frame being processed (SIDE_ANY when one interface carries both). */
  private rxSide = SIDE_ANY

  /** One-entry caches of fromProvider(); reset by adopt(). */
  private lastVsid = -1
  private lastDomain = -1

  private readonly natPorts: NatPorts
  /** One bit per hash of a public VIP address: a cheap "not a public VIP" in front of the hairpin check. */
  private readonly publicVipFilter = new Int32Array(1 << (PUBLIC_VIP_FILTER_BITS - 5))

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

  /** Per rule and backend id: the epoch of its current owner when this engine last saw it (counters restart on a change). */
  private readonly countedRuleSince = new Int32Array(MAX_RULE_IDS)
  private readonly countedBackendSince = new Int32Array(MAX_BACKEND_IDS)

  constructor(options: EngineOptions = {}) {
    raiseInliningBudget()
    this.counters = options.counters ?? new Counters()
    this.extra = new TxQueue(options.extraSlots ?? 256)
    this.maxFlows = options.maxFlows ?? 0
    this.natPorts = new NatPorts(options.workerCount ?? 1)
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
    this.providerMacHi = readI32(snapshot.providerMac, 0)
    this.providerMacLo = readU16(snapshot.providerMac, 4)
    // An unset external MAC (all zero) is never a frame's destination.
    const ext = snapshot.externalMac
    const extSet = (ext[0]! | ext[1]! | ext[2]! | ext[3]! | ext[4]! | ext[5]!) !== 0
    this.externalMacHi = extSet ? readI32(ext, 0) : this.providerMacHi
    this.externalMacLo = extSet ? readU16(ext, 4) : this.providerMacLo
    this.neighbors.reset()
    this.encap.adopt(snapshot)
    const filter = this.publicVipFilter
    filter.fill(0)
    for (const rule of snapshot.ruleList) {
      if (rule === null || rule.virtualSubnetId !== 0) continue
      const bit = Math.imul(rule.vipAddress, 0x9e3779b1) >>> (32 - PUBLIC_VIP_FILTER_BITS)
      filter[bit >>> 5]! |= 1 << (bit & 31)
    }
    this.hintCount = 0
    this.counters.values[G_GENERATION] = snapshot.generation
    this.restartReusedCounters(snapshot)
    this.sweep.adopted(snapshot.epoch, this.flowTable.count)
    this.counters.values[G_SWEPT_EPOCH] = this.sweep.swept
  }

  /** Rule and backend ids now owned by another rule or backend than when this engine counted them start from zero. */
  private restartReusedCounters(snapshot: Snapshot): void {
    const rules = snapshot.ruleSince
    const countedRules = this.countedRuleSince
    for (let id = 0; id < rules.length; id++) {
      const since = rules[id]!
      if (since === 0 || since === countedRules[id]) continue
      if (countedRules[id] !== 0) this.counters.resetRule(id)
      countedRules[id] = since
    }
    const backends = snapshot.backendSince
    const countedBackends = this.countedBackendSince
    for (let id = 0; id < backends.length; id++) {
      const since = backends[id]!
      if (since === 0 || since === countedBackends[id]) continue
      if (countedBackends[id] !== 0) this.counters.resetBackend(id)
      countedBackends[id] = since
    }
  }

  /** Coarse clock (seconds) and flow ageing; call once per batch. */
  tick(nowSeconds: number): void {
    this.now = Math.floor(nowSeconds) | 0
    this.neighbors.now = this.now
    this.hintCount = 0
    const flows = this.flowTable
    if (flows === null) return
    if (this.sweep.active) {
      this.sweep.step(flows, this.snap!)
      this.counters.values[G_SWEPT_EPOCH] = this.sweep.swept
    }
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
    // The passes over the bucket words and the records are kept to a few
    // instructions a frame: the misses in flight are those of the frames
    // whose instructions fit the processor's reorder window. Only a new flow's
    // SYN has a second chain to read (the reply chain it is checked against).
    let replies = 0
    for (let i = 0; i < n; i++) {
      this.lookupReplyKind = 2
      hashes[i] = this.lookupHashOf(buf, offsets[i]!, lengths[i]!)
      kinds[i] = this.lookupKind
      replyHashes[i] = this.lookupReplyHash
      replyKinds[i] = this.lookupReplyKind
      replies |= this.lookupReplyKind ^ 2
    }
    flows.headsOf(kinds, hashes, heads, n)
    if (replies !== 0) flows.headsOf(replyKinds, replyHashes, replyHeads, n)
    let sink = flows.touchRecords(heads, n)
    if (replies !== 0) sink ^= flows.touchRecords(replyHeads, n)
    this.prefetchSink = sink
  }

  /**
   * The hash of the chain this frame's flow lookup walks; sets lookupKind to
   * which chain (FlowTable.headsOf: 0 forward, 1 reply, 2 none).
   */
  private lookupHashOf(buf: Uint8Array, off: number, len: number): number {
    const snap = this.snap!
    const end = off + len
    let ip = off + ETHERNET_HEADER_LENGTH
    this.lookupKind = 2
    if (end > buf.length || ip + IPV4_HEADER_LENGTH > end) return 0
    if (readU16(buf, off + 12) === ETHERTYPE_VLAN) ip += VLAN_TAG_LENGTH
    let protocol = buf[ip + 9]!
    let l4 = ip + ((buf[ip]! & 0x0f) << 2)
    if (protocol === IPPROTO_GRE && this.isOurProviderAddress(readI32(buf, ip + 16))) {
      const vsid = readI32(buf, l4 + 4) >>> 8
      ip = l4 + NVGRE_HEADER_LENGTH + ETHERNET_HEADER_LENGTH
      if (ip + IPV4_HEADER_LENGTH > end) return 0
      protocol = buf[ip + 9]!
      l4 = ip + ((buf[ip]! & 0x0f) << 2)
      if (l4 + 4 > end || (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP)) return 0
      const src = readI32(buf, ip + 12)
      const dst = readI32(buf, ip + 16)
      const ports = readI32(buf, l4)
      const only = keyTableGet(snap.rulesByAddress, dst, vsid, protocol)
      if (only !== KEY_TABLE_MISSING) {
        // A full-NAT reply comes to the VIP too, at a NAT port: when the VIP has one rule for the
        // protocol and this is not its port, the frame's flow is on the reply chain.
        if (only !== RULE_SEVERAL && snap.ruleList[only]!.frontendPort !== (ports & 0xffff)) {
          this.lookupKind = 1
          return replyHash(protocol, src, dst, ports)
        }
        this.lookupKind = 0
        return forwardKeyHash(hash5(src, dst, ports, protocol), (vsid << 8) | protocol)
      }
      if (this.isHairpinRequest(dst, protocol, ports)) {
        this.lookupKind = KIND_HAIRPIN
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
        const backend = rule.table[hashMod(h5, rule.table.length)]!
        if (backend >= 0) {
          this.lookupReplyKind = 1
          this.lookupReplyHash = replyHash(protocol, snap.backendAddress[backend]!, src, (snap.backendPort[backend]! << 16) | (ports >>> 16))
        }
      }
    }
    return forwardKeyHash(h5, protocol)
  }

  /**
   * Process one frame: buf[off, off + len), received on `side` (Side.PROVIDER
   * or Side.EXTERNAL when they are two interfaces, SIDE_ANY when one).
   */
  process(buf: Uint8Array, off: number, len: number, side: number = SIDE_ANY): number {
    this.rxSide = side
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
    if (len < ETHERNET_HEADER_LENGTH || off < 0 || off + len > buf.length) return this.drop(DropReason.TRUNCATED)
    // Every field read below lies inside a header whose bounds were checked first (so inside buf): a DataView read each.
    const v = this.views.of(buf)
    let ethertype = v.getUint16(off + 12)
    let l3 = off + ETHERNET_HEADER_LENGTH
    if (ethertype === ETHERTYPE_VLAN) {
      if (len < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) return this.drop(DropReason.TRUNCATED)
      ethertype = v.getUint16(off + 16)
      l3 += VLAN_TAG_LENGTH
      if (ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ) return this.drop(DropReason.VLAN_DOUBLE_TAGGED)
    } else if (ethertype === ETHERTYPE_QINQ) {
      return this.drop(DropReason.VLAN_DOUBLE_TAGGED)
    }
    const end = off + len
    // The sockets are promiscuous: only frames addressed to nvlb (and broadcast ARP) are ours.
    const macHi = v.getInt32(off)
    const macLo = v.getUint16(off + 4)
    const ours = (macHi === this.providerMacHi && macLo === this.providerMacLo) || (macHi === this.externalMacHi && macLo === this.externalMacLo)
    // A source MAC no station owns (zero, or the group bit set) would become a flow's client MAC or a host's neighbour entry.
    const sourceBad = isNoStationMac(buf, off + 6)
    if (ethertype === ETHERTYPE_ARP) {
      if (!ours && (macHi !== -1 || macLo !== 0xffff)) return this.drop(DropReason.NOT_OUR_MAC)
      if (sourceBad) return this.drop(DropReason.BAD_SOURCE_MAC)
      return this.arp(buf, off, l3, end)
    }
    if (!ours) return this.drop(DropReason.NOT_OUR_MAC)
    if (sourceBad) return this.drop(DropReason.BAD_SOURCE_MAC)
    if (ethertype !== ETHERTYPE_IPV4) return this.drop(DropReason.NOT_IPV4)
    const reason = checkIPv4(v, l3, end)
    if (reason !== HEADER_OK) return this.drop(reason)
    const ihl = (buf[l3]! & 0x0f) << 2
    const total = v.getUint16(l3 + 2)
    if (buf[l3 + 9] === IPPROTO_GRE && this.isOurProviderAddress(v.getInt32(l3 + 16))) {
      if (side === Side.EXTERNAL) return this.drop(DropReason.WRONG_INTERFACE)
      return this.fromProvider(buf, off, l3, ihl, total)
    }
    if (side === Side.PROVIDER) return this.drop(DropReason.WRONG_INTERFACE)
    return this.fromExternal(buf, off, l3, ihl, total)
  }

  // ---------------------------------------------------------------- external side

  private fromExternal(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number): number {
    const snap = this.snap!
    const v = this.views.of(buf)
    const protocol = buf[ip + 9]!
    const src = v.getInt32(ip + 12)
    const dst = v.getInt32(ip + 16)
    if (protocol === IPPROTO_ICMP) return this.icmpFromClient(buf, ip, ihl, total, 0)
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) {
      return this.drop(keyTableGet(snap.publicVips, dst, 0, 0) >= 0 ? DropReason.NO_VIP_RULE : DropReason.NOT_FOR_US)
    }
    const fragment = v.getUint16(ip + 6)
    if ((fragment & IPV4_FRAGMENT_OFFSET_MASK) !== 0) return this.laterFragmentToVip(buf, eth, ip, total, 0, protocol, src, dst)
    const l4 = ip + ihl
    if (!hasL4Header(buf, protocol, l4, ip + total)) return this.drop(DropReason.BAD_L4_HEADER)
    const ports = v.getInt32(l4)
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
      const macIndex = this.clientMacs.intern(buf, eth + 6)
      if (macIndex === CLIENT_MAC_NONE) return this.drop(DropReason.CLIENT_MACS_FULL)
      flow = this.newFlow(snap.ruleList[ruleId]!, protocol, protocol, src, dst, ports, h5, fk, firstFragment)
      if (flow === NO_ENTRY) return Verdict.DROP
      flows.setMacIndex(flow, macIndex)
      this.lastClientMac = macIndex
    }
    if (firstFragment) this.fragments.remember(0, false, protocol, src, dst, v.getUint16(ip + 4), flow, this.now)
    return this.toBackend(buf, eth, ip, ihl, total, flow, true, Side.EXTERNAL)
  }

  // ---------------------------------------------------------------- provider side

  private fromProvider(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number): number {
    const snap = this.snap!
    const v = this.views.of(buf)
    // Nothing larger than the provider MTU can arrive lawfully, and what nvlb makes of it would not fit either.
    if (total > snap.providerMtu) return this.drop(DropReason.PACKET_TOO_BIG)
    if ((v.getUint16(ip + 6) & (IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK)) !== 0) return this.drop(DropReason.OUTER_FRAGMENT)
    const end = ip + total
    const gre = ip + ihl
    if (gre + NVGRE_HEADER_LENGTH > end) return this.drop(DropReason.GRE_TRUNCATED)
    const flags = v.getUint16(gre)
    if ((flags & GRE_FLAGS_CHECKSUM) !== 0) return this.drop(DropReason.GRE_CHECKSUM_PRESENT)
    if ((flags & GRE_FLAGS_SEQUENCE) !== 0) return this.drop(DropReason.GRE_SEQUENCE_PRESENT)
    if ((flags & GRE_FLAGS_KEY) === 0) return this.drop(DropReason.GRE_KEY_ABSENT)
    if (flags !== NVGRE_FLAGS_VERSION) return this.drop(DropReason.GRE_BAD_VERSION)
    if (v.getUint16(gre + 2) !== ETHERTYPE_TEB) return this.drop(DropReason.GRE_BAD_PROTOCOL)
    const vsid = v.getInt32(gre + 4) >>> 8
    if (vsid < VSID_MIN || vsid > VSID_MAX) return this.drop(DropReason.VSID_OUT_OF_RANGE)
    const innerEth = gre + NVGRE_HEADER_LENGTH
    if (innerEth + ETHERNET_HEADER_LENGTH > end) return this.drop(DropReason.GRE_TRUNCATED)
    const innerType = v.getUint16(innerEth + 12)
    if (innerType === ETHERTYPE_VLAN || innerType === ETHERTYPE_QINQ) return this.drop(DropReason.INNER_TAGGED)
    if (innerType !== ETHERTYPE_IPV4) return this.drop(DropReason.INNER_NOT_IPV4)
    const iip = innerEth + ETHERNET_HEADER_LENGTH
    const reason = checkIPv4(v, iip, end)
    if (reason !== HEADER_OK) return this.drop(reason)
    // Frames of a batch mostly come from a few tenants and hosts: one-entry caches in front of the tables.
    let domain = this.lastDomain
    if (vsid !== this.lastVsid) {
      domain = keyTableGet(snap.domains, vsid, 0, 0)
      if (domain < 0) return this.drop(DropReason.UNKNOWN_VSID)
      this.lastVsid = vsid
      this.lastDomain = domain
    }
    const ihl2 = (buf[iip]! & 0x0f) << 2
    const total2 = v.getUint16(iip + 2)
    const protocol = buf[iip + 9]!
    const src = v.getInt32(iip + 12)
    const dst = v.getInt32(iip + 16)
    // Replies to health probes belong to the probe tunnel (lib/health), not to any tenant's counters.
    if (dst === snap.probeAddress && dst !== 0) return Verdict.CONSUMED
    // Tenant trust: the host that sent this (outer source PA) must be the one
    // the lookup records put the inner source CA on; a reply may instead come
    // from its flow's backend's host (checked once the flow is known).
    const outerSrc = v.getInt32(ip + 12)
    if (protocol === IPPROTO_ICMP) return this.icmpFromTenant(buf, eth, iip, ihl2, total2, vsid, domain, outerSrc)
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return this.drop(DropReason.NO_VIP_RULE)
    const fragment = v.getUint16(iip + 6)
    if ((fragment & IPV4_FRAGMENT_OFFSET_MASK) !== 0) {
      if (keyTableGet(snap.rulesByAddress, dst, vsid, protocol) !== KEY_TABLE_MISSING) {
        if (!this.sourceTrusted(vsid, src, outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
        return this.laterFragmentToVip(buf, eth, iip, total2, vsid, protocol, src, dst)
      }
      if (dst !== snap.externalAddress && keyTableGet(snap.rulesByAddress, dst, 0, protocol) !== KEY_TABLE_MISSING) {
        if (!this.sourceTrusted(vsid, src, outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
        return this.laterFragmentHairpin(buf, eth, iip, total2, vsid, protocol, src, dst)
      }
      return this.laterFragmentReply(buf, eth, iip, total2, vsid, domain, protocol, src, dst, outerSrc)
    }
    const l4 = iip + ihl2
    if (!hasL4Header(buf, protocol, l4, iip + total2)) return this.drop(DropReason.BAD_L4_HEADER)
    const ports = v.getInt32(l4)
    const firstFragment = (fragment & IPV4_FLAG_MF) !== 0
    const flows = this.flowTable!

    // A client inside a tenant talking to a CA VIP? (The small rule table says
    // whether dst is a VIP at all before the flow table is touched.)
    const hinted = this.hintKind
    if (hinted === 0 || (hinted === 2 && keyTableGet(snap.rulesByAddress, dst, vsid, protocol) !== KEY_TABLE_MISSING)) {
      if (!this.sourceTrusted(vsid, src, outerSrc, buf, eth)) {
        // Not the client's host: spoofed if it claims a rule's port; else
        // perhaps a full-NAT reply (to the VIP at a NAT port), checked below.
        if (keyTableGet(snap.rules, dst, vsid, (protocol << 16) | (ports & 0xffff)) >= 0) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
      } else {
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
          if (firstFragment) this.fragments.remember(vsid, false, protocol, src, dst, readU16(buf, iip + 4), flow, this.now)
          return this.toBackend(buf, eth, iip, ihl2, total2, flow, true, Side.PROVIDER)
        }
      }
    } else if (hinted === KIND_HAIRPIN || (hinted === 2 && this.isHairpinRequest(dst, protocol, ports))) {
      // Hairpin: a tenant VM using a public VIP is served like an
      // Internet client, its source translated to nvlb's external address.
      if (!this.sourceTrusted(vsid, src, outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
      const keyProto = (vsid << 8) | protocol
      const fk = hinted === KIND_HAIRPIN ? this.hintHash : forwardKeyHash(hash5(src, dst, ports, protocol), keyProto)
      const h5 = forwardKeyHash(fk, keyProto)
      let flow = flows.findForward(fk, keyProto, src, dst, ports)
      if (flow !== NO_ENTRY && !this.isUsable(flow)) flow = this.discard(flow, fk)
      if (flow === NO_ENTRY) {
        const ruleId = keyTableGet(snap.rules, dst, 0, (protocol << 16) | (ports & 0xffff))
        if (ruleId < 0) return this.drop(DropReason.NO_VIP_RULE)
        if (snap.externalAddress === 0) return this.drop(DropReason.HAIRPIN_UNAVAILABLE)
        flow = this.newFlow(snap.ruleList[ruleId]!, keyProto, protocol, src, dst, ports, h5, fk, firstFragment)
        if (flow === NO_ENTRY) return Verdict.DROP
      }
      if (firstFragment) this.fragments.remember(vsid, false, protocol, src, dst, readU16(buf, iip + 4), flow, this.now)
      return this.toBackend(buf, eth, iip, ihl2, total2, flow, true, Side.PROVIDER)
    }

    // A backend answering a flow.
    const flow = this.findReply(hinted === 1 ? this.hintHash : replyHash(protocol, src, dst, ports), domain, protocol, src, dst, ports)
    if (flow === NO_ENTRY) {
      if (this.replyDomainMismatch) return this.drop(DropReason.WRONG_ROUTING_DOMAIN)
      return this.dnatReplyWithoutFlow(buf, eth, iip, ihl2, total2, vsid, protocol, src, dst, ports, outerSrc)
    }
    if (!this.isUsable(flow)) {
      this.discard(flow, -1)
      return this.drop(DropReason.NO_FLOW)
    }
    if (!this.replyTrusted(flow, vsid, src, outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
    if (firstFragment) this.fragments.remember(domain, true, protocol, src, dst, readU16(buf, iip + 4), flow, this.now)
    return this.toClient(buf, iip, ihl2, total2, flow, true)
  }

  /**
   * A public dnat reply that found no flow (another instance carried the connection, or carried it
   * until it died): the VSID, source DIP and source port name the rule (dnat-reply-index.ts), so
   * the source becomes VIP:frontendPort and the reply leaves by the external side toward the
   * client-side next hop the latest new flow came from. Not for replies to a tenant address (a
   * lookup record: probes, hairpin owners), to a CA VIP or to this instance's external address.
   */
  private dnatReplyWithoutFlow(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number, vsid: number, protocol: number, src: number, dst: number, ports: number, outerSrc: number): number {
    const snap = this.snap!
    const value = keyTableGet(snap.dnatReplies, src, vsid, (protocol << 16) | (ports >>> 16))
    if (value < 0 || this.lastClientMac <= 0 || dst === snap.externalAddress) return this.drop(DropReason.NO_FLOW)
    if (keyTableGet(snap.lookup, vsid, dst, 0) >= 0 || keyTableGet(snap.rulesByAddress, dst, vsid, protocol) !== KEY_TABLE_MISSING) return this.drop(DropReason.NO_FLOW)
    const backend = dnatReplyBackend(value)
    const rule = snap.ruleList[dnatReplyRule(value)]!
    const state = snap.backendState[backend]!
    if (state === BACKEND_DISABLED || state === BACKEND_ABSENT || snap.backendDown[backend] === 1) return this.drop(DropReason.NO_FLOW)
    if (!this.sourceTrusted(vsid, src, outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
    rewriteSource(this.views.of(buf), ip, ihl, protocol, true, rule.vipAddress, rule.frontendPort)
    if (protocol === IPPROTO_TCP && snap.mssClamp) clampMss(buf, ip + ihl, ip + total, snap.clampedMss)
    this.counters.countRule(rule.id, total)
    this.counters.countBackend(backend, total)
    this.counters.values[G_REPLIES_WITHOUT_FLOW]++
    return this.toExternal(buf, ip, total, this.clientMacs.bytes, this.lastClientMac * 6)
  }

  /** NVGRE to this instance: its own PA, or the PA all instances share (node.sharedProviderAddress). */
  private isOurProviderAddress(address: number): boolean {
    const snap = this.snap!
    return address === snap.providerAddress || (address === snap.sharedProviderAddress && address !== 0)
  }

  /**
   * A reply (or an ICMP error about one) is trusted when it comes from the
   * host of the flow's backend, or from the host the lookup records give for
   * its source CA; learns the sender's MAC then.
   */
  private replyTrusted(flow: number, vsid: number, src: number, outerSrc: number, buf: Uint8Array, eth: number): boolean {
    if (this.snap!.backendHost[this.flowTable!.backend(flow)] !== outerSrc) return this.sourceTrusted(vsid, src, outerSrc, buf, eth)
    this.neighbors.seen(outerSrc, buf, eth + 6)
    return true
  }

  /**
   * NVGRE from `outerSrc` is trusted when the lookup records put the inner
   * source CA `src` of `vsid` on that host, or when it is a peer instance's
   * PA (snapshot.peerProviders); learns the sender's MAC then
   * (neighbours are learnt from hosts that proved who they are, never from
   * any outer header).
   */
  private sourceTrusted(vsid: number, src: number, outerSrc: number, buf: Uint8Array, eth: number): boolean {
    const snap = this.snap!
    const record = keyTableGet(snap.lookup, vsid, src, 0)
    if (record < 0 || snap.lookupHost[record] !== outerSrc || outerSrc === snap.providerAddress) {
      // Or a peer instance (never nvlb's own PA: the compiler leaves it out).
      const peers = snap.peerProviders
      if (peers.size === 0 || keyTableGet(peers, outerSrc, 0, 0) < 0) return false
    }
    this.neighbors.seen(outerSrc, buf, eth + 6)
    return true
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
    const backend = rule.table[hashMod(h, rule.table.length)]!
    if (backend < 0) return this.dropFlow(DropReason.NO_BACKEND)
    const dip = snap.backendAddress[backend]!
    const backendDomain = snap.backendDomain[backend]!
    const backendPort = snap.backendPort[backend]!
    let natPort = 0
    let replyDst = src
    let replyPorts = (backendPort << 16) | (ports >>> 16)
    // A hairpin flow (a tenant VM → a public VIP) is keyed in the VM's VSID, not the VIP's.
    const hairpin = keyProto >>> 8 !== rule.virtualSubnetId
    if (rule.natMode === NAT_FULLNAT || hairpin) {
      // Source NAT to the VIP (full NAT) or to nvlb's external address (hairpin).
      const natAddress = hairpin ? snap.externalAddress : dst
      const natVsid = hairpin ? 0 : rule.virtualSubnetId
      replyDst = natAddress
      for (let t = 0; t < NAT_PORT_TRIES; t++) {
        const candidate = this.natPorts.candidate(h, ports >>> 16, t)
        const candidatePorts = (backendPort << 16) | candidate
        if (keyTableGet(snap.rules, natAddress, natVsid, (protocol << 16) | candidate) >= 0) continue
        if (this.findReply(replyHash(protocol, dip, natAddress, candidatePorts), backendDomain, protocol, dip, natAddress, candidatePorts) === NO_ENTRY && !this.replyDomainMismatch) {
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
        const replyDst = natPort === 0 ? flows.src(i) : this.natAddressOf(i)
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

  /**
   * A tenant's packet to a public VIP's port (hairpin)? Replies to nvlb's
   * external address come from backends, never from a tenant client: they
   * go to the reply path even when that address is a public VIP too.
   */
  private isHairpinRequest(dst: number, protocol: number, ports: number): boolean {
    // Most NVGRE that gets here is a reply to an Internet client: one bit says "no public VIP" for nearly all.
    if (!this.maybePublicVip(dst)) return false
    const snap = this.snap!
    if (keyTableGet(snap.rulesByAddress, dst, 0, protocol) === KEY_TABLE_MISSING) return false
    return dst !== snap.externalAddress || keyTableGet(snap.rules, dst, 0, (protocol << 16) | (ports & 0xffff)) >= 0
  }

  /** False when `address` is surely no public VIP of the snapshot (the filter built by adopt()). */
  private maybePublicVip(address: number): boolean {
    const bit = Math.imul(address, 0x9e3779b1) >>> (32 - PUBLIC_VIP_FILTER_BITS)
    return (this.publicVipFilter[bit >>> 5]! & (1 << (bit & 31))) !== 0
  }

  /** The source address of a NAT flow's packets toward its backend: the VIP, or the external address for hairpin. */
  private natAddressOf(flow: number): number {
    const flows = this.flowTable!
    const dst = flows.dst(flow)
    // Only a flow keyed in a tenant's VSID toward a public VIP is a hairpin flow.
    if (flows.keyProto(flow) >>> 8 === 0 || !this.maybePublicVip(dst)) return dst
    const rule = this.snap!.ruleList[flows.rule(flow)]
    return rule !== null && rule !== undefined && rule.virtualSubnetId === 0 ? this.snap!.externalAddress : dst
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
    if (rule === null || rule === undefined || rule.poolId !== snap.backendPoolId[backend]) return false
    const nat = flows.natPort(flow) !== 0
    // A NAT port for full NAT and for hairpin (keyed in the VM's VSID, not the public VIP's 0).
    if ((rule.natMode === NAT_FULLNAT) !== nat && !(nat && flows.keyProto(flow) >>> 8 !== rule.virtualSubnetId)) return false
    return !this.isExpired(flow)
  }

  private isExpired(flow: number): boolean {
    const flows = this.flowTable!
    const rule = this.snap!.ruleList[flows.rule(flow)]
    return ((this.now - flows.lastSeen(flow)) | 0) > idleTimeout(flows.state(flow), rule === null || rule === undefined ? -1 : rule.idleTimeoutSeconds)
  }

  /** Remove an unusable flow; returns NO_ENTRY for the caller's "not found" path. */
  private discard(flow: number, forwardHash: number): number {
    const flows = this.flowTable!
    if (this.isExpired(flow)) this.counters.values[G_FLOWS_EXPIRED]++
    if (forwardHash >= 0) flows.removeWithHash(flow, forwardHash)
    else flows.remove(flow)
    return NO_ENTRY
  }

  /**
   * A TCP segment of a flow, from the client or from the backend, `payload`
   * bytes after its header: false for a RST outside the window (flow-state.ts),
   * which is dropped and changes nothing; else the flow's sequence word and
   * state follow the segment.
   */
  private trackTcp(flow: number, buf: Uint8Array, l4: number, payload: number, fromBackend: boolean): boolean {
    const flows = this.flowTable!
    const v = this.views.of(buf)
    const flags = v.getUint8(l4 + 13)
    const seq = v.getInt32(l4 + 4)
    const word = flows.seqWord(flow)
    if ((flags & TCP_FLAG_RST) !== 0 && !rstInWindow(word, fromBackend, seq)) return false
    // Stored only when it moves (every 128 KiB of a direction's sequence space): a store on every
    // segment would dirty the flow's cache line, and at a million flows write it back to memory each time.
    const next = nextSeqWord(word, fromBackend, flags, seq, v.getInt32(l4 + 8), payload)
    if (next !== word) flows.setSeqWord(flow, next)
    const state = flows.state(flow)
    const nextState = nextTcpState(state, flags)
    if (nextState !== state) flows.setState(flow, nextState)
    return true
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
    if (total + NVGRE_ENCAP_OVERHEAD > snap.providerMtu && (readU16(buf, ip + 6) & IPV4_FLAG_DF) !== 0) {
      return this.packetTooBig(buf, eth, ip, ihl, total, flows.keyProto(flow) >>> 8, fromSide)
    }
    const protocol = buf[ip + 9]!
    const l4 = ip + ihl
    if (l4Present && protocol === IPPROTO_TCP && !this.trackTcp(flow, buf, l4, total - ihl - ((buf[l4 + 12]! >> 4) << 2), false)) return this.drop(DropReason.RST_OUTSIDE_WINDOW)
    flows.touch(flow, this.now)
    const natPort = flows.natPort(flow)
    if (natPort !== 0) rewriteSource(this.views.of(buf), ip, ihl, protocol, l4Present, this.natAddressOf(flow), natPort)
    rewriteDestination(this.views.of(buf), ip, ihl, protocol, l4Present, snap.backendAddress[backend]!, snap.backendPort[backend]!)
    if (l4Present && protocol === IPPROTO_TCP && snap.mssClamp) clampMss(buf, l4, ip + total, snap.clampedMss)
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(backend, total)
    if (total + NVGRE_ENCAP_OVERHEAD > snap.providerMtu) {
      return this.fragmentAndEncapsulate(buf, ip, ihl, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, flows.flowHash(flow))
    }
    return this.encapsulate(buf, ip, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, flows.flowHash(flow))
  }

  /** Backend → client: the reverse translation, then out of the external side or NVGRE to the client's host. */
  private toClient(buf: Uint8Array, ip: number, ihl: number, total: number, flow: number, l4Present: boolean): number {
    const snap = this.snap!
    const flows = this.flowTable!
    const protocol = buf[ip + 9]!
    const l4 = ip + ihl
    if (l4Present && protocol === IPPROTO_TCP && !this.trackTcp(flow, buf, l4, total - ihl - ((buf[l4 + 12]! >> 4) << 2), true)) return this.drop(DropReason.RST_OUTSIDE_WINDOW)
    flows.touch(flow, this.now)
    const client = flows.src(flow)
    const ports = flows.ports(flow)
    rewriteSource(this.views.of(buf), ip, ihl, protocol, l4Present, flows.dst(flow), ports & 0xffff)
    if (flows.natPort(flow) !== 0) rewriteDestination(this.views.of(buf), ip, ihl, protocol, l4Present, client, ports >>> 16)
    if (l4Present && protocol === IPPROTO_TCP && snap.mssClamp) clampMss(buf, l4, ip + total, snap.clampedMss)
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(flows.backend(flow), total)
    const vsid = flows.keyProto(flow) >>> 8
    if (vsid === 0) return this.toExternal(buf, ip, total, this.clientMacs.bytes, flows.macIndex(flow) * 6)
    const record = keyTableGet(snap.lookup, vsid, client, 0)
    if (record < 0) return this.drop(DropReason.NO_LOOKUP_RECORD)
    return this.encapsulate(buf, ip, total, snap.lookupHost[record]!, vsid, snap.lookupMac, record * 6, flows.flowHash(flow))
  }

  /** Write outer Ethernet, outer IPv4, GRE and inner Ethernet in front of the IPv4 packet at `ip`. */
  private encapsulate(buf: Uint8Array, ip: number, total: number, host: number, vsid: number, vmMac: Uint8Array, vmMacOff: number, entropy: number): number {
    const start = ip - NVGRE_ENCAP_HEADERS
    if (start < 0) return this.drop(DropReason.NO_HEADROOM)
    if (!this.resolveNeighbor(host)) return this.drop(DropReason.NEIGHBOR_UNRESOLVED)
    const n = this.neighbors
    this.encap.write(this.views.of(buf), start, total, n.bytes, n.offset, host, vsid, vmMac, vmMacOff, entropy, readU16(buf, ip + 6) & IPV4_FLAG_DF)
    return this.transmit(start, total + NVGRE_ENCAP_HEADERS, Side.PROVIDER)
  }

  /** Plain IPv4 out of the external side, to a client-side MAC. */
  private toExternal(buf: Uint8Array, ip: number, total: number, mac: Uint8Array, macOff: number): number {
    const start = ip - ETHERNET_HEADER_LENGTH
    if (start < 0) return this.drop(DropReason.NO_HEADROOM)
    copyMac(mac, macOff, buf, start)
    copyMac(this.snap!.externalMac, 0, buf, start + 6)
    writeU16(buf, start + 12, ETHERTYPE_IPV4)
    return this.transmit(start, total + ETHERNET_HEADER_LENGTH, Side.EXTERNAL)
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
    if (!this.icmpLimit.allow(readI32(buf, ip + 12), this.now)) return this.drop(DropReason.ICMP_RATE_LIMITED)
    const q = this.extra
    const slot = q.reserve()
    if (slot < 0) return this.drop(DropReason.TX_QUEUE_FULL)
    const out = q.buffer
    const oip = slot + (fromSide === Side.EXTERNAL ? ETHERNET_HEADER_LENGTH : NVGRE_ENCAP_HEADERS)
    const sender = readI32(buf, ip + 12)
    const length = writeFragmentationNeeded(out, oip, buf, ip, ihl, total, this.encap.nextIpId(), snap.providerMtu)
    if (fromSide === Side.EXTERNAL) {
      copyMac(buf, eth + 6, out, slot)
      copyMac(snap.externalMac, 0, out, slot + 6)
      writeU16(out, slot + 12, ETHERTYPE_IPV4)
      return this.commitExtra(length + ETHERNET_HEADER_LENGTH, Side.EXTERNAL)
    }
    const record = keyTableGet(snap.lookup, vsid, sender, 0)
    if (record < 0) return this.drop(DropReason.NO_LOOKUP_RECORD)
    if (!this.resolveNeighbor(snap.lookupHost[record]!)) return this.drop(DropReason.NEIGHBOR_UNRESOLVED)
    const n = this.neighbors
    this.encap.write(this.views.of(out), slot, length, n.bytes, n.offset, snap.lookupHost[record]!, vsid, snap.lookupMac, record * 6, hash2(sender, readI32(buf, ip + 16)), 0)
    return this.commitExtra(length + NVGRE_ENCAP_HEADERS, Side.PROVIDER)
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
    const fragmentField = readU16(buf, ip + 6)
    const baseOffset = (fragmentField & IPV4_FRAGMENT_OFFSET_MASK) << 3
    const lastHasMore = (fragmentField & IPV4_FLAG_MF) !== 0
    const payload = total - ihl
    let done = 0
    const q = this.extra
    while (done < payload) {
      const headerLength = done === 0 ? ihl : IPV4_HEADER_LENGTH
      const room = fragmentRoom(snap.providerMtu, headerLength)
      const size = room < payload - done ? room : payload - done
      const more = done + size < payload || lastHasMore
      const slot = q.reserve()
      if (slot < 0) return this.drop(DropReason.TX_QUEUE_FULL)
      const out = q.buffer
      writeFragment(out, slot + NVGRE_ENCAP_HEADERS, buf, ip, ihl, headerLength, baseOffset, done, size, more)
      const n = this.neighbors
      this.encap.write(this.views.of(out), slot, headerLength + size, n.bytes, n.offset, host, vsid, vmMac, vmMacOff, entropy, 0)
      this.commitExtra(headerLength + size + NVGRE_ENCAP_HEADERS, Side.PROVIDER)
      done += size
    }
    return Verdict.CONSUMED
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
    const flow = this.fragments.recall(vsid, false, protocol, src, dst, readU16(buf, ip + 4), this.now)
    const flows = this.flowTable!
    // The slot may have been reused since, by another flow (of another tenant: CAs overlap): the whole key must match.
    if (flow !== NO_ENTRY && flows.src(flow) === src && flows.dst(flow) === dst && flows.keyProto(flow) === ((vsid << 8) | protocol) && this.isTracked(flow) && this.isUsable(flow)) {
      return this.toBackend(buf, eth, ip, ihl, total, flow, false, fromSide)
    }
    const ruleId = keyTableGet(snap.rulesByAddress, dst, vsid, protocol)
    if (ruleId === KEY_TABLE_MISSING) return this.drop(vsid === 0 ? DropReason.NOT_FOR_US : DropReason.NO_VIP_RULE)
    // With several rules only the first fragment's port tells which one.
    if (ruleId === RULE_SEVERAL) return this.drop(DropReason.FRAGMENT_NO_STATE)
    const rule = snap.ruleList[ruleId]!
    if (rule.natMode === NAT_FULLNAT) return this.drop(DropReason.FRAGMENT_NO_STATE)
    const h3 = hash3(src, dst, protocol)
    const backend = rule.table[hashMod(h3, rule.table.length)]!
    if (backend < 0) return this.drop(DropReason.NO_BACKEND)
    if (total + NVGRE_ENCAP_OVERHEAD > snap.providerMtu && (readU16(buf, ip + 6) & IPV4_FLAG_DF) !== 0) {
      return this.packetTooBig(buf, eth, ip, ihl, total, vsid, fromSide)
    }
    rewriteDestination(this.views.of(buf), ip, ihl, protocol, false, snap.backendAddress[backend]!, 0)
    this.counters.countRule(rule.id, total)
    this.counters.countBackend(backend, total)
    if (total + NVGRE_ENCAP_OVERHEAD > snap.providerMtu) {
      return this.fragmentAndEncapsulate(buf, ip, ihl, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, h3)
    }
    return this.encapsulate(buf, ip, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, h3)
  }

  private laterFragmentReply(buf: Uint8Array, eth: number, ip: number, total: number, vsid: number, domain: number, protocol: number, src: number, dst: number, outerSrc: number): number {
    const flow = this.fragments.recall(domain, true, protocol, src, dst, readU16(buf, ip + 4), this.now)
    const flows = this.flowTable!
    // The slot may have been reused since, by another flow (of another tenant: CAs overlap): the reply must be this flow's.
    const snap = this.snap!
    if (
      flow === NO_ENTRY ||
      !this.isTracked(flow) ||
      snap.backendAddress[flows.backend(flow)] !== src ||
      snap.backendDomain[flows.backend(flow)] !== domain ||
      (flows.natPort(flow) !== 0 ? flows.dst(flow) : flows.src(flow)) !== dst ||
      !this.isUsable(flow)
    ) {
      return this.drop(DropReason.FRAGMENT_NO_STATE)
    }
    if (!this.replyTrusted(flow, vsid, src, outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
    return this.toClient(buf, ip, (buf[ip]! & 0x0f) << 2, total, flow, false)
  }

  /** A non-first fragment from a tenant VM to a public VIP: source NAT needs the flow its first fragment made. */
  private laterFragmentHairpin(buf: Uint8Array, eth: number, ip: number, total: number, vsid: number, protocol: number, src: number, dst: number): number {
    const flow = this.fragments.recall(vsid, false, protocol, src, dst, readU16(buf, ip + 4), this.now)
    const flows = this.flowTable!
    if (flow === NO_ENTRY || flows.src(flow) !== src || flows.dst(flow) !== dst || flows.keyProto(flow) !== ((vsid << 8) | protocol) || !this.isTracked(flow) || !this.isUsable(flow)) {
      return this.drop(DropReason.FRAGMENT_NO_STATE)
    }
    return this.toBackend(buf, eth, ip, (buf[ip]! & 0x0f) << 2, total, flow, false, Side.PROVIDER)
  }

  /** The fragment table may name a flow removed since: only a slot its key still finds is that flow. */
  private isTracked(flow: number): boolean {
    const f = this.flowTable!
    const kp = f.keyProto(flow)
    return f.findForward(forwardHashOfKey(kp, f.src(flow), f.dst(flow), f.ports(flow)), kp, f.src(flow), f.dst(flow), f.ports(flow)) === flow
  }

  // ---------------------------------------------------------------- ICMP errors

  /**
   * An ICMP error from a client's side (the Internet, vsid 0, or a tenant VM)
   * quoting a packet nvlb sent to that client: translate it like the flow's
   * forward direction, quoted header included, and send it to the backend.
   */
  private icmpFromClient(buf: Uint8Array, ip: number, ihl: number, total: number, vsid: number): number {
    const icmp = ip + ihl
    const q = this.quoted
    const quoted = q.parse(buf, icmp, ip + total)
    if (quoted < 0) return this.drop(quoted === QUOTE_UNSUPPORTED ? DropReason.ICMP_UNSUPPORTED : DropReason.BAD_L4_HEADER)
    const qihl = q.ihl
    const protocol = q.protocol
    const qsrc = q.src
    const qdst = q.dst
    const ports = q.portsSwapped
    // An error about a packet nvlb sent is addressed to that packet's source (the VIP).
    if (readI32(buf, ip + 16) !== qsrc) return this.drop(DropReason.ICMP_NO_FLOW)
    // An ICMP error may be cut (RFC 1812 4.3.2.3): keep what fits the provider MTU once encapsulated.
    if (total + NVGRE_ENCAP_OVERHEAD > this.snap!.providerMtu) {
      const cut = this.snap!.providerMtu - NVGRE_ENCAP_OVERHEAD
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
    if (this.forgedUnreachable(buf, ip, icmp, qdst)) return this.drop(DropReason.ICMP_FORGED)
    const snap = this.snap!
    const backend = flows.backend(flow)
    const dip = snap.backendAddress[backend]!
    const natPort = flows.natPort(flow)
    // Quoted: VIP:fport → client:cport becomes DIP:bport → (VIP:natPort | client:cport).
    rewriteQuoted(buf, this.views.of(buf), quoted, qihl, protocol, 12, dip, 0, snap.backendPort[backend]!)
    if (natPort !== 0) rewriteQuoted(buf, this.views.of(buf), quoted, qihl, protocol, 16, this.natAddressOf(flow), 2, natPort)
    // Outer: → DIP (and from the NAT address for full NAT and hairpin, so the backend sees its peer).
    if (natPort !== 0) rewriteSource(this.views.of(buf), ip, ihl, IPPROTO_ICMP, false, this.natAddressOf(flow), 0)
    rewriteDestination(this.views.of(buf), ip, ihl, IPPROTO_ICMP, false, dip, 0)
    finishIcmp(buf, icmp, total - ihl)
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(backend, total)
    return this.encapsulate(buf, ip, total, snap.backendHost[backend]!, snap.backendVsid[backend]!, snap.backendMac, backend * 6, flows.flowHash(flow))
  }

  /**
   * ICMP inside NVGRE: either from a tenant client about a reply nvlb sent it
   * (CA VIP), or from a backend's side about a packet nvlb sent to the
   * backend; the latter is translated like the flow's reply direction.
   */
  private icmpFromTenant(buf: Uint8Array, eth: number, ip: number, ihl: number, total: number, vsid: number, domain: number, outerSrc: number): number {
    const icmp = ip + ihl
    const q = this.quoted
    const quoted = q.parse(buf, icmp, ip + total)
    if (quoted < 0) return this.drop(quoted === QUOTE_UNSUPPORTED ? DropReason.ICMP_UNSUPPORTED : DropReason.BAD_L4_HEADER)
    const qihl = q.ihl
    const protocol = q.protocol
    const qsrc = q.src
    const qdst = q.dst
    const replyPorts = q.portsSwapped
    // Quoted packet was client/VIP → DIP; its reply 5-tuple is DIP → client/VIP.
    const flow = this.findReply(replyHash(protocol, qdst, qsrc, replyPorts), domain, protocol, qdst, qsrc, replyPorts)
    if (flow === NO_ENTRY) {
      const snap = this.snap!
      const to = readI32(buf, ip + 16)
      if (keyTableGet(snap.rulesByAddress, to, vsid, protocol) !== KEY_TABLE_MISSING || keyTableGet(snap.rulesByAddress, to, 0, protocol) !== KEY_TABLE_MISSING) {
        if (!this.sourceTrusted(vsid, readI32(buf, ip + 12), outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
        return this.icmpFromClient(buf, ip, ihl, total, vsid)
      }
      return this.drop(DropReason.ICMP_NO_FLOW)
    }
    if (!this.isUsable(flow)) return this.drop(DropReason.ICMP_NO_FLOW)
    if (!this.replyTrusted(flow, vsid, readI32(buf, ip + 12), outerSrc, buf, eth)) return this.drop(DropReason.SPOOFED_PROVIDER_ADDRESS)
    if (this.forgedUnreachable(buf, ip, icmp, qdst)) return this.drop(DropReason.ICMP_FORGED)
    const snap = this.snap!
    const flows = this.flowTable!
    const vip = flows.dst(flow)
    const ports = flows.ports(flow)
    const client = flows.src(flow)
    const natPort = flows.natPort(flow)
    // Quoted: (client|VIP:natPort) → DIP:bport becomes client:cport → VIP:fport.
    rewriteQuoted(buf, this.views.of(buf), quoted, qihl, protocol, 16, vip, 2, ports & 0xffff)
    if (natPort !== 0) rewriteQuoted(buf, this.views.of(buf), quoted, qihl, protocol, 12, client, 0, ports >>> 16)
    // Outer: from the VIP (tenant addresses never leak to the client), to the client.
    rewriteSource(this.views.of(buf), ip, ihl, IPPROTO_ICMP, false, vip, 0)
    if (natPort !== 0) rewriteDestination(this.views.of(buf), ip, ihl, IPPROTO_ICMP, false, client, 0)
    finishIcmp(buf, icmp, total - ihl)
    this.counters.countRule(flows.rule(flow), total)
    this.counters.countBackend(flows.backend(flow), total)
    const clientVsid = flows.keyProto(flow) >>> 8
    if (clientVsid === 0) return this.toExternal(buf, ip, total, this.clientMacs.bytes, flows.macIndex(flow) * 6)
    const record = keyTableGet(snap.lookup, clientVsid, client, 0)
    if (record < 0) return this.drop(DropReason.NO_LOOKUP_RECORD)
    return this.encapsulate(buf, ip, total, snap.lookupHost[record]!, clientVsid, snap.lookupMac, record * 6, flows.flowHash(flow))
  }

  /**
   * Port and protocol unreachable are sent by the host the quoted packet was
   * addressed to, nobody else: one from another source for that flow is forged.
   */
  private forgedUnreachable(buf: Uint8Array, ip: number, icmp: number, quotedDst: number): boolean {
    if (buf[icmp + ICMP_OFF_TYPE] !== ICMP_TYPE_DEST_UNREACHABLE) return false
    const code = buf[icmp + ICMP_OFF_CODE]
    if (code !== ICMP_CODE_PORT_UNREACHABLE && code !== ICMP_CODE_PROTOCOL_UNREACHABLE) return false
    return readI32(buf, ip + 12) !== quotedDst
  }

  // ---------------------------------------------------------------- ARP

  private arp(buf: Uint8Array, eth: number, arp: number, end: number): number {
    if (arp + ARP_PACKET_LENGTH > end) return this.drop(DropReason.TRUNCATED)
    if (readI32(buf, arp) !== ARP_WORD_ETHERNET_IPV4 || readU16(buf, arp + 4) !== ARP_LENGTHS_ETHERNET_IPV4) return this.drop(DropReason.ARP_IGNORED)
    // A reply goes to the sender's hardware address, and it may be learnt: a group or all-zero address is no host's.
    if (isNoStationMac(buf, arp + 8)) return this.drop(DropReason.ARP_IGNORED)
    const snap = this.snap!
    const op = readU16(buf, arp + 6)
    const senderIp = readI32(buf, arp + 14)
    const targetIp = readI32(buf, arp + 24)
    let side = -1
    if (targetIp === snap.providerAddress) side = Side.PROVIDER
    else if (snap.externalAddress !== 0 && targetIp === snap.externalAddress) side = Side.EXTERNAL
    else if (keyTableGet(snap.publicVips, targetIp, 0, 0) >= 0) side = Side.EXTERNAL
    // Each side's ARP only on its own interface (when the sides are two interfaces).
    const rx = this.rxSide
    if (rx !== SIDE_ANY && side >= 0 && side !== rx) return this.drop(DropReason.WRONG_INTERFACE)
    // nvlb asks only for provider addresses, on the provider side.
    const asked = side < 0 && rx !== Side.EXTERNAL && this.neighbors.isRequested(senderIp)
    // Nobody else speaks for nvlb's own addresses: such ARP (a gratuitous flood, say) changes nothing.
    if (senderIp === snap.providerAddress || (snap.externalAddress !== 0 && senderIp === snap.externalAddress) || keyTableGet(snap.publicVips, senderIp, 0, 0) >= 0) {
      return this.drop(DropReason.ARP_IGNORED)
    }
    // A static neighbour from the configuration is never overridden by ARP.
    if (senderIp !== 0 && (side >= 0 || asked) && keyTableGet(snap.neighbors, senderIp, 0, 0) < 0) this.neighbors.learn(senderIp, buf, arp + 8)
    if (op === ARP_OP_REPLY) return side >= 0 || asked ? Verdict.CONSUMED : this.drop(DropReason.ARP_IGNORED)
    if (op !== ARP_OP_REQUEST || side < 0) return this.drop(DropReason.ARP_IGNORED)
    const ourMac = side === Side.PROVIDER ? snap.providerMac : snap.externalMac
    writeArpReply(buf, eth, arp, ourMac, senderIp, targetIp)
    return this.transmit(eth, end - eth, side)
  }

  /** Point neighbors.bytes/offset at the MAC of a provider address; ARP for it when unknown. */
  private resolveNeighbor(address: number): boolean {
    if (this.neighbors.resolve(address, this.snap!)) return true
    this.requestArp(address)
    return false
  }

  /** Broadcast an ARP request for a provider address, at most once a second per address. */
  private requestArp(address: number): void {
    if (!this.neighbors.shouldRequest(address, this.now)) return
    const slot = this.extra.reserve()
    if (slot < 0) {
      this.drop(DropReason.TX_QUEUE_FULL)
      return
    }
    const snap = this.snap!
    writeArpRequest(this.extra.buffer, slot, snap.providerMac, snap.providerAddress, address)
    this.commitExtra(ARP_FRAME_LENGTH, Side.PROVIDER)
  }
}
