/**
 * Header checks of the packet path (katran's pckt_parsing): is the IPv4 or
 * TCP/UDP header at an offset whole and sound? Pure functions; no allocation.
 */
import { readU16 } from '../packet/bytes'
import { onesSum } from '../packet/checksum'
import { IPPROTO_TCP, IPV4_HEADER_LENGTH, IPV4_VERSION } from '../packet/ipv4'
import { TCP_HEADER_LENGTH } from '../packet/tcp'
import { UDP_HEADER_LENGTH } from '../packet/udp'
import { DropReason } from './drop-reasons'

/** HEADER_OK when the IPv4 header at `ip` is sound within `end`, else the drop reason. */
export const HEADER_OK = -1

export function checkIPv4(buf: Uint8Array, ip: number, end: number): number {
  if (ip + IPV4_HEADER_LENGTH > end) return DropReason.TRUNCATED
  const versionIhl = buf[ip]!
  if (versionIhl >> 4 !== IPV4_VERSION) return DropReason.BAD_IP_HEADER
  const ihl = (versionIhl & 0x0f) << 2
  const total = readU16(buf, ip + 2)
  if (ihl < IPV4_HEADER_LENGTH || total < ihl) return DropReason.BAD_IP_HEADER
  if (ip + total > end) return DropReason.TRUNCATED
  // RFC 1812 5.2.2: a header nvlb forwards with its checksum updated incrementally must be sound.
  if ((ihl === IPV4_HEADER_LENGTH ? headerSum20(buf, ip) : onesSum(buf, ip, ihl)) !== 0xffff) return DropReason.BAD_IP_CHECKSUM
  return HEADER_OK
}

/** The TCP header (with its options) or UDP header at `l4` lies within `end`. */
export function hasL4Header(buf: Uint8Array, protocol: number, l4: number, end: number): boolean {
  if (protocol !== IPPROTO_TCP) return l4 + UDP_HEADER_LENGTH <= end
  if (l4 + TCP_HEADER_LENGTH > end) return false
  const dataOffset = (buf[l4 + 12]! >> 4) << 2
  return dataOffset >= TCP_HEADER_LENGTH && l4 + dataOffset <= end
}

/** One's-complement sum of a 20-byte IPv4 header, unrolled (0xffff when the checksum is right). */
export function headerSum20(buf: Uint8Array, ip: number): number {
  let sum =
    readU16(buf, ip) + readU16(buf, ip + 2) + readU16(buf, ip + 4) + readU16(buf, ip + 6) + readU16(buf, ip + 8) +
    readU16(buf, ip + 10) + readU16(buf, ip + 12) + readU16(buf, ip + 14) + readU16(buf, ip + 16) + readU16(buf, ip + 18)
  sum = (sum & 0xffff) + (sum >>> 16)
  return (sum & 0xffff) + (sum >>> 16)
}
