/**
 * Header checks of the packet path (katran's pckt_parsing): is the IPv4 or
 * TCP/UDP header at an offset whole and sound? Pure functions; no allocation.
 */
import { IPPROTO_TCP, IPV4_HEADER_LENGTH, IPV4_VERSION } from '../packet/ipv4'
import { TCP_HEADER_LENGTH } from '../packet/tcp'
import { UDP_HEADER_LENGTH } from '../packet/udp'
import { DropReason } from './drop-reasons'

/** HEADER_OK when the IPv4 header at `ip` is sound within `end`, else the drop reason. */
export const HEADER_OK = -1

export function checkIPv4(v: DataView<ArrayBufferLike>, ip: number, end: number): number {
  if (ip + IPV4_HEADER_LENGTH > end) return DropReason.TRUNCATED
  const versionIhl = v.getUint8(ip)
  if (versionIhl >> 4 !== IPV4_VERSION) return DropReason.BAD_IP_HEADER
  const ihl = (versionIhl & 0x0f) << 2
  const total = v.getUint16(ip + 2)
  if (ihl < IPV4_HEADER_LENGTH || total < ihl) return DropReason.BAD_IP_HEADER
  if (ip + total > end) return DropReason.TRUNCATED
  // RFC 1812 5.2.2: a header nvlb forwards with its checksum updated incrementally must be sound.
  if ((ihl === IPV4_HEADER_LENGTH ? headerSum20(v, ip) : headerSum(v, ip, ihl)) !== 0xffff) return DropReason.BAD_IP_CHECKSUM
  return HEADER_OK
}

/** The TCP header (with its options) or UDP header at `l4` lies within `end`. */
export function hasL4Header(buf: Uint8Array, protocol: number, l4: number, end: number): boolean {
  if (protocol !== IPPROTO_TCP) return l4 + UDP_HEADER_LENGTH <= end
  if (l4 + TCP_HEADER_LENGTH > end) return false
  const dataOffset = (buf[l4 + 12]! >> 4) << 2
  return dataOffset >= TCP_HEADER_LENGTH && l4 + dataOffset <= end
}

/**
 * One's-complement sum of a 20-byte IPv4 header (0xffff when the checksum is
 * right): five 32-bit loads, each folded into its two 16-bit words.
 */
export function headerSum20(v: DataView<ArrayBufferLike>, ip: number): number {
  const a = v.getUint32(ip)
  const b = v.getUint32(ip + 4)
  const c = v.getUint32(ip + 8)
  const d = v.getUint32(ip + 12)
  const e = v.getUint32(ip + 16)
  let sum = (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff) + (c >>> 16) + (c & 0xffff) + (d >>> 16) + (d & 0xffff) + (e >>> 16) + (e & 0xffff)
  sum = (sum & 0xffff) + (sum >>> 16)
  return (sum & 0xffff) + (sum >>> 16)
}

/** The same for a header of `ihl` bytes with options (a multiple of 4). */
export function headerSum(v: DataView<ArrayBufferLike>, ip: number, ihl: number): number {
  let sum = 0
  for (let p = ip; p < ip + ihl; p += 4) {
    const w = v.getUint32(p)
    sum += (w >>> 16) + (w & 0xffff)
  }
  sum = (sum & 0xffff) + (sum >>> 16)
  return (sum & 0xffff) + (sum >>> 16)
}
