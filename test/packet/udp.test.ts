import t from 'tap'
import fc from 'fast-check'
import * as udp from '../../lib/packet/udp'
import { parseIPv4 } from '../../lib/packet/address'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'
import { pseudoHeaderWords, referenceChecksum } from './reference-checksum'

const codec: HeaderCodec<udp.UdpHeader> = { ...udp, create: udp.createUdpHeader }
const SRC = parseIPv4('10.1.5.20')
const DST = parseIPv4('10.1.5.100')

t.test('header: exact bytes, round trip, truncation', async (t) => {
  t.equal(udp.UDP_HEADER_LENGTH, 8)
  const v = { srcPort: 53, dstPort: 33434, length: 108, checksum: 0 }
  const bytes = checkRoundTrip(t, codec, v)
  t.equal(bytes.toString('hex'), '0035' + '829a' + '006c' + '0000')
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
})

t.test('length below 8 is refused both ways; a length beyond the buffer is the caller\'s to check', async (t) => {
  const buf = Buffer.alloc(8)
  t.equal(udp.encode({ srcPort: 1, dstPort: 2, length: 7, checksum: 0 }, buf, 0), -1)
  t.equal(udp.encode({ srcPort: 1, dstPort: 2, length: 65536, checksum: 0 }, buf, 0), -1)
  buf.write('0001000200070000', 'hex')
  t.equal(udp.decode(buf, 0, udp.createUdpHeader()), -1)
  buf.write('0001000205dc0000', 'hex')
  const out = udp.createUdpHeader()
  t.equal(udp.decode(buf, 0, out), 8, 'first fragment: UDP length 1500 in 8 bytes decodes')
  t.equal(out.length, 1500)
})

t.test('checksum: pseudo-header, 0 means none, computed 0 goes out as 0xffff', async (t) => {
  const payload = Buffer.from('hello nvlb')
  const dgram = Buffer.alloc(8 + payload.length)
  udp.encode({ srcPort: 4000, dstPort: 53, length: dgram.length, checksum: 0 }, dgram, 0)
  payload.copy(dgram, 8)
  t.ok(udp.verifyUdpChecksum(dgram, 0, dgram.length, SRC, DST), 'no checksum: accepted')
  udp.writeUdpChecksum(dgram, 0, dgram.length, SRC, DST)
  t.equal(dgram.readUInt16BE(6), referenceChecksum(dgram, 6, pseudoHeaderWords(SRC, DST, 17, dgram.length)))
  t.ok(udp.verifyUdpChecksum(dgram, 0, dgram.length, SRC, DST))
  dgram[9] ^= 0x40
  t.notOk(udp.verifyUdpChecksum(dgram, 0, dgram.length, SRC, DST), 'payload change detected')
  t.notOk(udp.verifyUdpChecksum(dgram, 0, dgram.length + 1, SRC, DST), 'length beyond the buffer')

  // find a datagram whose checksum computes to 0: choose the last payload word to make it so
  const zero = Buffer.alloc(12)
  udp.encode({ srcPort: 1, dstPort: 2, length: 12, checksum: 0 }, zero, 0)
  const target = referenceChecksum(zero, 6, pseudoHeaderWords(SRC, DST, 17, 12))
  zero.writeUInt16BE(target, 8) // adding the checksum value as data makes the sum 0xffff
  t.equal(referenceChecksum(zero, 6, pseudoHeaderWords(SRC, DST, 17, 12)), 0, 'sum is zero')
  t.equal(udp.udpChecksum(zero, 0, 12, SRC, DST), 0xffff)
  udp.writeUdpChecksum(zero, 0, 12, SRC, DST)
  t.ok(udp.verifyUdpChecksum(zero, 0, 12, SRC, DST))
})

t.test('property: random headers round-trip; random bytes never throw', async (t) => {
  fc.assert(
    fc.property(
      fc.record({ srcPort: fc.nat(0xffff), dstPort: fc.nat(0xffff), length: fc.integer({ min: 8, max: 0xffff }), checksum: fc.nat(0xffff) }),
      fc.nat(20),
      (v, off) => {
        const buf = Buffer.alloc(off + 8)
        const out = udp.createUdpHeader()
        return udp.encode(v, buf, off) === 8 && udp.decode(buf, off, out) === 8 && JSON.stringify(out) === JSON.stringify(v)
      },
    ),
  )
  const out = udp.createUdpHeader()
  fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), fc.integer({ min: -1, max: 20 }), (b, off) => [-1, 8].includes(udp.decode(b, off, out))))
  t.pass('ok')
})
