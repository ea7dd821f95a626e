import t from 'tap'
import fc from 'fast-check'
import {
  checksum,
  checksumAdjust16,
  checksumAdjust32,
  onesSum,
  pseudoHeaderSum,
} from '../../lib/packet/checksum'
import { pseudoHeaderWords, referenceChecksum, referenceSum } from './reference-checksum'

t.test('RFC 1071 §3 example: sum ddf2, checksum 220d', async (t) => {
  const bytes = Buffer.from('0001f203f4f5f6f7', 'hex')
  t.equal(onesSum(bytes, 0, bytes.length), 0xddf2)
  t.equal(checksum(bytes, 0, bytes.length), 0x220d)
})

t.test('a captured IPv4 header checks out', async (t) => {
  // 192.168.0.1 -> 192.168.0.199, UDP, checksum b861
  const header = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex')
  t.equal(checksum(header, 0, 20), 0xb861)
  header.writeUInt16BE(0xb861, 10)
  t.equal(onesSum(header, 0, 20), 0xffff, 'a valid header sums to 0xffff')
})

t.test('odd lengths pad with a zero byte; offsets are honoured', async (t) => {
  const bytes = Buffer.from('ff01020304', 'hex')
  t.equal(onesSum(bytes, 1, 3), 0x0102 + 0x0300)
  t.equal(onesSum(bytes, 0, 0), 0)
  t.equal(onesSum(bytes, 0, 0, 0x1234), 0x1234, 'an empty range keeps the initial sum')
  t.equal(onesSum(Buffer.from('ffff', 'hex'), 0, 2, 0xffff), 0xffff, 'carries fold back in')
})

t.test('property: onesSum and checksum equal the reference on random data and offsets', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(20), fc.nat(0xffff), (bytes, off, initial) => {
      const buf = Buffer.alloc(off + bytes.length, 0x5a)
      buf.set(bytes, off)
      const expectedSum = referenceSum(bytes, [initial])
      return (
        onesSum(buf, off, bytes.length, initial) === expectedSum &&
        checksum(buf, off, bytes.length, initial) === (0xffff - expectedSum)
      )
    }),
  )
  t.pass('matches')
})

t.test('property: pseudoHeaderSum equals the reference', async (t) => {
  fc.assert(
    fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.constantFrom(6, 17, 1, 47), fc.nat(0xffff), (src, dst, p, len) => {
      return pseudoHeaderSum(src, dst, p, len) === referenceSum(new Uint8Array(0), pseudoHeaderWords(src, dst, p, len))
    }),
  )
  t.pass('matches')
})

// Data whose first word is not zero: the full recompute of all-zero data is 0xffff where
// RFC 1624 eqn. 3 gives 0 (both "zero" in one's complement), so that case is left out.
const arbData = fc
  .tuple(fc.integer({ min: 1, max: 0xffff }), fc.uint8Array({ minLength: 4, maxLength: 200 }))
  .map(([first, rest]) => {
    const buf = Buffer.alloc(2 + rest.length + (rest.length % 2))
    buf.writeUInt16BE(first, 0)
    buf.set(rest, 2)
    return buf
  })

t.test('property: RFC 1624 incremental update of a 16-bit word == full recompute', async (t) => {
  fc.assert(
    fc.property(arbData, fc.nat(), fc.nat(0xffff), (data, index, newWord) => {
      const words = data.length / 2
      const at = 2 * (1 + (index % (words - 1)))
      const before = checksum(data, 0, data.length)
      const oldWord = data.readUInt16BE(at)
      data.writeUInt16BE(newWord, at)
      const full = checksum(data, 0, data.length)
      return checksumAdjust16(before, oldWord, newWord) === full && full === referenceChecksum(data, -1)
    }),
  )
  t.pass('incremental equals full')
})

t.test('property: RFC 1624 incremental update of a 32-bit value == full recompute', async (t) => {
  fc.assert(
    fc.property(arbData, fc.nat(), fc.nat(0xffffffff), (data, index, newValue) => {
      fc.pre(data.length >= 6)
      const words = data.length / 2
      const at = 2 * (1 + (index % (words - 2)))
      const before = checksum(data, 0, data.length)
      const oldValue = data.readUInt32BE(at)
      data.writeUInt32BE(newValue, at)
      return checksumAdjust32(before, oldValue, newValue) === checksum(data, 0, data.length)
    }),
  )
  t.pass('incremental equals full')
})

t.test('property: NAT of an IPv4 header and TCP segment, incrementally == recomputed', async (t) => {
  fc.assert(
    fc.property(
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      fc.nat(0xffff),
      fc.nat(0xffff),
      fc.uint8Array({ maxLength: 64 }),
      (src, dst, newDst, port, newPort, payload) => {
        const ip = Buffer.from('4500003c1c464000400600000000000000000000', 'hex')
        ip.writeUInt32BE(src, 12)
        ip.writeUInt32BE(dst, 16)
        ip.writeUInt16BE(checksum(ip, 0, 20), 10)
        const segment = Buffer.alloc(20 + payload.length)
        segment.writeUInt16BE(40000, 0)
        segment.writeUInt16BE(port, 2)
        segment[12] = 0x50
        segment.set(payload, 20)
        const tcpSum = (s: number, d: number): number => checksum(segment, 0, segment.length, pseudoHeaderSum(s, d, 6, segment.length))
        segment.writeUInt16BE(tcpSum(src, dst), 16)
        // rewrite the destination address and port the way the engine does
        const ipCheck = checksumAdjust32(ip.readUInt16BE(10), dst, newDst)
        let tcpCheck = checksumAdjust32(segment.readUInt16BE(16), dst, newDst)
        tcpCheck = checksumAdjust16(tcpCheck, port, newPort)
        ip.writeUInt32BE(newDst, 16)
        ip.writeUInt16BE(0, 10)
        segment.writeUInt16BE(newPort, 2)
        segment.writeUInt16BE(0, 16)
        return ipCheck === checksum(ip, 0, 20) && tcpCheck === tcpSum(src, newDst)
      },
    ),
  )
  t.pass('NAT checksums agree')
})
