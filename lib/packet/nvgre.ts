/**
 * NVGRE header (RFC 7637): GRE with only the key present, carrying Ethernet.
 *
 *   flags/version 0x2000 (C=0 K=1 S=0, version 0) | protocol 0x6558 | key = VSID << 8 | FlowID
 *
 * Codec convention: see ethernet.ts, except that `decode` tells why it rejected a header
 * with one of the distinct NVGRE_ERR_* codes (all negative; truncation is -1 as everywhere).
 */
import { readU16, writeU16 } from './bytes'
import { ETHERTYPE_TEB } from './ethernet'

export const NVGRE_HEADER_LENGTH = 8
/** Outer IPv4 (20) + GRE (8) + inner Ethernet (14) in front of the inner IP packet. */
export const NVGRE_ENCAP_OVERHEAD = 42
/** Outer Ethernet (14) + outer IPv4 (20) + GRE (8) + inner Ethernet (14): what encapsulation writes in front of the inner IP packet. */
export const NVGRE_ENCAP_HEADERS = 56

export const GRE_FLAGS_CHECKSUM = 0x8000
export const GRE_FLAGS_ROUTING = 0x4000
export const GRE_FLAGS_KEY = 0x2000
export const GRE_FLAGS_SEQUENCE = 0x1000
export const GRE_FLAGS_STRICT_SOURCE_ROUTE = 0x0800
export const GRE_FLAGS_RECURSION_MASK = 0x0700
export const GRE_VERSION_MASK = 0x0007
/** The flags/version word of every NVGRE header. */
export const NVGRE_FLAGS_VERSION = GRE_FLAGS_KEY
export const NVGRE_PROTOCOL = ETHERTYPE_TEB

export const VSID_MIN = 0x1000
export const VSID_MAX = 0xfffffe
export const FLOW_ID_MAX = 0xff

export const NVGRE_OFF_FLAGS_VERSION = 0
export const NVGRE_OFF_PROTOCOL = 2
export const NVGRE_OFF_KEY = 4

/** Decode results (negative). */
export const NVGRE_ERR_TRUNCATED = -1
export const NVGRE_ERR_CHECKSUM_PRESENT = -2
export const NVGRE_ERR_SEQUENCE_PRESENT = -3
export const NVGRE_ERR_KEY_ABSENT = -4
export const NVGRE_ERR_PROTOCOL = -5
export const NVGRE_ERR_VERSION = -6
export const NVGRE_ERR_VSID_RANGE = -7
/** Routing, strict source route or recursion bits set (RFC 2890 says discard). */
export const NVGRE_ERR_RESERVED = -8

export interface NvgreHeader {
  vsid: number
  flowId: number
}

export function createNvgreHeader(): NvgreHeader {
  return { vsid: 0, flowId: 0 }
}

export function isValidVsid(vsid: number): boolean {
  return vsid >= VSID_MIN && vsid <= VSID_MAX
}

export function encodingLength(_v: NvgreHeader): number {
  return NVGRE_HEADER_LENGTH
}

/** -1 when it does not fit or the VSID is outside VSID_MIN..VSID_MAX. FlowID is masked to 8 bits. */
export function encode(v: NvgreHeader, buf: Uint8Array, off: number): number {
  if (off < 0 || off + NVGRE_HEADER_LENGTH > buf.length) return -1
  if (!isValidVsid(v.vsid)) return -1
  writeU16(buf, off + NVGRE_OFF_FLAGS_VERSION, NVGRE_FLAGS_VERSION)
  writeU16(buf, off + NVGRE_OFF_PROTOCOL, NVGRE_PROTOCOL)
  buf[off + NVGRE_OFF_KEY] = (v.vsid >>> 16) & 0xff
  buf[off + NVGRE_OFF_KEY + 1] = (v.vsid >>> 8) & 0xff
  buf[off + NVGRE_OFF_KEY + 2] = v.vsid & 0xff
  buf[off + NVGRE_OFF_KEY + 3] = v.flowId & 0xff
  return NVGRE_HEADER_LENGTH
}

/**
 * Returns 8, or the first NVGRE_ERR_* that applies, checked in this order: truncated,
 * checksum bit, sequence bit, key bit absent, reserved bits, version ≠ 0, protocol ≠ 0x6558,
 * VSID outside 4096..16777214. `out` is written only on success.
 */
export function decode(buf: Uint8Array, off: number, out: NvgreHeader): number {
  if (off < 0 || off + NVGRE_HEADER_LENGTH > buf.length) return NVGRE_ERR_TRUNCATED
  const flagsVersion = readU16(buf, off + NVGRE_OFF_FLAGS_VERSION)
  if ((flagsVersion & GRE_FLAGS_CHECKSUM) !== 0) return NVGRE_ERR_CHECKSUM_PRESENT
  if ((flagsVersion & GRE_FLAGS_SEQUENCE) !== 0) return NVGRE_ERR_SEQUENCE_PRESENT
  if ((flagsVersion & GRE_FLAGS_KEY) === 0) return NVGRE_ERR_KEY_ABSENT
  if ((flagsVersion & (GRE_FLAGS_ROUTING | GRE_FLAGS_STRICT_SOURCE_ROUTE | GRE_FLAGS_RECURSION_MASK)) !== 0) {
    return NVGRE_ERR_RESERVED
  }
  if ((flagsVersion & GRE_VERSION_MASK) !== 0) return NVGRE_ERR_VERSION
  if (readU16(buf, off + NVGRE_OFF_PROTOCOL) !== NVGRE_PROTOCOL) return NVGRE_ERR_PROTOCOL
  const vsid = (buf[off + NVGRE_OFF_KEY]! << 16) | (buf[off + NVGRE_OFF_KEY + 1]! << 8) | buf[off + NVGRE_OFF_KEY + 2]!
  if (!isValidVsid(vsid)) return NVGRE_ERR_VSID_RANGE
  out.vsid = vsid
  out.flowId = buf[off + NVGRE_OFF_KEY + 3]!
  return NVGRE_HEADER_LENGTH
}

/** The GRE key of a VSID and FlowID. */
export function nvgreKey(vsid: number, flowId: number): number {
  return ((vsid << 8) | (flowId & 0xff)) >>> 0
}

/** A readable name of a decode result, for logs and counters. */
export function nvgreErrorName(code: number): string {
  switch (code) {
    case NVGRE_ERR_TRUNCATED:
      return 'truncated'
    case NVGRE_ERR_CHECKSUM_PRESENT:
      return 'checksum bit set'
    case NVGRE_ERR_SEQUENCE_PRESENT:
      return 'sequence bit set'
    case NVGRE_ERR_KEY_ABSENT:
      return 'key bit absent'
    case NVGRE_ERR_PROTOCOL:
      return 'protocol type is not 0x6558'
    case NVGRE_ERR_VERSION:
      return 'GRE version is not 0'
    case NVGRE_ERR_VSID_RANGE:
      return 'VSID outside 4096..16777214'
    case NVGRE_ERR_RESERVED:
      return 'reserved GRE bits set'
    default:
      return code >= 0 ? 'ok' : 'unknown'
  }
}
