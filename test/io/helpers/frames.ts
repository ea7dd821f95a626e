import { checksum, onesSum, pseudoHeaderSum } from '../../../lib/packet/checksum'
import { parseIPv4, parseMac } from '../../../lib/packet/address'

/** A test-only ethertype (IEEE local experimental) for frames the engine never sees. */
export const ETHERTYPE_TEST = 0x88b5

export function mac(text: string): Buffer {
  const m = parseMac(text)
  if (m === null) throw new Error(`bad MAC ${text}`)
  return Buffer.from(m)
}

/** An Ethernet frame of the test ethertype carrying a marker and a sequence number, `length` bytes long. */
export function testFrame(marker: number, sequence: number, length: number): Buffer {
  const frame = Buffer.alloc(length)
  mac('02:00:00:00:aa:01').copy(frame, 0)
  mac('02:00:00:00:aa:02').copy(frame, 6)
  frame.writeUInt16BE(ETHERTYPE_TEST, 12)
  frame.writeUInt32BE(marker >>> 0, 14)
  frame.writeUInt32BE(sequence, 18)
  for (let i = 22; i < length; i++) frame[i] = (sequence * 7 + i) & 0xff
  return frame
}

export function isTestFrame(buf: Buffer, off: number, len: number, marker: number): boolean {
  return len >= 22 && buf.readUInt16BE(off + 12) === ETHERTYPE_TEST && buf.readUInt32BE(off + 14) === marker >>> 0
}

export interface Udp {
  src: string
  dst: string
  sport: number
  dport: number
  payload?: Buffer
  protocol?: 6 | 17
  fragment?: number
}

/** IPv4 + UDP (or a bare 20-byte TCP header when protocol 6) packet with valid checksums. */
export function ipPacket(p: Udp): Buffer {
  const payload = p.payload ?? Buffer.from('nvlb')
  const protocol = p.protocol ?? 17
  const l4Length = (protocol === 6 ? 20 : 8) + payload.length
  const packet = Buffer.alloc(20 + l4Length)
  packet[0] = 0x45
  packet.writeUInt16BE(packet.length, 2)
  packet.writeUInt16BE(0x1234, 4)
  packet.writeUInt16BE(p.fragment ?? 0x4000, 6)
  packet[8] = 64
  packet[9] = protocol
  packet.writeUInt32BE(parseIPv4(p.src) >>> 0, 12)
  packet.writeUInt32BE(parseIPv4(p.dst) >>> 0, 16)
  packet.writeUInt16BE(checksum(packet, 0, 20), 10)
  const l4 = packet.subarray(20)
  l4.writeUInt16BE(p.sport, 0)
  l4.writeUInt16BE(p.dport, 2)
  if (protocol === 17) {
    l4.writeUInt16BE(l4Length, 4)
    payload.copy(l4, 8)
  } else {
    l4.writeUInt32BE(1000, 4)
    l4[12] = 0x50
    l4[13] = 0x02 // SYN
    l4.writeUInt16BE(65535, 14)
    payload.copy(l4, 20)
  }
  const sum = onesSum(l4, 0, l4Length, pseudoHeaderSum(parseIPv4(p.src) >>> 0, parseIPv4(p.dst) >>> 0, protocol, l4Length))
  const csum = ~sum & 0xffff
  l4.writeUInt16BE(protocol === 17 && csum === 0 ? 0xffff : csum, protocol === 17 ? 6 : 16)
  return packet
}

export function ethernet(dst: string, src: string, ethertype: number, payload: Buffer): Buffer {
  const frame = Buffer.alloc(14 + payload.length)
  mac(dst).copy(frame, 0)
  mac(src).copy(frame, 6)
  frame.writeUInt16BE(ethertype, 12)
  payload.copy(frame, 14)
  return frame
}

/** NVGRE: outer IPv4 (protocol 47) from `outerSrc` to `outerDst`, GRE key vsid << 8, inner Ethernet + `inner`. */
export function nvgre(outerSrc: string, outerDst: string, vsid: number, innerDst: string, innerSrc: string, inner: Buffer): Buffer {
  const innerFrame = ethernet(innerDst, innerSrc, 0x0800, inner)
  const packet = Buffer.alloc(20 + 8 + innerFrame.length)
  packet[0] = 0x45
  packet.writeUInt16BE(packet.length, 2)
  packet.writeUInt16BE(0x4000, 6)
  packet[8] = 64
  packet[9] = 47
  packet.writeUInt32BE(parseIPv4(outerSrc) >>> 0, 12)
  packet.writeUInt32BE(parseIPv4(outerDst) >>> 0, 16)
  packet.writeUInt16BE(checksum(packet, 0, 20), 10)
  packet.writeUInt16BE(0x2000, 20)
  packet.writeUInt16BE(0x6558, 22)
  packet.writeUInt32BE(((vsid << 8) >>> 0) | 0, 24)
  innerFrame.copy(packet, 28)
  return packet
}

/** IPv4 + ICMP error (`type`, `code`) quoting `quoted` (an IP packet, quoted whole). */
export function icmpError(src: string, dst: string, type: number, code: number, quoted: Buffer): Buffer {
  const packet = Buffer.alloc(20 + 8 + quoted.length)
  packet[0] = 0x45
  packet.writeUInt16BE(packet.length, 2)
  packet[8] = 64
  packet[9] = 1
  packet.writeUInt32BE(parseIPv4(src) >>> 0, 12)
  packet.writeUInt32BE(parseIPv4(dst) >>> 0, 16)
  packet.writeUInt16BE(checksum(packet, 0, 20), 10)
  packet[20] = type
  packet[21] = code
  if (type === 3 && code === 4) packet.writeUInt16BE(1400, 26)
  quoted.copy(packet, 28)
  packet.writeUInt16BE(checksum(packet, 20, packet.length - 20), 22)
  return packet
}

/**
 * Splits an IPv4 packet (20-byte header) into fragments carrying at most
 * `chunk` payload bytes each (a multiple of 8), with IP id `id`.
 */
export function fragments(packet: Buffer, chunk: number, id: number): Buffer[] {
  if (chunk % 8 !== 0) throw new Error('fragment payload must be a multiple of 8')
  const payload = packet.subarray(20)
  const out: Buffer[] = []
  for (let at = 0; at < payload.length; at += chunk) {
    const part = payload.subarray(at, Math.min(payload.length, at + chunk))
    const f = Buffer.alloc(20 + part.length)
    packet.copy(f, 0, 0, 20)
    part.copy(f, 20)
    f.writeUInt16BE(f.length, 2)
    f.writeUInt16BE(id & 0xffff, 4)
    const more = at + chunk < payload.length ? 0x2000 : 0
    f.writeUInt16BE(more | (at >> 3), 6)
    f.writeUInt16BE(0, 10)
    f.writeUInt16BE(checksum(f, 0, 20), 10)
    out.push(f)
  }
  return out
}
