/**
 * ICMP for IPv4 (RFC 792, RFC 1191): the 8-byte header and, for error messages, where
 * the quoted datagram starts. Codec convention: see ethernet.ts.
 *
 * The 4-byte "rest of header" is kept raw in `rest`; decode also splits it into
 * `id`/`seq` (echo) and `nextHopMtu` (low 16 bits; meaningful for fragmentation-needed).
 * encode writes `rest` built from `id`/`seq` for echo types, from `nextHopMtu` for
 * destination-unreachable/fragmentation-needed, and `rest` itself otherwise. The checksum
 * covers the whole message: `encode` writes `v.checksum` as given, `writeIcmpChecksum`
 * computes it once the body is in place.
 */
import { onesSum } from './checksum'
import { readU16, readU32, writeU16, writeU32 } from './bytes'

export const ICMP_HEADER_LENGTH = 8

export const ICMP_TYPE_ECHO_REPLY = 0
export const ICMP_TYPE_DEST_UNREACHABLE = 3
export const ICMP_TYPE_SOURCE_QUENCH = 4
export const ICMP_TYPE_REDIRECT = 5
export const ICMP_TYPE_ECHO_REQUEST = 8
export const ICMP_TYPE_TIME_EXCEEDED = 11
export const ICMP_TYPE_PARAMETER_PROBLEM = 12

export const ICMP_CODE_NET_UNREACHABLE = 0
export const ICMP_CODE_HOST_UNREACHABLE = 1
export const ICMP_CODE_PROTOCOL_UNREACHABLE = 2
export const ICMP_CODE_PORT_UNREACHABLE = 3
export const ICMP_CODE_FRAGMENTATION_NEEDED = 4
export const ICMP_CODE_SOURCE_ROUTE_FAILED = 5
export const ICMP_CODE_ADMIN_PROHIBITED = 13
export const ICMP_CODE_TTL_EXCEEDED = 0
export const ICMP_CODE_FRAGMENT_REASSEMBLY_TIME_EXCEEDED = 1

export const ICMP_OFF_TYPE = 0
export const ICMP_OFF_CODE = 1
export const ICMP_OFF_CHECKSUM = 2
export const ICMP_OFF_ID = 4
export const ICMP_OFF_SEQ = 6
export const ICMP_OFF_NEXT_HOP_MTU = 6
/** Where the quoted IP header starts in an error message. */
export const ICMP_OFF_QUOTED = 8

export interface IcmpHeader {
  type: number
  code: number
  checksum: number
  /** The raw 32-bit rest-of-header word. */
  rest: number
  id: number
  seq: number
  nextHopMtu: number
  /** Decode only: absolute offset of the quoted datagram for error types, else -1. */
  quotedOffset: number
}

export function createIcmpHeader(): IcmpHeader {
  return { type: 0, code: 0, checksum: 0, rest: 0, id: 0, seq: 0, nextHopMtu: 0, quotedOffset: -1 }
}

/** Destination unreachable, source quench, redirect, time exceeded, parameter problem. */
export function isIcmpError(type: number): boolean {
  return (
    type === ICMP_TYPE_DEST_UNREACHABLE ||
    type === ICMP_TYPE_TIME_EXCEEDED ||
    type === ICMP_TYPE_PARAMETER_PROBLEM ||
    type === ICMP_TYPE_SOURCE_QUENCH ||
    type === ICMP_TYPE_REDIRECT
  )
}

export function isEcho(type: number): boolean {
  return type === ICMP_TYPE_ECHO_REQUEST || type === ICMP_TYPE_ECHO_REPLY
}

export function encodingLength(_v: IcmpHeader): number {
  return ICMP_HEADER_LENGTH
}

export function encode(v: IcmpHeader, buf: Uint8Array, off: number): number {
  if (off < 0 || off + ICMP_HEADER_LENGTH > buf.length) return -1
  buf[off + ICMP_OFF_TYPE] = v.type & 0xff
  buf[off + ICMP_OFF_CODE] = v.code & 0xff
  writeU16(buf, off + ICMP_OFF_CHECKSUM, v.checksum & 0xffff)
  if (isEcho(v.type)) {
    writeU16(buf, off + ICMP_OFF_ID, v.id & 0xffff)
    writeU16(buf, off + ICMP_OFF_SEQ, v.seq & 0xffff)
  } else if (v.type === ICMP_TYPE_DEST_UNREACHABLE && v.code === ICMP_CODE_FRAGMENTATION_NEEDED) {
    writeU16(buf, off + ICMP_OFF_ID, 0)
    writeU16(buf, off + ICMP_OFF_NEXT_HOP_MTU, v.nextHopMtu & 0xffff)
  } else {
    writeU32(buf, off + ICMP_OFF_ID, v.rest)
  }
  return ICMP_HEADER_LENGTH
}

/** Returns 8, or -1 when fewer than 8 bytes are available. */
export function decode(buf: Uint8Array, off: number, out: IcmpHeader): number {
  if (off < 0 || off + ICMP_HEADER_LENGTH > buf.length) return -1
  out.type = buf[off + ICMP_OFF_TYPE]!
  out.code = buf[off + ICMP_OFF_CODE]!
  out.checksum = readU16(buf, off + ICMP_OFF_CHECKSUM)
  out.rest = readU32(buf, off + ICMP_OFF_ID)
  out.id = readU16(buf, off + ICMP_OFF_ID)
  out.seq = readU16(buf, off + ICMP_OFF_SEQ)
  out.nextHopMtu = readU16(buf, off + ICMP_OFF_NEXT_HOP_MTU)
  out.quotedOffset = isIcmpError(out.type) ? off + ICMP_OFF_QUOTED : -1
  return ICMP_HEADER_LENGTH
}

/** The checksum of the message buf[icmpOff, icmpOff+icmpLength), as if the field were zero. */
export function icmpChecksum(buf: Uint8Array, icmpOff: number, icmpLength: number): number {
  // the checksum field itself is left out of the sum
  let sum = onesSum(buf, icmpOff, ICMP_OFF_CHECKSUM)
  sum = onesSum(buf, icmpOff + ICMP_OFF_CHECKSUM + 2, icmpLength - ICMP_OFF_CHECKSUM - 2, sum)
  return ~sum & 0xffff
}

export function writeIcmpChecksum(buf: Uint8Array, icmpOff: number, icmpLength: number): void {
  writeU16(buf, icmpOff + ICMP_OFF_CHECKSUM, icmpChecksum(buf, icmpOff, icmpLength))
}

export function verifyIcmpChecksum(buf: Uint8Array, icmpOff: number, icmpLength: number): boolean {
  if (icmpOff < 0 || icmpLength < ICMP_HEADER_LENGTH || icmpOff + icmpLength > buf.length) return false
  return onesSum(buf, icmpOff, icmpLength) === 0xffff
}
