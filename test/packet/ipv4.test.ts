import t from 'tap'
import fc from 'fast-check'
import * as ipv4 from '../../lib/packet/ipv4'
import { parseIPv4 } from '../../lib/packet/address'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'
import { referenceChecksum } from './reference-checksum'

const codec: HeaderCodec<ipv4.Ipv4Header> = { ...ipv4, create: ipv4.createIpv4Header }

function header(fields: Partial<ipv4.Ipv4Header> = {}): ipv4.Ipv4Header {
  return {
    ...ipv4.createIpv4Header(),
    totalLength: 40,
    id: 0x1c46,
    df: true,
    ttl: 64,
    protocol: ipv4.IPPROTO_TCP,
    src: parseIPv4('198.51.100.10'),
    dst: parseIPv4('203.0.113.10'),
    ...fields,
  }
}

/** What decode returns for a value encode wrote: the computed checksum, marked valid. */
function decoded(v: ipv4.Ipv4Header, bytes: Uint8Array): ipv4.Ipv4Header {
  return {
    ...v,
    headerLength: ipv4.encodingLength(v),
    checksum: (bytes[10]! << 8) | bytes[11]!,
    checksumValid: true,
  }
}

t.test('constants', async (t) => {
  t.equal(ipv4.IPPROTO_ICMP, 1)
  t.equal(ipv4.IPPROTO_TCP, 6)
  t.equal(ipv4.IPPROTO_UDP, 17)
  t.equal(ipv4.IPPROTO_GRE, 47)
  t.equal(ipv4.IPV4_FLAG_DF, 0x4000)
  t.equal(ipv4.IPV4_FLAG_MF, 0x2000)
  t.equal(ipv4.IPV4_HEADER_LENGTH, 20)
  t.equal(ipv4.IPV4_MAX_HEADER_LENGTH, 60)
})

t.test('plain header: exact bytes, checksum, round trip at offsets 0 and 7', async (t) => {
  const v = header()
  const bytes = Buffer.alloc(40)
  t.equal(ipv4.encode(v, bytes, 0), 20)
  t.equal(
    bytes.subarray(0, 20).toString('hex').replace(/^(.{20})..../, '$1XXXX'),
    '45000028' + '1c46' + '4000' + '40' + '06' + 'XXXX' + 'c633640a' + 'cb00710a',
  )
  t.equal(bytes.readUInt16BE(10), referenceChecksum(bytes.subarray(0, 20), 10), 'checksum equals an independent recompute')
  const expected = decoded(v, bytes)
  checkRoundTrip(t, codec, v, { trailing: 20, expected })
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
})

t.test('options are copied, padded, and counted in IHL', async (t) => {
  const v = header({ totalLength: 32 })
  // router alert (RFC 2113): 94 04 00 00, then a NOP + 3 bytes EOL padding
  v.options.set([0x94, 0x04, 0x00, 0x00, 0x01])
  v.optionsLength = 5
  t.equal(ipv4.encodingLength(v), 28)
  const bytes = Buffer.alloc(32)
  t.equal(ipv4.encode(v, bytes, 0), 28)
  t.equal(bytes[0], 0x47, 'IHL 7')
  t.equal(bytes.subarray(20, 28).toString('hex'), '9404000001000000')
  const expected = decoded({ ...v, optionsLength: 8 }, bytes)
  checkRoundTrip(t, codec, v, { trailing: 4, expected })
  checkTruncation(t, codec, bytes)
  const out = ipv4.createIpv4Header()
  t.equal(ipv4.decode(bytes, 0, out), 28)
  t.equal(out.optionsLength, 8)
  t.same(Array.from(out.options.subarray(0, 8)), [0x94, 0x04, 0, 0, 1, 0, 0, 0])
})

t.test('40 bytes of options (IHL 15) is the maximum', async (t) => {
  const v = header({ totalLength: 60 })
  v.options.fill(1)
  v.optionsLength = 40
  checkRoundTrip(t, codec, v, { expected: decoded(v, encodeOnce(v)) })
  const tooMany = { ...v, options: new Uint8Array(44), optionsLength: 41 }
  t.equal(ipv4.encode(tooMany, Buffer.alloc(100), 0), -1)
})

function encodeOnce(v: ipv4.Ipv4Header): Buffer {
  const buf = Buffer.alloc(v.totalLength)
  ipv4.encode(v, buf, 0)
  return buf
}

t.test('fragment fields', async (t) => {
  const first = header({ df: false, mf: true, fragmentOffset: 0, totalLength: 1500 })
  const last = header({ df: false, mf: false, fragmentOffset: 185, totalLength: 100 })
  for (const v of [first, last]) {
    const bytes = encodeOnce(v)
    checkRoundTrip(t, codec, v, { trailing: v.totalLength - 20, expected: decoded(v, bytes) })
  }
  t.equal(encodeOnce(first).readUInt16BE(6), 0x2000)
  t.equal(encodeOnce(last).readUInt16BE(6), 185)
  const out = ipv4.createIpv4Header()
  ipv4.decode(encodeOnce(first), 0, out)
  t.ok(ipv4.isFragment(out), 'MF set: a fragment')
  ipv4.decode(encodeOnce(last), 0, out)
  t.ok(ipv4.isFragment(out), 'offset set: a fragment')
  ipv4.decode(encodeOnce(header()), 0, out)
  t.notOk(ipv4.isFragment(out), 'DF only: not a fragment')
})

t.test('decode rejects', async (t) => {
  const good = encodeOnce(header())
  const out = ipv4.createIpv4Header()
  t.equal(ipv4.decode(good, 0, out), 20)
  const version6 = Buffer.from(good)
  version6[0] = 0x65
  t.equal(ipv4.decode(version6, 0, out), -1, 'version 6')
  for (const ihl of [0, 1, 4]) {
    const short = Buffer.from(good)
    short[0] = 0x40 | ihl
    t.equal(ipv4.decode(short, 0, out), -1, `IHL ${ihl}`)
  }
  const longIhl = Buffer.from(good)
  longIhl[0] = 0x4f
  t.equal(ipv4.decode(longIhl, 0, out), -1, 'IHL 15 with total length 40')
  const smallTotal = Buffer.from(good)
  smallTotal.writeUInt16BE(19, 2)
  t.equal(ipv4.decode(smallTotal, 0, out), -1, 'total length below header length')
  const bigTotal = Buffer.from(good)
  bigTotal.writeUInt16BE(41, 2)
  t.equal(ipv4.decode(bigTotal, 0, out), -1, 'total length beyond the buffer')
  t.equal(ipv4.decode(good, -1, out), -1, 'negative offset')
})

t.test('a bad checksum decodes, reported invalid', async (t) => {
  const bytes = encodeOnce(header())
  bytes[11] ^= 0x01
  const out = ipv4.createIpv4Header()
  t.equal(ipv4.decode(bytes, 0, out), 20)
  t.equal(out.checksumValid, false)
  t.notOk(ipv4.verifyHeaderChecksum(bytes, 0, 20))
  ipv4.writeHeaderChecksum(bytes, 0, 20)
  t.ok(ipv4.verifyHeaderChecksum(bytes, 0, 20))
  t.equal(bytes.readUInt16BE(10), referenceChecksum(bytes.subarray(0, 20), 10))
})

t.test('encode refuses impossible values and never writes out of bounds', async (t) => {
  const buf = Buffer.alloc(60)
  t.equal(ipv4.encode(header({ totalLength: 19 }), buf, 0), -1, 'total length < header')
  t.equal(ipv4.encode(header({ totalLength: 65536 }), buf, 0), -1, 'total length > 65535')
  t.equal(ipv4.encode(header(), buf, 41), -1, 'does not fit at 41')
  t.equal(ipv4.encode(header(), buf, 40), 20, 'fits at 40')
})

const arbHeader = fc
  .record({
    dscp: fc.nat(63),
    ecn: fc.nat(3),
    payload: fc.nat(100),
    id: fc.nat(0xffff),
    df: fc.boolean(),
    mf: fc.boolean(),
    fragmentOffset: fc.nat(0x1fff),
    ttl: fc.nat(255),
    protocol: fc.nat(255),
    src: fc.nat(0xffffffff),
    dst: fc.nat(0xffffffff),
    optionWords: fc.nat(10),
    optionByte: fc.nat(255),
  })
  .map((r) => {
    const v = ipv4.createIpv4Header()
    const optionsLength = r.optionWords * 4
    v.options.fill(r.optionByte, 0, optionsLength)
    Object.assign(v, {
      dscp: r.dscp,
      ecn: r.ecn,
      totalLength: 20 + optionsLength + r.payload,
      id: r.id,
      df: r.df,
      mf: r.mf,
      fragmentOffset: r.fragmentOffset,
      ttl: r.ttl,
      protocol: r.protocol,
      src: r.src,
      dst: r.dst,
      optionsLength,
      headerLength: 20 + optionsLength,
      checksumValid: true,
    })
    return v
  })

t.test('property: random headers round-trip at a random offset', async (t) => {
  fc.assert(
    fc.property(arbHeader, fc.nat(30), (v, off) => {
      const buf = Buffer.alloc(off + v.totalLength)
      const n = ipv4.encode(v, buf, off)
      const out = ipv4.createIpv4Header()
      if (n !== v.headerLength || ipv4.decode(buf, off, out) !== n) return false
      v.checksum = buf.readUInt16BE(off + 10)
      return JSON.stringify(out) === JSON.stringify(v) && v.checksum === referenceChecksum(buf.subarray(off, off + n), 10)
    }),
  )
  t.pass('round-trips')
})

t.test('property: random bytes never throw', async (t) => {
  const out = ipv4.createIpv4Header()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -2, max: 80 }), (bytes, off) => {
      const n = ipv4.decode(bytes, off, out)
      return n === -1 || (n >= 20 && n <= 60 && n % 4 === 0)
    }),
  )
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }).map((b) => {
        if (b.length > 0) b[0] = 0x40 | (b[0]! & 0x0f)
        return b
      }),
      (bytes) => {
        const n = ipv4.decode(bytes, 0, out)
        return n === -1 || (n <= bytes.length && out.totalLength <= bytes.length)
      },
    ),
  )
  t.pass('no throw')
})
