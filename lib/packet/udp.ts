/**
 * UDP header (RFC 768). Codec convention: see ethernet.ts.
 *
 * A checksum of 0 means "none" (allowed over IPv4); a computed checksum of 0 is sent as
 * 0xffff. `encode` writes `v.checksum` as given; compute it with `writeUdpChecksum` once
 * the payload is in place. `decode` checks the length field against the header size
 * only: on a first fragment the UDP length is larger than the bytes present, so the
 * caller compares it with the IP payload when that matters.
 */
import { onesSum, pseudoHeaderSum } from './checksum'
import { readU16, writeU16 } from './bytes'
import { IPPROTO_UDP } from './ipv4'

export const UDP_HEADER_LENGTH = 8
export const UDP_CHECKSUM_NONE = 0

export const UDP_OFF_SRC_PORT = 0
export const UDP_OFF_DST_PORT = 2
export const UDP_OFF_LENGTH = 4
export const UDP_OFF_CHECKSUM = 6

export interface UdpHeader {
  srcPort: number
  dstPort: number
  /** Header plus payload, in bytes. */
  length: number
  checksum: number
}

export function createUdpHeader(): UdpHeader {
  return { srcPort: 0, dstPort: 0, length: UDP_HEADER_LENGTH, checksum: 0 }
}

export function encodingLength(_v: UdpHeader): number {
  return UDP_HEADER_LENGTH
}

/** -1 when it does not fit or `length` is outside 8..65535. */
export function encode(v: UdpHeader, buf: Uint8Array, off: number): number {
  if (off < 0 || off + UDP_HEADER_LENGTH > buf.length) return -1
  if (v.length < UDP_HEADER_LENGTH || v.length > 0xffff) return -1
  writeU16(buf, off + UDP_OFF_SRC_PORT, v.srcPort & 0xffff)
  writeU16(buf, off + UDP_OFF_DST_PORT, v.dstPort & 0xffff)
  writeU16(buf, off + UDP_OFF_LENGTH, v.length)
  writeU16(buf, off + UDP_OFF_CHECKSUM, v.checksum & 0xffff)
  return UDP_HEADER_LENGTH
}

/** Returns 8, or -1 when truncated or the length field is below 8. */
export function decode(buf: Uint8Array, off: number, out: UdpHeader): number {
  if (off < 0 || off + UDP_HEADER_LENGTH > buf.length) return -1
  const length = readU16(buf, off + UDP_OFF_LENGTH)
  if (length < UDP_HEADER_LENGTH) return -1
  out.srcPort = readU16(buf, off + UDP_OFF_SRC_PORT)
  out.dstPort = readU16(buf, off + UDP_OFF_DST_PORT)
  out.length = length
  out.checksum = readU16(buf, off + UDP_OFF_CHECKSUM)
  return UDP_HEADER_LENGTH
}

/**
 * The checksum of the datagram buf[udpOff, udpOff+udpLength) with the IPv4 pseudo-header,
 * computed as if the checksum field were zero; never 0 (0 is sent as 0xffff).
 */
export function udpChecksum(buf: Uint8Array, udpOff: number, udpLength: number, src: number, dst: number): number {
  // the checksum field itself is left out of the sum
  let sum = onesSum(buf, udpOff, UDP_OFF_CHECKSUM, pseudoHeaderSum(src, dst, IPPROTO_UDP, udpLength))
  sum = onesSum(buf, udpOff + UDP_OFF_CHECKSUM + 2, udpLength - UDP_OFF_CHECKSUM - 2, sum)
  const check = ~sum & 0xffff
  return check === 0 ? 0xffff : check
}

/** Computes and stores the checksum of the datagram in place. */
export function writeUdpChecksum(buf: Uint8Array, udpOff: number, udpLength: number, src: number, dst: number): void {
  writeU16(buf, udpOff + UDP_OFF_CHECKSUM, udpChecksum(buf, udpOff, udpLength, src, dst))
}

/** True when the checksum is correct or absent (0). */
export function verifyUdpChecksum(buf: Uint8Array, udpOff: number, udpLength: number, src: number, dst: number): boolean {
  if (udpOff < 0 || udpLength < UDP_HEADER_LENGTH || udpOff + udpLength > buf.length) return false
  if (readU16(buf, udpOff + UDP_OFF_CHECKSUM) === UDP_CHECKSUM_NONE) return true
  return onesSum(buf, udpOff, udpLength, pseudoHeaderSum(src, dst, IPPROTO_UDP, udpLength)) === 0xffff
}
