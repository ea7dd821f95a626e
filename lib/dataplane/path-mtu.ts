/**
 * Path MTU: what nvlb writes when a packet does not fit the
 * provider MTU after encapsulation — an ICMP fragmentation-needed back to the
 * sender (DF set), or the packet split into fragments that fit (DF clear).
 * Frame writers only; the engine reserves the slots and adds the outer headers.
 */
import { readI32, writeU16, writeU32 } from '../packet/bytes'
import { checksum } from '../packet/checksum'
import { ICMP_CODE_FRAGMENTATION_NEEDED, ICMP_HEADER_LENGTH, ICMP_TYPE_DEST_UNREACHABLE } from '../packet/icmp'
import { IPPROTO_ICMP, IPV4_DEFAULT_TTL, IPV4_FLAG_MF, IPV4_HEADER_LENGTH, IPV4_VERSION, IPV4_VERSION_IHL_NO_OPTIONS } from '../packet/ipv4'
import { NVGRE_ENCAP_OVERHEAD } from '../packet/nvgre'
import { copyBytes } from './mac'

/** The largest inner IPv4 packet that fits `providerMtu` after encapsulation. */
export function innerMtu(providerMtu: number): number {
  return providerMtu - NVGRE_ENCAP_OVERHEAD
}

/**
 * ICMP fragmentation-needed (MTU innerMtu(providerMtu)) about the packet at
 * buf[ip..], from the address it was sent to back to its sender, at
 * out[oip..]. Returns the IPv4 packet's length.
 */
export function writeFragmentationNeeded(out: Uint8Array, oip: number, buf: Uint8Array, ip: number, ihl: number, total: number, ipId: number, providerMtu: number): number {
  const quoted = Math.min(total, ihl + 8)
  const icmpLength = ICMP_HEADER_LENGTH + quoted
  const length = IPV4_HEADER_LENGTH + icmpLength
  writeIPv4Header(out, oip, length, ipId, IPV4_DEFAULT_TTL, IPPROTO_ICMP, readI32(buf, ip + 16), readI32(buf, ip + 12))
  const icmp = oip + IPV4_HEADER_LENGTH
  out[icmp] = ICMP_TYPE_DEST_UNREACHABLE
  out[icmp + 1] = ICMP_CODE_FRAGMENTATION_NEEDED
  writeU16(out, icmp + 2, 0)
  writeU16(out, icmp + 4, 0)
  writeU16(out, icmp + 6, innerMtu(providerMtu))
  copyBytes(buf, ip, out, icmp + ICMP_HEADER_LENGTH, quoted)
  writeU16(out, icmp + 2, checksum(out, icmp, icmpLength))
  return length
}

/** Bytes of payload per fragment when its header is `headerLength` bytes (a multiple of 8). */
export function fragmentRoom(providerMtu: number, headerLength: number): number {
  return ((innerMtu(providerMtu) - headerLength) >> 3) << 3
}

/**
 * One fragment of the packet at buf[ip..]: its first `headerLength` header
 * bytes (options only on the first fragment), then `size` payload bytes from
 * payload offset `done`, at out[fip..]. `baseOffset` is the packet's own
 * fragment offset in bytes (it may be a fragment itself).
 */
export function writeFragment(out: Uint8Array, fip: number, buf: Uint8Array, ip: number, ihl: number, headerLength: number, baseOffset: number, done: number, size: number, more: boolean): void {
  copyBytes(buf, ip, out, fip, headerLength)
  out[fip] = (IPV4_VERSION << 4) | (headerLength >> 2)
  writeU16(out, fip + 2, headerLength + size)
  writeU16(out, fip + 6, (more ? IPV4_FLAG_MF : 0) | ((baseOffset + done) >> 3))
  writeU16(out, fip + 10, 0)
  writeU16(out, fip + 10, checksum(out, fip, headerLength))
  copyBytes(buf, ip + ihl + done, out, fip + headerLength, size)
}

function writeIPv4Header(buf: Uint8Array, ip: number, total: number, id: number, ttl: number, protocol: number, src: number, dst: number): void {
  buf[ip] = IPV4_VERSION_IHL_NO_OPTIONS
  buf[ip + 1] = 0
  writeU16(buf, ip + 2, total)
  writeU16(buf, ip + 4, id)
  writeU16(buf, ip + 6, 0)
  buf[ip + 8] = ttl
  buf[ip + 9] = protocol
  writeU16(buf, ip + 10, 0)
  writeU32(buf, ip + 12, src)
  writeU32(buf, ip + 16, dst)
  writeU16(buf, ip + 10, checksum(buf, ip, IPV4_HEADER_LENGTH))
}
