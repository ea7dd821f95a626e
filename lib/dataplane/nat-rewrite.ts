/**
 * NAT rewrites in place (katran's csum_helpers and the NAT half of its
 * pckt_encap): an address and a port of an IPv4 packet, or of the header an
 * ICMP error quotes, with incremental checksum updates (RFC 1624); MSS
 * clamping. The caller has checked that the headers lie inside the buffer.
 */
import { readI32, readU16, writeU16, writeU32 } from '../packet/bytes'
import { checksumAdjust16, checksumAdjust32 } from '../packet/checksum'
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_OFF_CHECKSUM, IPV4_OFF_DST, IPV4_OFF_SRC } from '../packet/ipv4'
import { TCP_FLAG_SYN, TCP_HEADER_LENGTH, TCP_OFF_CHECKSUM, TCP_OPTION_EOL, TCP_OPTION_MSS, TCP_OPTION_MSS_LENGTH, TCP_OPTION_NOP } from '../packet/tcp'
import { UDP_OFF_CHECKSUM } from '../packet/udp'

/** Source address (and, with the L4 header present, source port). */
export function rewriteSource(v: DataView<ArrayBufferLike>, ip: number, ihl: number, protocol: number, l4Present: boolean, address: number, port: number): void {
  const old = v.getInt32(ip + IPV4_OFF_SRC)
  v.setInt32(ip + IPV4_OFF_SRC, address)
  v.setUint16(ip + IPV4_OFF_CHECKSUM, checksumAdjust32(v.getUint16(ip + IPV4_OFF_CHECKSUM), old, address))
  if (!l4Present) return
  const l4 = ip + ihl
  const oldPort = v.getUint16(l4)
  v.setUint16(l4, port)
  adjustL4(v, l4, protocol, old, address, oldPort, port)
}

/** Destination address (and, with the L4 header present, destination port). */
export function rewriteDestination(v: DataView<ArrayBufferLike>, ip: number, ihl: number, protocol: number, l4Present: boolean, address: number, port: number): void {
  const old = v.getInt32(ip + IPV4_OFF_DST)
  v.setInt32(ip + IPV4_OFF_DST, address)
  v.setUint16(ip + IPV4_OFF_CHECKSUM, checksumAdjust32(v.getUint16(ip + IPV4_OFF_CHECKSUM), old, address))
  if (!l4Present) return
  const l4 = ip + ihl
  const oldPort = v.getUint16(l4 + 2)
  v.setUint16(l4 + 2, port)
  adjustL4(v, l4, protocol, old, address, oldPort, port)
}

/** TCP/UDP checksum after an address (pseudo-header) and a port change. UDP checksum 0 means none. */
export function adjustL4(v: DataView<ArrayBufferLike>, l4: number, protocol: number, oldAddress: number, newAddress: number, oldPort: number, newPort: number): void {
  const at = protocol === IPPROTO_TCP ? l4 + TCP_OFF_CHECKSUM : l4 + UDP_OFF_CHECKSUM
  let sum = v.getUint16(at)
  if (protocol === IPPROTO_UDP && sum === 0) return
  sum = checksumAdjust16(checksumAdjust32(sum, oldAddress, newAddress), oldPort, newPort)
  if (protocol === IPPROTO_UDP && sum === 0) sum = 0xffff
  v.setUint16(at, sum)
}

/**
 * An address (at ip + addressAt) and a port (at l4 + portAt) of a header an
 * ICMP error quotes, keeping its checksums right: only the UDP checksum lies
 * within the 8 quoted bytes of the transport header.
 */
export function rewriteQuoted(buf: Uint8Array, v: DataView<ArrayBufferLike>, ip: number, ihl: number, protocol: number, addressAt: number, address: number, portAt: number, port: number): void {
  const old = readI32(buf, ip + addressAt)
  writeU32(buf, ip + addressAt, address)
  writeU16(buf, ip + IPV4_OFF_CHECKSUM, checksumAdjust32(readU16(buf, ip + IPV4_OFF_CHECKSUM), old, address))
  const l4 = ip + ihl
  const oldPort = readU16(buf, l4 + portAt)
  writeU16(buf, l4 + portAt, port)
  if (protocol === IPPROTO_UDP) adjustL4(v, l4, protocol, old, address, oldPort, port)
}

/** Lower the MSS option of a SYN to `clamped` (what fits the provider MTU after encapsulation). */
export function clampMss(buf: Uint8Array, l4: number, end: number, clamped: number): void {
  if ((buf[l4 + 13]! & TCP_FLAG_SYN) === 0) return
  const headerEnd = l4 + ((buf[l4 + 12]! >>> 4) << 2)
  if (headerEnd > end) return
  let p = l4 + TCP_HEADER_LENGTH
  while (p < headerEnd) {
    const kind = buf[p]!
    if (kind === TCP_OPTION_EOL) return
    if (kind === TCP_OPTION_NOP) {
      p++
      continue
    }
    if (p + 1 >= headerEnd) return
    const length = buf[p + 1]!
    if (length < 2 || p + length > headerEnd) return
    if (kind === TCP_OPTION_MSS && length === TCP_OPTION_MSS_LENGTH) {
      const mss = readU16(buf, p + 2)
      if (mss > clamped) {
        writeU16(buf, p + 2, clamped)
        // The checksum sums 16-bit words from the header's start: a value at an odd offset
        // (after an odd-length option) counts with its bytes swapped.
        const odd = ((p - l4) & 1) !== 0
        const before = odd ? ((mss & 0xff) << 8) | (mss >>> 8) : mss
        const after = odd ? ((clamped & 0xff) << 8) | (clamped >>> 8) : clamped
        writeU16(buf, l4 + TCP_OFF_CHECKSUM, checksumAdjust16(readU16(buf, l4 + TCP_OFF_CHECKSUM), before, after))
      }
      return
    }
    p += length
  }
}
