import t from 'tap'
import fc from 'fast-check'
import * as arp from '../../lib/packet/arp'
import { parseIPv4, parseMac } from '../../lib/packet/address'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'

const codec: HeaderCodec<arp.ArpPacket> = { ...arp, create: arp.createArpPacket }

function request(): arp.ArpPacket {
  return {
    op: arp.ARP_OP_REQUEST,
    senderMac: parseMac('02:00:c0:a8:06:04')!,
    senderIp: parseIPv4('192.168.6.4'),
    targetMac: new Uint8Array(6),
    targetIp: parseIPv4('192.168.6.2'),
  }
}

t.test('constants', async (t) => {
  t.equal(arp.ARP_OP_REQUEST, 1)
  t.equal(arp.ARP_OP_REPLY, 2)
  t.equal(arp.ARP_PACKET_LENGTH, 28)
  t.equal(arp.ARP_HTYPE_ETHERNET, 1)
  t.equal(arp.ARP_PTYPE_IPV4, 0x0800)
})

t.test('request: exact bytes, round trip, truncation', async (t) => {
  const bytes = checkRoundTrip(t, codec, request())
  t.equal(
    bytes.toString('hex'),
    '0001' + '0800' + '06' + '04' + '0001' + '0200c0a80604' + 'c0a80604' + '000000000000' + 'c0a80602',
  )
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, request())
})

t.test('reply round trip', async (t) => {
  const reply = { ...request(), op: arp.ARP_OP_REPLY, targetMac: parseMac('02:00:c0:a8:06:02')! }
  checkRoundTrip(t, codec, reply)
})

t.test('only Ethernet/IPv4 ARP decodes', async (t) => {
  const good = Buffer.alloc(28)
  arp.encode(request(), good, 0)
  const out = arp.createArpPacket()
  t.equal(arp.decode(good, 0, out), 28)
  const cases: Array<[string, number, number]> = [
    ['hardware type 6 (IEEE 802)', 1, 6],
    ['hardware type high byte', 0, 1],
    ['protocol IPv6', 2, 0x86],
    ['protocol low byte', 3, 0x01],
    ['hardware length 8', 4, 8],
    ['protocol length 16', 5, 16],
  ]
  for (const [what, at, value] of cases) {
    const bad = Buffer.from(good)
    bad[at] = value
    t.equal(arp.decode(bad, 0, out), -1, what)
  }
})

t.test('trailing Ethernet padding is left alone', async (t) => {
  const buf = Buffer.alloc(46)
  arp.encode(request(), buf, 0)
  t.equal(arp.decode(buf, 0, arp.createArpPacket()), 28)
})

t.test('property: random packets round-trip; random bytes never throw', async (t) => {
  const arbPacket = fc.record({
    op: fc.nat(0xffff),
    senderMac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    senderIp: fc.nat(0xffffffff),
    targetMac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    targetIp: fc.nat(0xffffffff),
  })
  fc.assert(
    fc.property(arbPacket, fc.nat(16), (p, off) => {
      const buf = Buffer.alloc(off + 28)
      const out = arp.createArpPacket()
      return arp.encode(p, buf, off) === 28 && arp.decode(buf, off, out) === 28 && JSON.stringify(out) === JSON.stringify(p)
    }),
  )
  const out = arp.createArpPacket()
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(40), (bytes, off) => [-1, 28].includes(arp.decode(bytes, off, out))))
  t.pass('ok')
})
