/**
 * Whole frames from a readable description, and back: for tests, examples, replay
 * captures and the host emulator. Not for the packet path (it allocates and may throw).
 *
 *   buildFrame({ eth: { src: '02:00:c0:a8:06:02', dst: '02:00:c0:a8:06:04' },
 *                ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
 *                nvgre: { vsid: 5001, flowId: 7, inner: { eth: {…}, ipv4: {…}, tcp: {…} } } })
 *
 * computes every length and checksum (each can be overridden to build broken packets).
 * parseFrame(buf) returns a tree with addresses as strings:
 *   parseFrame(buf)!.inner!.ipv4!.src === '10.1.6.21'
 * Every part that is absent is `null`; a part that fails to decode stops the walk and
 * sets `error` on the level where it failed.
 */
import { ErrorCodes, NvlbError } from '../errors'
import { formatIPv4, formatMac, parseIPv4, parseMac } from './address'
import { readU16, writeU16 } from './bytes'
import * as arp from './arp'
import * as ethernet from './ethernet'
import * as icmp from './icmp'
import * as ipv4 from './ipv4'
import * as nvgre from './nvgre'
import * as tcp from './tcp'
import * as udp from './udp'

export type MacInput = string | Uint8Array
export type Ipv4Input = string | number

export interface EthernetSpec {
  src: MacInput
  dst: MacInput
  /** 802.1Q VLAN id; untagged when absent. */
  vlan?: number
  pcp?: number
  /** Default: from the payload (IPv4 or ARP); required for a raw payload. */
  ethertype?: number
}

export interface Ipv4Spec {
  src: Ipv4Input
  dst: Ipv4Input
  ttl?: number
  id?: number
  df?: boolean
  mf?: boolean
  /** In units of 8 bytes, as on the wire. */
  fragmentOffset?: number
  /** The whole TOS byte (DSCP << 2 | ECN). */
  tos?: number
  /** Raw option bytes, padded to a multiple of 4 with zeros. */
  options?: Uint8Array
  /** Default: from tcp/udp/icmp/nvgre; required when only a raw payload follows. */
  protocol?: number
  /** Overrides, for broken packets. */
  totalLength?: number
  checksum?: number
}

export type TcpFlagName = 'fin' | 'syn' | 'rst' | 'psh' | 'ack' | 'urg' | 'ece' | 'cwr' | 'ns'

export interface TcpSpec {
  srcPort: number
  dstPort: number
  seq?: number
  ack?: number
  /**
   * TCP_FLAG_* bits, names (['syn', 'ack'] or 'syn,ack') or scapy-style letters ('SA',
   * 'PA', 'F', …: F S R P A U E C N); default ACK.
   */
  flags?: number | readonly TcpFlagName[] | string
  window?: number
  urgent?: number
  /** Adds an MSS option in front of `options`. */
  mss?: number
  options?: Uint8Array
  checksum?: number
}

export interface UdpSpec {
  srcPort: number
  dstPort: number
  /** Override of the length field. */
  length?: number
  /** Override; `false` sends no checksum (0). */
  checksum?: number | false
}

export interface IcmpSpec {
  type: number
  code?: number
  /** Echo identifier and sequence number. */
  id?: number
  seq?: number
  /** Fragmentation needed (type 3 code 4). */
  nextHopMtu?: number
  /** Raw rest-of-header word for other types. */
  rest?: number
  /** An IP packet to quote (error messages); the frame's `payload` must then be absent. */
  quote?: PacketSpec
  /** Bytes of the quoted packet to include; default all of it. */
  quoteLength?: number
  checksum?: number
}

export interface ArpSpec {
  op: 'request' | 'reply' | number
  senderMac: MacInput
  senderIp: Ipv4Input
  /** Default 00:00:00:00:00:00. */
  targetMac?: MacInput
  targetIp: Ipv4Input
}

export interface NvgreSpec {
  vsid: number
  flowId?: number
  inner: FrameSpec
  /** Overrides of the GRE words, for broken packets (the VSID is written as given, too). */
  flagsVersion?: number
  protocol?: number
}

/** An IPv4 packet without its Ethernet header. */
export interface PacketSpec {
  ipv4: Ipv4Spec
  tcp?: TcpSpec
  udp?: UdpSpec
  icmp?: IcmpSpec
  nvgre?: NvgreSpec
  payload?: Uint8Array | string
}

export interface FrameSpec {
  eth: EthernetSpec
  ipv4?: Ipv4Spec
  tcp?: TcpSpec
  udp?: UdpSpec
  icmp?: IcmpSpec
  arp?: ArpSpec
  nvgre?: NvgreSpec
  payload?: Uint8Array | string
}

// ---------------------------------------------------------------------------------------
// building

function specError(message: string): NvlbError {
  return new NvlbError(ErrorCodes.INVALID_FIELD, message)
}

function toMac(value: MacInput, what: string): Uint8Array {
  if (typeof value !== 'string') {
    if (value.length !== 6) throw new NvlbError(ErrorCodes.BAD_MAC, `${what}: a MAC has 6 bytes`)
    return Uint8Array.from(value)
  }
  const mac = parseMac(value)
  if (mac === null) throw new NvlbError(ErrorCodes.BAD_MAC, `${what}: '${value}' is not a MAC address`)
  return mac
}

function toIPv4(value: Ipv4Input, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new NvlbError(ErrorCodes.BAD_ADDRESS, `${what}: ${value} is not an IPv4 address`)
    }
    return value >>> 0
  }
  const address = parseIPv4(value)
  if (address < 0) throw new NvlbError(ErrorCodes.BAD_ADDRESS, `${what}: '${value}' is not an IPv4 address`)
  return address
}

function toBytes(payload: Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0)
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload)
}

const TCP_FLAG_BITS: Record<TcpFlagName, number> = {
  fin: tcp.TCP_FLAG_FIN,
  syn: tcp.TCP_FLAG_SYN,
  rst: tcp.TCP_FLAG_RST,
  psh: tcp.TCP_FLAG_PSH,
  ack: tcp.TCP_FLAG_ACK,
  urg: tcp.TCP_FLAG_URG,
  ece: tcp.TCP_FLAG_ECE,
  cwr: tcp.TCP_FLAG_CWR,
  ns: tcp.TCP_FLAG_NS,
}

const TCP_FLAG_LETTERS: Record<string, number> = {
  F: tcp.TCP_FLAG_FIN,
  S: tcp.TCP_FLAG_SYN,
  R: tcp.TCP_FLAG_RST,
  P: tcp.TCP_FLAG_PSH,
  A: tcp.TCP_FLAG_ACK,
  U: tcp.TCP_FLAG_URG,
  E: tcp.TCP_FLAG_ECE,
  C: tcp.TCP_FLAG_CWR,
  N: tcp.TCP_FLAG_NS,
}

function tcpFlagBits(flags: TcpSpec['flags']): number {
  if (flags === undefined) return tcp.TCP_FLAG_ACK
  if (typeof flags === 'number') return flags & tcp.TCP_FLAGS_MASK
  if (typeof flags === 'string') {
    if (/^[FSRPAUECN]+$/.test(flags)) {
      let bits = 0
      for (const letter of flags) bits |= TCP_FLAG_LETTERS[letter]!
      return bits
    }
    flags = flags.toLowerCase().split(/[\s,|+]+/).filter((name) => name !== '') as TcpFlagName[]
  }
  let bits = 0
  for (const name of flags as readonly TcpFlagName[]) {
    const bit = TCP_FLAG_BITS[name]
    if (bit === undefined) throw specError(`tcp.flags: unknown flag '${name}'`)
    bits |= bit
  }
  return bits
}

/** Names of the TCP flags set in `flags`, in wire order (fin first). */
export function tcpFlagNames(flags: number): TcpFlagName[] {
  const names: TcpFlagName[] = []
  for (const name of Object.keys(TCP_FLAG_BITS) as TcpFlagName[]) if ((flags & TCP_FLAG_BITS[name]) !== 0) names.push(name)
  return names
}

function checkOneTransport(spec: PacketSpec | FrameSpec, where: string): void {
  const present = (['tcp', 'udp', 'icmp', 'nvgre'] as const).filter((k) => spec[k] !== undefined)
  if (present.length > 1) throw specError(`${where}: only one of tcp, udp, icmp, nvgre may be given (got ${present.join(', ')})`)
}

function buildTcp(spec: TcpSpec, payload: Buffer, src: number, dst: number): Buffer {
  const header = tcp.createTcpHeader()
  const extra = spec.options === undefined ? 0 : spec.options.length
  const mssLength = spec.mss === undefined ? 0 : tcp.TCP_OPTION_MSS_LENGTH
  if (mssLength + extra > tcp.TCP_MAX_OPTIONS_LENGTH) throw specError('tcp.options: more than 40 bytes of options')
  if (spec.mss !== undefined) tcp.encodeMssOption(spec.mss, header.options, 0)
  if (spec.options !== undefined) header.options.set(spec.options, mssLength)
  header.optionsLength = mssLength + extra
  header.srcPort = spec.srcPort
  header.dstPort = spec.dstPort
  header.seq = (spec.seq ?? 0) >>> 0
  header.ack = (spec.ack ?? 0) >>> 0
  header.flags = tcpFlagBits(spec.flags)
  header.window = spec.window ?? 65535
  header.urgent = spec.urgent ?? 0
  const headerLength = tcp.encodingLength(header)
  const out = Buffer.alloc(headerLength + payload.length)
  tcp.encode(header, out, 0)
  payload.copy(out, headerLength)
  if (spec.checksum === undefined) tcp.writeTcpChecksum(out, 0, out.length, src, dst)
  else writeU16(out, tcp.TCP_OFF_CHECKSUM, spec.checksum)
  return out
}

function buildUdp(spec: UdpSpec, payload: Buffer, src: number, dst: number): Buffer {
  const out = Buffer.alloc(udp.UDP_HEADER_LENGTH + payload.length)
  if (out.length > 0xffff) throw specError('udp: datagram longer than 65535 bytes')
  const header = udp.createUdpHeader()
  header.srcPort = spec.srcPort
  header.dstPort = spec.dstPort
  header.length = out.length
  udp.encode(header, out, 0)
  payload.copy(out, udp.UDP_HEADER_LENGTH)
  if (spec.checksum === undefined) udp.writeUdpChecksum(out, 0, out.length, src, dst)
  else writeU16(out, udp.UDP_OFF_CHECKSUM, spec.checksum === false ? 0 : spec.checksum)
  if (spec.length !== undefined) writeU16(out, udp.UDP_OFF_LENGTH, spec.length)
  return out
}

function buildIcmp(spec: IcmpSpec, payload: Buffer): Buffer {
  let body = payload
  if (spec.quote !== undefined) {
    if (payload.length > 0) throw specError('icmp: give either quote or payload, not both')
    const quoted = buildPacket(spec.quote)
    body = spec.quoteLength === undefined ? quoted : quoted.subarray(0, spec.quoteLength)
  }
  const header = icmp.createIcmpHeader()
  header.type = spec.type
  header.code = spec.code ?? 0
  header.id = spec.id ?? 0
  header.seq = spec.seq ?? 0
  header.nextHopMtu = spec.nextHopMtu ?? 0
  header.rest = (spec.rest ?? 0) >>> 0
  const out = Buffer.alloc(icmp.ICMP_HEADER_LENGTH + body.length)
  icmp.encode(header, out, 0)
  body.copy(out, icmp.ICMP_HEADER_LENGTH)
  if (spec.checksum === undefined) icmp.writeIcmpChecksum(out, 0, out.length)
  else writeU16(out, icmp.ICMP_OFF_CHECKSUM, spec.checksum)
  return out
}

function buildGre(spec: NvgreSpec): Buffer {
  const inner = buildFrame(spec.inner)
  const out = Buffer.alloc(nvgre.NVGRE_HEADER_LENGTH + inner.length)
  writeU16(out, nvgre.NVGRE_OFF_FLAGS_VERSION, spec.flagsVersion ?? nvgre.NVGRE_FLAGS_VERSION)
  writeU16(out, nvgre.NVGRE_OFF_PROTOCOL, spec.protocol ?? nvgre.NVGRE_PROTOCOL)
  out.writeUInt32BE(nvgre.nvgreKey(spec.vsid, spec.flowId ?? 0), nvgre.NVGRE_OFF_KEY)
  inner.copy(out, nvgre.NVGRE_HEADER_LENGTH)
  return out
}

/** An IPv4 packet (no Ethernet header) with all lengths and checksums computed. */
export function buildPacket(spec: PacketSpec): Buffer {
  checkOneTransport(spec, 'packet')
  const ip = spec.ipv4
  const src = toIPv4(ip.src, 'ipv4.src')
  const dst = toIPv4(ip.dst, 'ipv4.dst')
  const payload = toBytes(spec.payload)
  let body: Buffer
  let protocol: number
  if (spec.tcp !== undefined) {
    body = buildTcp(spec.tcp, payload, src, dst)
    protocol = ipv4.IPPROTO_TCP
  } else if (spec.udp !== undefined) {
    body = buildUdp(spec.udp, payload, src, dst)
    protocol = ipv4.IPPROTO_UDP
  } else if (spec.icmp !== undefined) {
    body = buildIcmp(spec.icmp, payload)
    protocol = ipv4.IPPROTO_ICMP
  } else if (spec.nvgre !== undefined) {
    if (payload.length > 0) throw specError('nvgre: the payload belongs in nvgre.inner')
    body = buildGre(spec.nvgre)
    protocol = ipv4.IPPROTO_GRE
  } else {
    if (ip.protocol === undefined) throw specError('ipv4.protocol is required when no tcp, udp, icmp or nvgre is given')
    body = payload
    protocol = ip.protocol
  }
  const header = ipv4.createIpv4Header()
  if (ip.options !== undefined) {
    if (ip.options.length > ipv4.IPV4_MAX_OPTIONS_LENGTH) throw specError('ipv4.options: more than 40 bytes')
    header.options.set(ip.options)
    header.optionsLength = ip.options.length
  }
  const headerLength = ipv4.encodingLength(header)
  const totalLength = headerLength + body.length
  if (totalLength > ipv4.IPV4_MAX_TOTAL_LENGTH) throw specError(`ipv4: packet of ${totalLength} bytes exceeds 65535`)
  const tos = ip.tos ?? 0
  header.dscp = tos >>> 2
  header.ecn = tos & 3
  header.totalLength = totalLength
  header.id = ip.id ?? 0
  header.df = ip.df ?? false
  header.mf = ip.mf ?? false
  header.fragmentOffset = ip.fragmentOffset ?? 0
  header.ttl = ip.ttl ?? ipv4.IPV4_DEFAULT_TTL
  header.protocol = ip.protocol ?? protocol
  header.src = src
  header.dst = dst
  const out = Buffer.alloc(totalLength)
  ipv4.encode(header, out, 0)
  body.copy(out, headerLength)
  if (ip.totalLength !== undefined) {
    writeU16(out, ipv4.IPV4_OFF_TOTAL_LENGTH, ip.totalLength)
    ipv4.writeHeaderChecksum(out, 0, headerLength)
  }
  if (ip.checksum !== undefined) writeU16(out, ipv4.IPV4_OFF_CHECKSUM, ip.checksum)
  return out
}

function buildArp(spec: ArpSpec): Buffer {
  const packet = arp.createArpPacket()
  packet.op =
    spec.op === 'request' ? arp.ARP_OP_REQUEST : spec.op === 'reply' ? arp.ARP_OP_REPLY : (spec.op as number)
  packet.senderMac = toMac(spec.senderMac, 'arp.senderMac')
  packet.senderIp = toIPv4(spec.senderIp, 'arp.senderIp')
  packet.targetMac = spec.targetMac === undefined ? new Uint8Array(6) : toMac(spec.targetMac, 'arp.targetMac')
  packet.targetIp = toIPv4(spec.targetIp, 'arp.targetIp')
  const out = Buffer.alloc(arp.ARP_PACKET_LENGTH)
  arp.encode(packet, out, 0)
  return out
}

/** A whole Ethernet frame with all lengths and checksums computed. Throws NvlbError on a bad spec. */
export function buildFrame(spec: FrameSpec): Buffer {
  checkOneTransport(spec, 'frame')
  let body: Buffer
  let ethertype: number
  if (spec.arp !== undefined) {
    if (spec.ipv4 !== undefined) throw specError('frame: give either arp or ipv4, not both')
    body = Buffer.concat([buildArp(spec.arp), toBytes(spec.payload)])
    ethertype = ethernet.ETHERTYPE_ARP
  } else if (spec.ipv4 !== undefined) {
    body = buildPacket(spec as PacketSpec)
    ethertype = ethernet.ETHERTYPE_IPV4
  } else {
    if (spec.tcp || spec.udp || spec.icmp || spec.nvgre) throw specError('frame: tcp, udp, icmp and nvgre need ipv4')
    if (spec.eth.ethertype === undefined) throw specError('eth.ethertype is required for a raw payload')
    body = toBytes(spec.payload)
    ethertype = spec.eth.ethertype
  }
  const header = ethernet.createEthernetHeader()
  header.dst = toMac(spec.eth.dst, 'eth.dst')
  header.src = toMac(spec.eth.src, 'eth.src')
  if (spec.eth.vlan !== undefined) {
    if (!Number.isInteger(spec.eth.vlan) || spec.eth.vlan < 0 || spec.eth.vlan > ethernet.VLAN_ID_MAX) {
      throw specError(`eth.vlan: ${spec.eth.vlan} is not a VLAN id (0..4095)`)
    }
    header.vlan = spec.eth.vlan
    header.pcp = (spec.eth.pcp ?? 0) & ethernet.VLAN_PCP_MAX
  }
  header.ethertype = spec.eth.ethertype ?? ethertype
  const headerLength = ethernet.encodingLength(header)
  const out = Buffer.alloc(headerLength + body.length)
  ethernet.encode(header, out, 0)
  body.copy(out, headerLength)
  return out
}

// ---------------------------------------------------------------------------------------
// parsing

export interface ParsedEthernet {
  dst: string
  src: string
  /** The 802.1Q VLAN id, or null when untagged. */
  vlan: number | null
  pcp: number
  ethertype: number
  headerLength: number
}

export interface ParsedArp {
  op: number
  opName: 'request' | 'reply' | 'other'
  senderMac: string
  senderIp: string
  targetMac: string
  targetIp: string
}

export interface ParsedIpv4 {
  src: string
  dst: string
  ttl: number
  id: number
  df: boolean
  mf: boolean
  /** In units of 8 bytes. */
  fragmentOffset: number
  /** MF set or offset non-zero. */
  isFragment: boolean
  tos: number
  dscp: number
  ecn: number
  protocol: number
  headerLength: number
  totalLength: number
  checksum: number
  checksumValid: boolean
  options: Buffer
}

export interface ParsedGre {
  vsid: number
  flowId: number
  /** The whole 32-bit key (VSID << 8 | FlowID). */
  key: number
  flagsVersion: number
  protocol: number
}

export interface ParsedTcp {
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  flags: number
  flagNames: TcpFlagName[]
  window: number
  urgent: number
  headerLength: number
  checksum: number
  /** null when it cannot be checked (a fragment, or a truncated quote). */
  checksumValid: boolean | null
  /** The MSS option, or null. */
  mss: number | null
  options: Buffer
}

export interface ParsedUdp {
  srcPort: number
  dstPort: number
  length: number
  checksum: number
  /** true also when there is no checksum (0); null when it cannot be checked. */
  checksumValid: boolean | null
}

export interface ParsedIcmp {
  type: number
  code: number
  checksum: number
  /** null when it cannot be checked (a truncated quote). */
  checksumValid: boolean | null
  rest: number
  id: number
  seq: number
  nextHopMtu: number
  /** The datagram quoted by an error message (often truncated), or null. */
  quoted: ParsedPacket | null
}

/** An IPv4 packet and what it carries. */
export interface ParsedPacket {
  ipv4: ParsedIpv4
  gre: ParsedGre | null
  /** The frame inside NVGRE. */
  inner: ParsedFrame | null
  tcp: ParsedTcp | null
  udp: ParsedUdp | null
  icmp: ParsedIcmp | null
  /** The bytes after the last decoded header, up to the end of the IP packet. */
  payload: Buffer
  /** Quoted packets only: the quote ends before the IP total length. */
  truncated: boolean
  /** Why decoding stopped early, or null. */
  error: string | null
}

export interface ParsedFrame {
  eth: ParsedEthernet
  arp: ParsedArp | null
  ipv4: ParsedIpv4 | null
  gre: ParsedGre | null
  inner: ParsedFrame | null
  tcp: ParsedTcp | null
  udp: ParsedUdp | null
  icmp: ParsedIcmp | null
  /** The bytes after the last decoded header (IP: up to the IP total length); a view into the input. */
  payload: Buffer
  /** Why decoding stopped early, or null. */
  error: string | null
  /** The frame's length in bytes. */
  length: number
}

function emptyPacket(ipv4Header: ParsedIpv4, payload: Buffer): ParsedPacket {
  return { ipv4: ipv4Header, gre: null, inner: null, tcp: null, udp: null, icmp: null, payload, truncated: false, error: null }
}

function toParsedIpv4(h: ipv4.Ipv4Header): ParsedIpv4 {
  return {
    src: formatIPv4(h.src),
    dst: formatIPv4(h.dst),
    ttl: h.ttl,
    id: h.id,
    df: h.df,
    mf: h.mf,
    fragmentOffset: h.fragmentOffset,
    isFragment: ipv4.isFragment(h),
    tos: (h.dscp << 2) | h.ecn,
    dscp: h.dscp,
    ecn: h.ecn,
    protocol: h.protocol,
    headerLength: h.headerLength,
    totalLength: h.totalLength,
    checksum: h.checksum,
    checksumValid: h.checksumValid,
    options: Buffer.from(h.options.subarray(0, h.optionsLength)),
  }
}

/**
 * Parses the IPv4 packet at `off`. A quoted packet (inside an ICMP error) may end before
 * its total length: the missing bytes read as zero and checksums of what follows are null.
 */
export function parsePacket(buf: Uint8Array, off: number, quoted = false): ParsedPacket | null {
  if (off < 0 || off > buf.length) return null
  let view = Buffer.from(buf.buffer, buf.byteOffset + off, Math.max(0, buf.length - off))
  let truncated = false
  if (quoted && view.length >= 4) {
    const claimed = readU16(view, ipv4.IPV4_OFF_TOTAL_LENGTH)
    if (claimed > view.length) {
      // zero-fill the missing tail so the header codecs see a whole packet
      const whole = Buffer.alloc(claimed)
      view.copy(whole)
      view = whole
      truncated = true
    }
  }
  const available = truncated ? buf.length - off : view.length
  const h = ipv4.createIpv4Header()
  if (ipv4.decode(view, 0, h) < 0) return null
  const end = h.totalLength
  const packet = emptyPacket(toParsedIpv4(h), view.subarray(h.headerLength, Math.min(end, available)))
  packet.truncated = truncated
  if (ipv4.isFragment(h) && h.fragmentOffset !== 0) return packet
  const l4 = view.subarray(0, end)
  const l4Off = h.headerLength
  const l4Length = end - l4Off
  const checkable = !truncated && !ipv4.isFragment(h)
  if (h.protocol === ipv4.IPPROTO_TCP) {
    // a quote usually stops after 8 bytes of TCP: assume a bare header for the missing data offset
    if (truncated && available < l4Off + tcp.TCP_OFF_DATA_OFFSET + 1) view[l4Off + tcp.TCP_OFF_DATA_OFFSET] = 0x50
    const t = tcp.createTcpHeader()
    const n = tcp.decode(l4, l4Off, t)
    if (n < 0) return { ...packet, error: 'tcp: truncated or bad data offset' }
    packet.tcp = {
      srcPort: t.srcPort,
      dstPort: t.dstPort,
      seq: t.seq,
      ack: t.ack,
      flags: t.flags,
      flagNames: tcpFlagNames(t.flags),
      window: t.window,
      urgent: t.urgent,
      headerLength: t.headerLength,
      checksum: t.checksum,
      checksumValid: checkable ? tcp.verifyTcpChecksum(l4, l4Off, l4Length, h.src, h.dst) : null,
      mss: t.mss < 0 ? null : t.mss,
      options: Buffer.from(t.options.subarray(0, t.optionsLength)),
    }
    packet.payload = view.subarray(l4Off + n, Math.min(end, available))
  } else if (h.protocol === ipv4.IPPROTO_UDP) {
    const u = udp.createUdpHeader()
    const n = udp.decode(l4, l4Off, u)
    if (n < 0) return { ...packet, error: 'udp: truncated or bad length' }
    packet.udp = {
      srcPort: u.srcPort,
      dstPort: u.dstPort,
      length: u.length,
      checksum: u.checksum,
      checksumValid: checkable ? udp.verifyUdpChecksum(l4, l4Off, Math.min(u.length, l4Length), h.src, h.dst) : null,
    }
    packet.payload = view.subarray(l4Off + n, Math.min(end, available))
  } else if (h.protocol === ipv4.IPPROTO_ICMP) {
    const c = icmp.createIcmpHeader()
    const n = icmp.decode(l4, l4Off, c)
    if (n < 0) return { ...packet, error: 'icmp: truncated' }
    packet.icmp = {
      type: c.type,
      code: c.code,
      checksum: c.checksum,
      checksumValid: truncated ? null : icmp.verifyIcmpChecksum(l4, l4Off, l4Length),
      rest: c.rest,
      id: c.id,
      seq: c.seq,
      nextHopMtu: c.nextHopMtu,
      quoted: null,
    }
    packet.payload = view.subarray(l4Off + n, Math.min(end, available))
    if (c.quotedOffset >= 0 && !quoted) {
      packet.icmp.quoted = parsePacket(view.subarray(0, end), c.quotedOffset, true)
      if (packet.icmp.quoted === null) packet.error = 'icmp: quoted datagram is not IPv4'
    }
  } else if (h.protocol === ipv4.IPPROTO_GRE) {
    const g = nvgre.createNvgreHeader()
    const n = nvgre.decode(l4, l4Off, g)
    if (n < 0) return { ...packet, error: `gre: ${nvgre.nvgreErrorName(n)}` }
    packet.gre = {
      vsid: g.vsid,
      flowId: g.flowId,
      key: nvgre.nvgreKey(g.vsid, g.flowId),
      flagsVersion: readU16(l4, l4Off + nvgre.NVGRE_OFF_FLAGS_VERSION),
      protocol: readU16(l4, l4Off + nvgre.NVGRE_OFF_PROTOCOL),
    }
    const innerBytes = view.subarray(l4Off + n, end)
    packet.payload = innerBytes
    packet.inner = parseFrame(innerBytes)
    if (packet.inner === null) packet.error = 'nvgre: inner Ethernet header truncated or double-tagged'
    else if (packet.inner.eth.vlan !== null) packet.error = 'nvgre: inner frame is VLAN-tagged'
  }
  return packet
}

/**
 * The readable tree of a frame, or null when not even the Ethernet header decodes
 * (truncated or double-tagged). Non-first fragments: L4 is not decoded (payload = IP payload).
 */
export function parseFrame(buf: Uint8Array): ParsedFrame | null {
  const e = ethernet.createEthernetHeader()
  const n = ethernet.decode(buf, 0, e)
  if (n < 0) return null
  const frame: ParsedFrame = {
    eth: {
      dst: formatMac(e.dst),
      src: formatMac(e.src),
      vlan: e.vlan === ethernet.VLAN_NONE ? null : e.vlan,
      pcp: e.pcp,
      ethertype: e.ethertype,
      headerLength: n,
    },
    arp: null,
    ipv4: null,
    gre: null,
    inner: null,
    tcp: null,
    udp: null,
    icmp: null,
    payload: Buffer.from(buf.buffer, buf.byteOffset + n, buf.length - n),
    error: null,
    length: buf.length,
  }
  if (e.ethertype === ethernet.ETHERTYPE_ARP) {
    const a = arp.createArpPacket()
    if (arp.decode(buf, n, a) < 0) {
      frame.error = 'arp: truncated or not Ethernet/IPv4'
      return frame
    }
    frame.arp = {
      op: a.op,
      opName: a.op === arp.ARP_OP_REQUEST ? 'request' : a.op === arp.ARP_OP_REPLY ? 'reply' : 'other',
      senderMac: formatMac(a.senderMac),
      senderIp: formatIPv4(a.senderIp),
      targetMac: formatMac(a.targetMac),
      targetIp: formatIPv4(a.targetIp),
    }
    frame.payload = frame.payload.subarray(arp.ARP_PACKET_LENGTH)
  } else if (e.ethertype === ethernet.ETHERTYPE_IPV4) {
    const packet = parsePacket(buf, n)
    if (packet === null) {
      frame.error = 'ipv4: truncated or invalid header'
      return frame
    }
    frame.ipv4 = packet.ipv4
    frame.gre = packet.gre
    frame.inner = packet.inner
    frame.tcp = packet.tcp
    frame.udp = packet.udp
    frame.icmp = packet.icmp
    frame.payload = packet.payload
    frame.error = packet.error
  }
  return frame
}

// ---------------------------------------------------------------------------------------
// fragments

/** Options that RFC 791 says go into every fragment: those with the "copied" bit. */
function copiedOptions(options: Uint8Array): Buffer {
  const kept: number[] = []
  let p = 0
  while (p < options.length) {
    const type = options[p]!
    if (type === ipv4.IPV4_OPTION_EOL) break
    if (type === ipv4.IPV4_OPTION_NOP) {
      p++
      continue
    }
    const length = options[p + 1] ?? 0
    if (length < 2 || p + length > options.length) break
    if ((type & 0x80) !== 0) kept.push(...options.subarray(p, p + length))
    p += length
  }
  return Buffer.from(kept)
}

/**
 * Splits the IPv4 packet of an Ethernet frame into fragments whose IP packets are at most
 * `mtu` bytes (data in multiples of 8 bytes), each with the original Ethernet header. A
 * packet that fits comes back alone, unchanged. DF is not looked at: that is the caller's
 * decision. Throws NvlbError when the frame is not IPv4 or the MTU leaves no room for data.
 */
export function fragmentFrame(frame: Uint8Array, mtu: number): Buffer[] {
  const e = ethernet.createEthernetHeader()
  const l2 = ethernet.decode(frame, 0, e)
  const h = ipv4.createIpv4Header()
  if (l2 < 0 || e.ethertype !== ethernet.ETHERTYPE_IPV4 || ipv4.decode(frame, l2, h) < 0) {
    throw specError('fragmentFrame: not an Ethernet frame with a valid IPv4 packet')
  }
  if (h.totalLength <= mtu) return [Buffer.from(frame.subarray(0, l2 + h.totalLength))]
  const data = frame.subarray(l2 + h.headerLength, l2 + h.totalLength)
  const laterOptions = copiedOptions(h.options.subarray(0, h.optionsLength))
  const fragments: Buffer[] = []
  let done = 0
  while (done < data.length) {
    const options = done === 0 ? h.options.subarray(0, h.optionsLength) : laterOptions
    const headerLength = ipv4.IPV4_HEADER_LENGTH + ((options.length + 3) & ~3)
    const room = Math.floor((mtu - headerLength) / ipv4.IPV4_FRAGMENT_UNIT) * ipv4.IPV4_FRAGMENT_UNIT
    if (room <= 0) throw specError(`fragmentFrame: MTU ${mtu} leaves no room for data`)
    const size = Math.min(room, data.length - done)
    const last = done + size === data.length
    const header: ipv4.Ipv4Header = {
      ...h,
      options: new Uint8Array(ipv4.IPV4_MAX_OPTIONS_LENGTH),
      optionsLength: options.length,
      totalLength: headerLength + size,
      mf: h.mf || !last,
      fragmentOffset: h.fragmentOffset + done / ipv4.IPV4_FRAGMENT_UNIT,
    }
    header.options.set(options)
    const out = Buffer.alloc(l2 + headerLength + size)
    out.set(frame.subarray(0, l2))
    ipv4.encode(header, out, l2)
    out.set(data.subarray(done, done + size), l2 + headerLength)
    fragments.push(out)
    done += size
  }
  return fragments
}

/**
 * Puts fragments (Ethernet frames of one datagram, any order) back together into one
 * frame with the first fragment's Ethernet and IP headers, or returns null when a part
 * is missing, they disagree on the datagram, or they overlap inconsistently.
 */
export function reassembleFrames(frames: readonly Uint8Array[]): Buffer | null {
  const parts: Array<{ l2: Uint8Array; header: Uint8Array; offset: number; data: Uint8Array; mf: boolean; key: string }> = []
  for (const frame of frames) {
    const e = ethernet.createEthernetHeader()
    const l2 = ethernet.decode(frame, 0, e)
    const h = ipv4.createIpv4Header()
    if (l2 < 0 || e.ethertype !== ethernet.ETHERTYPE_IPV4 || ipv4.decode(frame, l2, h) < 0) return null
    parts.push({
      l2: frame.subarray(0, l2),
      header: frame.subarray(l2, l2 + h.headerLength),
      offset: h.fragmentOffset * ipv4.IPV4_FRAGMENT_UNIT,
      data: frame.subarray(l2 + h.headerLength, l2 + h.totalLength),
      mf: h.mf,
      key: `${h.src}/${h.dst}/${h.protocol}/${h.id}`,
    })
  }
  if (parts.length === 0 || parts.some((p) => p.key !== parts[0]!.key)) return null
  parts.sort((a, b) => a.offset - b.offset)
  const first = parts[0]!
  const lastPart = parts[parts.length - 1]!
  if (first.offset !== 0 || lastPart.mf) return null
  const length = lastPart.offset + lastPart.data.length
  const data = Buffer.alloc(length)
  let covered = 0
  for (const part of parts) {
    if (part.offset > covered) return null
    const overlap = covered - part.offset
    if (overlap > 0 && !Buffer.from(data.subarray(part.offset, covered)).equals(Buffer.from(part.data.subarray(0, overlap)))) return null
    data.set(part.data, part.offset)
    covered = Math.max(covered, part.offset + part.data.length)
  }
  const header = ipv4.createIpv4Header()
  ipv4.decode(Buffer.concat([first.header, data]), 0, header)
  header.mf = false
  header.fragmentOffset = 0
  header.totalLength = first.header.length + length
  if (header.totalLength > ipv4.IPV4_MAX_TOTAL_LENGTH) return null
  const out = Buffer.alloc(first.l2.length + header.totalLength)
  out.set(first.l2)
  ipv4.encode(header, out, first.l2.length)
  data.copy(out, first.l2.length + first.header.length)
  return out
}
