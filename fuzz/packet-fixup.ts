/**
 * The fuzzer's custom mutator step (libFuzzer's LLVMFuzzerCustomMutator idea): after a byte
 * mutation, make lengths and checksums consistent again some of the time, so that mutated
 * frames get past the header checks and reach the code behind them.
 */
import { sum, u16 } from './invariants'

function w16(b: Uint8Array, p: number, v: number): void {
  b[p] = (v >>> 8) & 0xff
  b[p + 1] = v & 0xff
}

/** Rewrites the IPv4 header checksum (and, when `lengths`, the total length) of the packet at `ip`; returns its end or -1. */
function fixIp(f: Uint8Array, ip: number, end: number, lengths: boolean): number {
  if (ip + 20 > end || f[ip]! >> 4 !== 4) return -1
  const ihl = (f[ip]! & 15) << 2
  if (ihl < 20 || ip + ihl > end) return -1
  if (lengths) w16(f, ip + 2, end - ip)
  const total = u16(f, ip + 2)
  f[ip + 10] = 0
  f[ip + 11] = 0
  w16(f, ip + 10, ~sum(f, ip, ihl, 0) & 0xffff)
  return ip + total <= end && total >= ihl ? ip + total : -1
}

/** The TCP/UDP/ICMP checksum (and the UDP length when `lengths`) of the unfragmented packet at `ip`. */
function fixL4(f: Uint8Array, ip: number, end: number, lengths: boolean): void {
  const ihl = (f[ip]! & 15) << 2
  if ((u16(f, ip + 6) & 0x3fff) !== 0) return
  const l4 = ip + ihl
  const l4Length = end - l4
  const protocol = f[ip + 9]!
  const pseudo = sum(f, ip + 12, 8, protocol + l4Length)
  if (protocol === 6 && l4Length >= 20) {
    w16(f, l4 + 16, 0)
    w16(f, l4 + 16, ~sum(f, l4, l4Length, pseudo) & 0xffff)
  } else if (protocol === 17 && l4Length >= 8) {
    if (lengths) w16(f, l4 + 4, l4Length)
    w16(f, l4 + 6, 0)
    const c = ~sum(f, l4, l4Length, pseudo) & 0xffff
    w16(f, l4 + 6, c === 0 ? 0xffff : c)
  } else if (protocol === 1 && l4Length >= 8) {
    w16(f, l4 + 2, 0)
    w16(f, l4 + 2, ~sum(f, l4, l4Length, 0) & 0xffff)
  }
}

/**
 * In place: IPv4 header checksums (outer, and inner for GRE) and the customer packet's L4
 * checksum; with `lengths`, also the IPv4 total lengths and the UDP length from the frame size.
 */
export function fixupFrame(f: Uint8Array, lengths: boolean): void {
  if (f.length < 34) return
  let l2 = 14
  let et = u16(f, 12)
  if (et === 0x8100) {
    et = u16(f, 16)
    l2 = 18
  }
  if (et !== 0x0800) return
  const end = fixIp(f, l2, f.length, lengths)
  if (end < 0) return
  if (f[l2 + 9] === 47) {
    const gre = l2 + ((f[l2]! & 15) << 2)
    const iip = gre + 8 + 14
    if (iip + 20 > end || u16(f, iip - 2) !== 0x0800) return
    const iend = fixIp(f, iip, end, lengths)
    if (iend >= 0) fixL4(f, iip, iend, lengths)
    return
  }
  fixL4(f, l2, end, lengths)
}
