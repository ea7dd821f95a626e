/**
 * ICMP error translation (katran's handle_icmp): the header an
 * error quotes is parsed here, rewritten with nat-rewrite's rewriteQuoted,
 * and the ICMP checksum is computed again. Which flow the quote belongs to is
 * the engine's part.
 */
import { readI32, writeU16 } from '../packet/bytes'
import { checksum } from '../packet/checksum'
import { ICMP_HEADER_LENGTH, ICMP_TYPE_DEST_UNREACHABLE, ICMP_TYPE_TIME_EXCEEDED } from '../packet/icmp'
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_HEADER_LENGTH, IPV4_VERSION } from '../packet/ipv4'

/** parse() results that are not an offset. */
export const QUOTE_MALFORMED = -1
export const QUOTE_UNSUPPORTED = -2

/** The header an ICMP error quotes; parse() fills the fields. */
export class QuotedHeader {
  ihl = 0
  protocol = 0
  src = 0
  dst = 0
  /** The quoted ports the other way round: (dport << 16 | sport). */
  portsSwapped = 0

  /**
   * Offset of the quoted IPv4 header of a translatable ICMP error at
   * buf[icmp, end): QUOTE_MALFORMED when cut short or not IPv4,
   * QUOTE_UNSUPPORTED when the message is not one nvlb translates
   * (destination unreachable and time exceeded quoting TCP or UDP).
   */
  parse(buf: Uint8Array, icmp: number, end: number): number {
    if (icmp + ICMP_HEADER_LENGTH > end) return QUOTE_MALFORMED
    const type = buf[icmp]!
    if (type !== ICMP_TYPE_DEST_UNREACHABLE && type !== ICMP_TYPE_TIME_EXCEEDED) return QUOTE_UNSUPPORTED
    const quoted = icmp + ICMP_HEADER_LENGTH
    if (quoted + IPV4_HEADER_LENGTH > end || buf[quoted]! >> 4 !== IPV4_VERSION) return QUOTE_MALFORMED
    const ihl = (buf[quoted]! & 0x0f) << 2
    if (ihl < IPV4_HEADER_LENGTH || quoted + ihl + 8 > end) return QUOTE_MALFORMED
    const protocol = buf[quoted + 9]!
    if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return QUOTE_UNSUPPORTED
    const ports = readI32(buf, quoted + ihl)
    this.ihl = ihl
    this.protocol = protocol
    this.src = readI32(buf, quoted + 12)
    this.dst = readI32(buf, quoted + 16)
    this.portsSwapped = (ports << 16) | (ports >>> 16)
    return quoted
  }
}

/** The ICMP checksum over buf[icmp, icmp + length) after a translation. */
export function finishIcmp(buf: Uint8Array, icmp: number, length: number): void {
  writeU16(buf, icmp + 2, 0)
  writeU16(buf, icmp + 2, checksum(buf, icmp, length))
}
