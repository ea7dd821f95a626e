/**
 * IPv4 header (RFC 791). Codec convention: see ethernet.ts.
 *
 * Addresses are unsigned 32-bit numbers. Options are copied into the fixed 40-byte
 * `options` array of the value, `optionsLength` bytes of it used (always a multiple of 4
 * after decode; encode pads with zero bytes = End of Option List). The fragment offset is
 * kept in the wire unit of 8 bytes. `encode` computes the header checksum and ignores
 * `v.checksum`; `decode` stores the checksum found and whether it is valid.
 */
import { onesSum } from './checksum'
import { readU16, readU32, writeU16, writeU32 } from './bytes'

export const IPV4_VERSION = 4
export const IPV4_HEADER_LENGTH = 20
export const IPV4_MAX_HEADER_LENGTH = 60
/** First byte of a header without options: version 4, IHL 5. */
export const IPV4_VERSION_IHL_NO_OPTIONS = 0x45
export const IPV4_MAX_OPTIONS_LENGTH = 40
export const IPV4_MAX_TOTAL_LENGTH = 65535
export const IPV4_DEFAULT_TTL = 64

/** Bits of the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_RESERVED = 0x8000
export const IPV4_FLAG_DF = 0x4000
export const IPV4_FLAG_MF = 0x2000
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff
/** The fragment offset field counts units of this many bytes. */
export const IPV4_FRAGMENT_UNIT = 8

export const IPPROTO_ICMP = 1
export const IPPROTO_TCP = 6
export const IPPROTO_UDP = 17
export const IPPROTO_GRE = 47

export const IPV4_OPTION_EOL = 0
export const IPV4_OPTION_NOP = 1

/** Byte offsets inside the header. */
export const IPV4_OFF_VERSION_IHL = 0
export const IPV4_OFF_TOS = 1
export const IPV4_OFF_TOTAL_LENGTH = 2
export const IPV4_OFF_ID = 4
export const IPV4_OFF_FLAGS_FRAGMENT = 6
export const IPV4_OFF_TTL = 8
export const IPV4_OFF_PROTOCOL = 9
export const IPV4_OFF_CHECKSUM = 10
export const IPV4_OFF_SRC = 12
export const IPV4_OFF_DST = 16

export interface Ipv4Header {
  /** Header length in bytes (IHL × 4); set by decode, derived from `optionsLength` by encode. */
  headerLength: number
  dscp: number
  ecn: number
  totalLength: number
  id: number
  df: boolean
  mf: boolean
  /** In units of 8 bytes, as on the wire. */
  fragmentOffset: number
  ttl: number
  protocol: number
  checksum: number
  /** Decode only: the header checksum verified. */
  checksumValid: boolean
  src: number
  dst: number
  options: Uint8Array
  optionsLength: number
}

export function createIpv4Header(): Ipv4Header {
  return {
    headerLength: IPV4_HEADER_LENGTH,
    dscp: 0,
    ecn: 0,
    totalLength: IPV4_HEADER_LENGTH,
    id: 0,
    df: false,
    mf: false,
    fragmentOffset: 0,
    ttl: IPV4_DEFAULT_TTL,
    protocol: 0,
    checksum: 0,
    checksumValid: false,
    src: 0,
    dst: 0,
    options: new Uint8Array(IPV4_MAX_OPTIONS_LENGTH),
    optionsLength: 0,
  }
}

export function encodingLength(v: Ipv4Header): number {
  return IPV4_HEADER_LENGTH + ((v.optionsLength + 3) & ~3)
}

/**
 * Writes the header with a freshly computed checksum (the payload is the caller's).
 * -1 when it does not fit, options exceed 40 bytes, or `totalLength` is smaller than the
 * header or larger than 65535. Narrow fields are masked to their width.
 */
export function encode(v: Ipv4Header, buf: Uint8Array, off: number): number {
  if (v.optionsLength < 0 || v.optionsLength > IPV4_MAX_OPTIONS_LENGTH || v.optionsLength > v.options.length) return -1
  const length = encodingLength(v)
  if (off < 0 || off + length > buf.length) return -1
  if (v.totalLength < length || v.totalLength > IPV4_MAX_TOTAL_LENGTH) return -1
  buf[off] = (IPV4_VERSION << 4) | (length >>> 2)
  buf[off + IPV4_OFF_TOS] = ((v.dscp & 0x3f) << 2) | (v.ecn & 3)
  writeU16(buf, off + IPV4_OFF_TOTAL_LENGTH, v.totalLength)
  writeU16(buf, off + IPV4_OFF_ID, v.id & 0xffff)
  writeU16(
    buf,
    off + IPV4_OFF_FLAGS_FRAGMENT,
    (v.df ? IPV4_FLAG_DF : 0) | (v.mf ? IPV4_FLAG_MF : 0) | (v.fragmentOffset & IPV4_FRAGMENT_OFFSET_MASK),
  )
  buf[off + IPV4_OFF_TTL] = v.ttl & 0xff
  buf[off + IPV4_OFF_PROTOCOL] = v.protocol & 0xff
  buf[off + IPV4_OFF_CHECKSUM] = 0
  buf[off + IPV4_OFF_CHECKSUM + 1] = 0
  writeU32(buf, off + IPV4_OFF_SRC, v.src)
  writeU32(buf, off + IPV4_OFF_DST, v.dst)
  let p = off + IPV4_HEADER_LENGTH
  for (let i = 0; i < v.optionsLength; i++) buf[p++] = v.options[i]!
  while (p < off + length) buf[p++] = IPV4_OPTION_EOL
  writeU16(buf, off + IPV4_OFF_CHECKSUM, ~onesSum(buf, off, length) & 0xffff)
  return length
}

/**
 * Returns the header length, or -1 when truncated, version ≠ 4, IHL < 5, or the total
 * length is below the header length or beyond the bytes available in `buf`.
 * A bad checksum is not an error here: it is reported in `out.checksumValid`.
 */
export function decode(buf: Uint8Array, off: number, out: Ipv4Header): number {
  if (off < 0 || off + IPV4_HEADER_LENGTH > buf.length) return -1
  const versionIhl = buf[off]!
  if (versionIhl >>> 4 !== IPV4_VERSION) return -1
  const headerLength = (versionIhl & 0x0f) << 2
  if (headerLength < IPV4_HEADER_LENGTH) return -1
  const totalLength = readU16(buf, off + IPV4_OFF_TOTAL_LENGTH)
  if (totalLength < headerLength || off + totalLength > buf.length) return -1
  const tos = buf[off + IPV4_OFF_TOS]!
  const flagsFragment = readU16(buf, off + IPV4_OFF_FLAGS_FRAGMENT)
  out.headerLength = headerLength
  out.dscp = tos >>> 2
  out.ecn = tos & 3
  out.totalLength = totalLength
  out.id = readU16(buf, off + IPV4_OFF_ID)
  out.df = (flagsFragment & IPV4_FLAG_DF) !== 0
  out.mf = (flagsFragment & IPV4_FLAG_MF) !== 0
  out.fragmentOffset = flagsFragment & IPV4_FRAGMENT_OFFSET_MASK
  out.ttl = buf[off + IPV4_OFF_TTL]!
  out.protocol = buf[off + IPV4_OFF_PROTOCOL]!
  out.checksum = readU16(buf, off + IPV4_OFF_CHECKSUM)
  out.checksumValid = onesSum(buf, off, headerLength) === 0xffff
  out.src = readU32(buf, off + IPV4_OFF_SRC)
  out.dst = readU32(buf, off + IPV4_OFF_DST)
  const optionsLength = headerLength - IPV4_HEADER_LENGTH
  for (let i = 0; i < optionsLength; i++) out.options[i] = buf[off + IPV4_HEADER_LENGTH + i]!
  out.optionsLength = optionsLength
  return headerLength
}

/** True for every fragment of a fragmented datagram (MF set or a non-zero offset). */
export function isFragment(v: Ipv4Header): boolean {
  return v.mf || v.fragmentOffset !== 0
}

/** Recomputes the header checksum in place (after a rewrite of header fields). */
export function writeHeaderChecksum(buf: Uint8Array, off: number, headerLength: number): void {
  buf[off + IPV4_OFF_CHECKSUM] = 0
  buf[off + IPV4_OFF_CHECKSUM + 1] = 0
  writeU16(buf, off + IPV4_OFF_CHECKSUM, ~onesSum(buf, off, headerLength) & 0xffff)
}

/** True when the header checksum of the header at `off` is correct. */
export function verifyHeaderChecksum(buf: Uint8Array, off: number, headerLength: number): boolean {
  return onesSum(buf, off, headerLength) === 0xffff
}
