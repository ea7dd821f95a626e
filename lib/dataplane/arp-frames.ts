/**
 * ARP on the packet path: the reply nvlb writes in place over a
 * request for one of its addresses, and the request it broadcasts for a
 * provider address whose MAC it needs.
 */
import { ARP_LENGTHS_ETHERNET_IPV4, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PACKET_LENGTH, ARP_WORD_ETHERNET_IPV4 } from '../packet/arp'
import { writeU16, writeU32 } from '../packet/bytes'
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_ARP } from '../packet/ethernet'
import { copyMac } from './mac'

/** Length of an ARP request frame. */
export const ARP_FRAME_LENGTH = ETHERNET_HEADER_LENGTH + ARP_PACKET_LENGTH

/** Turn the request at buf[eth..] (ARP at `arp`) into the reply from `ourMac`: Ethernet to the asker, sender and target swapped. */
export function writeArpReply(buf: Uint8Array, eth: number, arp: number, ourMac: Uint8Array, senderIp: number, targetIp: number): void {
  copyMac(buf, arp + 8, buf, eth)
  copyMac(ourMac, 0, buf, eth + 6)
  writeU16(buf, arp + 6, ARP_OP_REPLY)
  copyMac(buf, arp + 8, buf, arp + 18)
  writeU32(buf, arp + 24, senderIp)
  copyMac(ourMac, 0, buf, arp + 8)
  writeU32(buf, arp + 14, targetIp)
}

/** A broadcast request "who has `address`? tell `ourAddress`" at out[slot, slot + ARP_FRAME_LENGTH). */
export function writeArpRequest(out: Uint8Array, slot: number, ourMac: Uint8Array, ourAddress: number, address: number): void {
  out.fill(0xff, slot, slot + 6)
  copyMac(ourMac, 0, out, slot + 6)
  writeU16(out, slot + 12, ETHERTYPE_ARP)
  const arp = slot + ETHERNET_HEADER_LENGTH
  writeU32(out, arp, ARP_WORD_ETHERNET_IPV4)
  writeU16(out, arp + 4, ARP_LENGTHS_ETHERNET_IPV4)
  writeU16(out, arp + 6, ARP_OP_REQUEST)
  copyMac(ourMac, 0, out, arp + 8)
  writeU32(out, arp + 14, ourAddress)
  out.fill(0, arp + 18, arp + 24)
  writeU32(out, arp + 24, address)
}
