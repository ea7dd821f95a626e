/**
 * ARP for Ethernet and IPv4 (RFC 826), the only combination nvlb speaks.
 * Codec convention: see ethernet.ts. IPv4 addresses are unsigned 32-bit numbers.
 */

import { readU32, writeU32 } from './bytes'

export const ARP_PACKET_LENGTH = 28
export const ARP_HTYPE_ETHERNET = 1
export const ARP_PTYPE_IPV4 = 0x0800
export const ARP_HLEN_ETHERNET = 6
export const ARP_PLEN_IPV4 = 4
/** The first word of an Ethernet/IPv4 ARP packet (hardware type << 16 | protocol type). */
export const ARP_WORD_ETHERNET_IPV4 = (ARP_HTYPE_ETHERNET << 16) | ARP_PTYPE_IPV4
/** Its address lengths (hardware << 8 | protocol). */
export const ARP_LENGTHS_ETHERNET_IPV4 = (ARP_HLEN_ETHERNET << 8) | ARP_PLEN_IPV4
export const ARP_OP_REQUEST = 1
export const ARP_OP_REPLY = 2

export const ARP_OFF_OP = 6
export const ARP_OFF_SENDER_MAC = 8
export const ARP_OFF_SENDER_IP = 14
export const ARP_OFF_TARGET_MAC = 18
export const ARP_OFF_TARGET_IP = 24

export interface ArpPacket {
  op: number
  senderMac: Uint8Array
  senderIp: number
  targetMac: Uint8Array
  targetIp: number
}

export function createArpPacket(): ArpPacket {
  return { op: 0, senderMac: new Uint8Array(6), senderIp: 0, targetMac: new Uint8Array(6), targetIp: 0 }
}

export function encodingLength(_v: ArpPacket): number {
  return ARP_PACKET_LENGTH
}

export function encode(v: ArpPacket, buf: Uint8Array, off: number): number {
  if (off < 0 || off + ARP_PACKET_LENGTH > buf.length) return -1
  if (v.senderMac.length !== 6 || v.targetMac.length !== 6) return -1
  buf[off] = 0
  buf[off + 1] = ARP_HTYPE_ETHERNET
  buf[off + 2] = ARP_PTYPE_IPV4 >>> 8
  buf[off + 3] = ARP_PTYPE_IPV4 & 0xff
  buf[off + 4] = ARP_HLEN_ETHERNET
  buf[off + 5] = ARP_PLEN_IPV4
  buf[off + ARP_OFF_OP] = (v.op >>> 8) & 0xff
  buf[off + ARP_OFF_OP + 1] = v.op & 0xff
  for (let i = 0; i < 6; i++) {
    buf[off + ARP_OFF_SENDER_MAC + i] = v.senderMac[i]!
    buf[off + ARP_OFF_TARGET_MAC + i] = v.targetMac[i]!
  }
  writeU32(buf, off + ARP_OFF_SENDER_IP, v.senderIp)
  writeU32(buf, off + ARP_OFF_TARGET_IP, v.targetIp)
  return ARP_PACKET_LENGTH
}

/** -1 when truncated or not Ethernet/IPv4 ARP. Trailing padding is not consumed. */
export function decode(buf: Uint8Array, off: number, out: ArpPacket): number {
  if (off < 0 || off + ARP_PACKET_LENGTH > buf.length) return -1
  if (buf[off] !== 0 || buf[off + 1] !== ARP_HTYPE_ETHERNET) return -1
  if (buf[off + 2] !== ARP_PTYPE_IPV4 >>> 8 || buf[off + 3] !== (ARP_PTYPE_IPV4 & 0xff)) return -1
  if (buf[off + 4] !== ARP_HLEN_ETHERNET || buf[off + 5] !== ARP_PLEN_IPV4) return -1
  out.op = (buf[off + ARP_OFF_OP]! << 8) | buf[off + ARP_OFF_OP + 1]!
  for (let i = 0; i < 6; i++) {
    out.senderMac[i] = buf[off + ARP_OFF_SENDER_MAC + i]!
    out.targetMac[i] = buf[off + ARP_OFF_TARGET_MAC + i]!
  }
  out.senderIp = readU32(buf, off + ARP_OFF_SENDER_IP)
  out.targetIp = readU32(buf, off + ARP_OFF_TARGET_IP)
  return ARP_PACKET_LENGTH
}
