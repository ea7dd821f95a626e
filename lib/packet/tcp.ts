/**
 * TCP header (RFC 9293) with raw options and the MSS option parsed.
 * Codec convention: see ethernet.ts.
 *
 * Options are copied into the fixed 40-byte `options` array (`optionsLength` bytes used;
 * encode pads to a multiple of 4 with End of Option List). `mss` is filled by decode from
 * the options (-1 when absent) and ignored by encode: put an MSS option in `options` with
 * `encodeMssOption`. `encode` writes `v.checksum` as given; compute the real one over
 * header and payload with `writeTcpChecksum` once the payload is in place.
 */
import { onesSum, pseudoHeaderSum } from './checksum'
import { readU16, readU32, writeU16, writeU32 } from './bytes'
import { IPPROTO_TCP } from './ipv4'

export const TCP_HEADER_LENGTH = 20
export const TCP_MAX_HEADER_LENGTH = 60
export const TCP_MAX_OPTIONS_LENGTH = 40

export const TCP_FLAG_FIN = 0x001
export const TCP_FLAG_SYN = 0x002
export const TCP_FLAG_RST = 0x004
export const TCP_FLAG_PSH = 0x008
export const TCP_FLAG_ACK = 0x010
export const TCP_FLAG_URG = 0x020
export const TCP_FLAG_ECE = 0x040
export const TCP_FLAG_CWR = 0x080
/** The former ECN-nonce bit (RFC 3540, historic), low bit of the data-offset byte. */
export const TCP_FLAG_NS = 0x100
export const TCP_FLAGS_MASK = 0x1ff

export const TCP_OPTION_EOL = 0
export const TCP_OPTION_NOP = 1
export const TCP_OPTION_MSS = 2
export const TCP_OPTION_WINDOW_SCALE = 3
export const TCP_OPTION_SACK_PERMITTED = 4
export const TCP_OPTION_SACK = 5
export const TCP_OPTION_TIMESTAMP = 8
export const TCP_OPTION_MSS_LENGTH = 4

/** Byte offsets inside the header. */
export const TCP_OFF_SRC_PORT = 0
export const TCP_OFF_DST_PORT = 2
export const TCP_OFF_SEQ = 4
export const TCP_OFF_ACK = 8
export const TCP_OFF_DATA_OFFSET = 12
export const TCP_OFF_FLAGS = 13
export const TCP_OFF_WINDOW = 14
export const TCP_OFF_CHECKSUM = 16
export const TCP_OFF_URGENT = 18

export interface TcpHeader {
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  /** Header length in bytes (data offset × 4); set by decode, derived from `optionsLength` by encode. */
  headerLength: number
  /** TCP_FLAG_* bits, 9 bits including NS. */
  flags: number
  window: number
  checksum: number
  urgent: number
  options: Uint8Array
  optionsLength: number
  /** Decode only: the MSS option's value, or -1 when there is none. */
  mss: number
}

export function createTcpHeader(): TcpHeader {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    headerLength: TCP_HEADER_LENGTH,
    flags: 0,
    window: 0,
    checksum: 0,
    urgent: 0,
    options: new Uint8Array(TCP_MAX_OPTIONS_LENGTH),
    optionsLength: 0,
    mss: -1,
  }
}

export function encodingLength(v: TcpHeader): number {
  return TCP_HEADER_LENGTH + ((v.optionsLength + 3) & ~3)
}

/** -1 when it does not fit or the options exceed 40 bytes. Narrow fields are masked. */
export function encode(v: TcpHeader, buf: Uint8Array, off: number): number {
  if (v.optionsLength < 0 || v.optionsLength > TCP_MAX_OPTIONS_LENGTH || v.optionsLength > v.options.length) return -1
  const length = encodingLength(v)
  if (off < 0 || off + length > buf.length) return -1
  writeU16(buf, off + TCP_OFF_SRC_PORT, v.srcPort & 0xffff)
  writeU16(buf, off + TCP_OFF_DST_PORT, v.dstPort & 0xffff)
  writeU32(buf, off + TCP_OFF_SEQ, v.seq)
  writeU32(buf, off + TCP_OFF_ACK, v.ack)
  buf[off + TCP_OFF_DATA_OFFSET] = ((length >>> 2) << 4) | ((v.flags >>> 8) & 1)
  buf[off + TCP_OFF_FLAGS] = v.flags & 0xff
  writeU16(buf, off + TCP_OFF_WINDOW, v.window & 0xffff)
  writeU16(buf, off + TCP_OFF_CHECKSUM, v.checksum & 0xffff)
  writeU16(buf, off + TCP_OFF_URGENT, v.urgent & 0xffff)
  let p = off + TCP_HEADER_LENGTH
  for (let i = 0; i < v.optionsLength; i++) buf[p++] = v.options[i]!
  while (p < off + length) buf[p++] = TCP_OPTION_EOL
  return length
}

/**
 * Returns the header length, or -1 when truncated or the data offset is below 5.
 * Malformed options are kept raw (they are the endpoints' business); `mss` is then -1.
 */
export function decode(buf: Uint8Array, off: number, out: TcpHeader): number {
  if (off < 0 || off + TCP_HEADER_LENGTH > buf.length) return -1
  const dataOffsetByte = buf[off + TCP_OFF_DATA_OFFSET]!
  const headerLength = (dataOffsetByte >>> 4) << 2
  if (headerLength < TCP_HEADER_LENGTH || off + headerLength > buf.length) return -1
  out.srcPort = readU16(buf, off + TCP_OFF_SRC_PORT)
  out.dstPort = readU16(buf, off + TCP_OFF_DST_PORT)
  out.seq = readU32(buf, off + TCP_OFF_SEQ)
  out.ack = readU32(buf, off + TCP_OFF_ACK)
  out.headerLength = headerLength
  out.flags = ((dataOffsetByte & 1) << 8) | buf[off + TCP_OFF_FLAGS]!
  out.window = readU16(buf, off + TCP_OFF_WINDOW)
  out.checksum = readU16(buf, off + TCP_OFF_CHECKSUM)
  out.urgent = readU16(buf, off + TCP_OFF_URGENT)
  const optionsLength = headerLength - TCP_HEADER_LENGTH
  for (let i = 0; i < optionsLength; i++) out.options[i] = buf[off + TCP_HEADER_LENGTH + i]!
  out.optionsLength = optionsLength
  const mssAt = findMssOption(buf, off, headerLength)
  out.mss = mssAt < 0 ? -1 : readU16(buf, mssAt)
  return headerLength
}

/**
 * Byte offset of the 16-bit MSS value inside the options of the TCP header at `tcpOff`
 * (`tcpHeaderLen` bytes long), or -1 when there is no well-formed MSS option.
 * Allocation-free: the engine clamps the MSS in place with it.
 */
export function findMssOption(buf: Uint8Array, tcpOff: number, tcpHeaderLen: number): number {
  let end = tcpOff + tcpHeaderLen
  if (end > buf.length) end = buf.length
  let p = tcpOff + TCP_HEADER_LENGTH
  while (p < end) {
    const kind = buf[p]!
    if (kind === TCP_OPTION_EOL) return -1
    if (kind === TCP_OPTION_NOP) {
      p++
      continue
    }
    if (p + 1 >= end) return -1
    const length = buf[p + 1]!
    if (length < 2 || p + length > end) return -1
    if (kind === TCP_OPTION_MSS) return length === TCP_OPTION_MSS_LENGTH ? p + 2 : -1
    p += length
  }
  return -1
}

/** Writes an MSS option (4 bytes) at `off`; returns 4, or -1 when it does not fit. */
export function encodeMssOption(mss: number, buf: Uint8Array, off: number): number {
  if (off < 0 || off + TCP_OPTION_MSS_LENGTH > buf.length) return -1
  buf[off] = TCP_OPTION_MSS
  buf[off + 1] = TCP_OPTION_MSS_LENGTH
  writeU16(buf, off + 2, mss & 0xffff)
  return TCP_OPTION_MSS_LENGTH
}

/**
 * The checksum of the TCP segment buf[tcpOff, tcpOff+tcpLength) with the IPv4
 * pseudo-header, computed as if the checksum field were zero.
 */
export function tcpChecksum(buf: Uint8Array, tcpOff: number, tcpLength: number, src: number, dst: number): number {
  // the checksum field itself is left out of the sum
  let sum = onesSum(buf, tcpOff, TCP_OFF_CHECKSUM, pseudoHeaderSum(src, dst, IPPROTO_TCP, tcpLength))
  sum = onesSum(buf, tcpOff + TCP_OFF_CHECKSUM + 2, tcpLength - TCP_OFF_CHECKSUM - 2, sum)
  return ~sum & 0xffff
}

/** Computes and stores the checksum of the segment in place. */
export function writeTcpChecksum(buf: Uint8Array, tcpOff: number, tcpLength: number, src: number, dst: number): void {
  writeU16(buf, tcpOff + TCP_OFF_CHECKSUM, tcpChecksum(buf, tcpOff, tcpLength, src, dst))
}

/** True when the segment's checksum (pseudo-header included) is correct. */
export function verifyTcpChecksum(buf: Uint8Array, tcpOff: number, tcpLength: number, src: number, dst: number): boolean {
  if (tcpOff < 0 || tcpLength < TCP_HEADER_LENGTH || tcpOff + tcpLength > buf.length) return false
  return onesSum(buf, tcpOff, tcpLength, pseudoHeaderSum(src, dst, IPPROTO_TCP, tcpLength)) === 0xffff
}
