import t from 'tap'
import fc from 'fast-check'
import * as icmp from '../../lib/packet/icmp'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'
import { referenceChecksum } from './reference-checksum'

const codec: HeaderCodec<icmp.IcmpHeader> = { ...icmp, create: icmp.createIcmpHeader }

function header(fields: Partial<icmp.IcmpHeader>): icmp.IcmpHeader {
  return { ...icmp.createIcmpHeader(), ...fields }
}

t.test('constants', async (t) => {
  t.equal(icmp.ICMP_TYPE_ECHO_REPLY, 0)
  t.equal(icmp.ICMP_TYPE_DEST_UNREACHABLE, 3)
  t.equal(icmp.ICMP_TYPE_ECHO_REQUEST, 8)
  t.equal(icmp.ICMP_TYPE_TIME_EXCEEDED, 11)
  t.equal(icmp.ICMP_CODE_FRAGMENTATION_NEEDED, 4)
  t.equal(icmp.ICMP_HEADER_LENGTH, 8)
})

t.test('echo request: id and seq', async (t) => {
  const v = header({ type: icmp.ICMP_TYPE_ECHO_REQUEST, id: 0x1234, seq: 7, checksum: 0xabcd })
  const expected = { ...v, rest: 0x12340007, nextHopMtu: 7 }
  const bytes = checkRoundTrip(t, codec, v, { expected })
  t.equal(bytes.toString('hex'), '0800abcd12340007')
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
  const out = icmp.createIcmpHeader()
  icmp.decode(bytes, 0, out)
  t.equal(out.quotedOffset, -1, 'no quote in an echo')
})

t.test('fragmentation needed: next-hop MTU and the quoted datagram offset', async (t) => {
  const v = header({ type: 3, code: 4, nextHopMtu: 1458 })
  const bytes = checkRoundTrip(t, codec, v, { expected: { ...v, rest: 1458, seq: 1458, quotedOffset: 8 }, offsets: [0] })
  t.equal(bytes.toString('hex'), '0304000000' + '0005b2')
  const out = icmp.createIcmpHeader()
  const buf = Buffer.alloc(40)
  bytes.copy(buf, 5)
  t.equal(icmp.decode(buf, 5, out), 8)
  t.equal(out.quotedOffset, 13, 'absolute offset of the quoted IP header')
  t.equal(out.nextHopMtu, 1458)
})

t.test('time exceeded, port unreachable, parameter problem, redirect quote; others do not', async (t) => {
  const out = icmp.createIcmpHeader()
  const buf = Buffer.alloc(8)
  for (const type of [3, 4, 5, 11, 12]) {
    buf[0] = type
    icmp.decode(buf, 0, out)
    t.equal(out.quotedOffset, 8, `type ${type}`)
    t.ok(icmp.isIcmpError(type))
  }
  for (const type of [0, 8, 13, 14, 42]) {
    buf[0] = type
    icmp.decode(buf, 0, out)
    t.equal(out.quotedOffset, -1, `type ${type}`)
    t.notOk(icmp.isIcmpError(type))
  }
})

t.test('other types keep the raw rest-of-header', async (t) => {
  const v = header({ type: 12, code: 0, rest: 0x14000000 })
  checkRoundTrip(t, codec, v, { expected: { ...v, id: 0x1400, seq: 0, nextHopMtu: 0, quotedOffset: 8 }, offsets: [0] })
})

t.test('checksum over the whole message', async (t) => {
  const msg = Buffer.alloc(8 + 28)
  icmp.encode(header({ type: 11, code: 0 }), msg, 0)
  msg.fill(0x45, 8, 9)
  msg.fill(0x77, 9)
  icmp.writeIcmpChecksum(msg, 0, msg.length)
  t.equal(msg.readUInt16BE(2), referenceChecksum(msg, 2))
  t.ok(icmp.verifyIcmpChecksum(msg, 0, msg.length))
  msg[20] ^= 1
  t.notOk(icmp.verifyIcmpChecksum(msg, 0, msg.length))
  t.notOk(icmp.verifyIcmpChecksum(msg, 0, msg.length + 1))
  const zeros = Buffer.alloc(8)
  t.equal(icmp.icmpChecksum(zeros, 0, 8), 0xffff, 'all-zero message: 0xffff, which verifies')
  icmp.writeIcmpChecksum(zeros, 0, 8)
  t.ok(icmp.verifyIcmpChecksum(zeros, 0, 8))
})

t.test('property: random headers round-trip; random bytes never throw', async (t) => {
  fc.assert(
    fc.property(fc.nat(255), fc.nat(255), fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(20), (type, code, checksum, rest, off) => {
      const v = header({ type, code, checksum, rest })
      v.id = rest >>> 16
      v.seq = rest & 0xffff
      v.nextHopMtu = rest & 0xffff
      if (type === 3 && code === 4) v.rest = v.nextHopMtu
      v.id = v.rest >>> 16
      v.quotedOffset = icmp.isIcmpError(type) ? off + 8 : -1
      const buf = Buffer.alloc(off + 8)
      const out = icmp.createIcmpHeader()
      return icmp.encode(v, buf, off) === 8 && icmp.decode(buf, off, out) === 8 && JSON.stringify(out) === JSON.stringify(v)
    }),
  )
  const out = icmp.createIcmpHeader()
  fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), fc.integer({ min: -1, max: 20 }), (b, off) => [-1, 8].includes(icmp.decode(b, off, out))))
  t.pass('ok')
})
