import t from 'tap'
import fc from 'fast-check'
import * as ethernet from '../../lib/packet/ethernet'
import { parseMac } from '../../lib/packet/address'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'

const codec: HeaderCodec<ethernet.EthernetHeader> = { ...ethernet, create: ethernet.createEthernetHeader }

function header(fields: Partial<ethernet.EthernetHeader>): ethernet.EthernetHeader {
  return { ...ethernet.createEthernetHeader(), ...fields }
}

const dst = parseMac('02:00:c0:a8:06:04')!
const src = parseMac('02:00:c0:a8:06:02')!

t.test('constants', async (t) => {
  t.equal(ethernet.ETHERTYPE_IPV4, 0x0800)
  t.equal(ethernet.ETHERTYPE_ARP, 0x0806)
  t.equal(ethernet.ETHERTYPE_VLAN, 0x8100)
  t.equal(ethernet.ETHERTYPE_TEB, 0x6558)
  t.equal(ethernet.ETHERNET_HEADER_LENGTH, 14)
  t.equal(ethernet.ETHERNET_VLAN_HEADER_LENGTH, 18)
})

t.test('untagged header: exact bytes and round trip', async (t) => {
  const v = header({ dst, src, ethertype: ethernet.ETHERTYPE_IPV4 })
  t.equal(ethernet.encodingLength(v), 14)
  const bytes = checkRoundTrip(t, codec, v)
  t.equal(bytes.toString('hex'), '0200c0a80604' + '0200c0a80602' + '0800')
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
})

t.test('802.1Q tagged header: exact bytes and round trip', async (t) => {
  const v = header({ dst, src, vlan: 100, pcp: 5, dei: 1, ethertype: ethernet.ETHERTYPE_ARP })
  t.equal(ethernet.encodingLength(v), 18)
  const bytes = checkRoundTrip(t, codec, v)
  // TCI = pcp 5 << 13 | dei 1 << 12 | 100 = 0xb064
  t.equal(bytes.toString('hex'), '0200c0a80604' + '0200c0a80602' + '8100' + 'b064' + '0806')
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
})

t.test('VLAN ids 0 and 4095 and pcp 7 are encodable; out of range is not', async (t) => {
  checkRoundTrip(t, codec, header({ dst, src, vlan: 0, ethertype: 0x0800 }))
  checkRoundTrip(t, codec, header({ dst, src, vlan: 4095, pcp: 7, ethertype: 0x0800 }))
  const buf = Buffer.alloc(32)
  t.equal(ethernet.encode(header({ dst, src, vlan: 4096, ethertype: 0x0800 }), buf, 0), -1)
  t.equal(ethernet.encode(header({ dst, src, vlan: -2, ethertype: 0x0800 }), buf, 0), -1)
  t.equal(ethernet.encode(header({ dst, src, vlan: 1, pcp: 8, ethertype: 0x0800 }), buf, 0), -1)
  t.equal(ethernet.encode(header({ dst: new Uint8Array(5), src, ethertype: 0x0800 }), buf, 0), -1)
  t.equal(ethernet.encode(header({ dst, src, ethertype: 0x0800 }), buf, -1), -1)
  t.ok(buf.every((b) => b === 0), 'a refused encode writes nothing')
})

t.test('double tags are refused', async (t) => {
  const out = ethernet.createEthernetHeader()
  const qinq = Buffer.from('0200c0a80604' + '0200c0a80602' + '88a8' + '0064' + '8100' + '00c8' + '0800', 'hex')
  t.equal(ethernet.decode(qinq, 0, out), -1, '802.1ad outer tag')
  const twoQ = Buffer.from('0200c0a80604' + '0200c0a80602' + '8100' + '0064' + '8100' + '00c8' + '0800', 'hex')
  t.equal(ethernet.decode(twoQ, 0, out), -1, 'two 802.1Q tags')
  const qThenAd = Buffer.from('0200c0a80604' + '0200c0a80602' + '8100' + '0064' + '88a8' + '00c8' + '0800', 'hex')
  t.equal(ethernet.decode(qThenAd, 0, out), -1, '802.1Q then 802.1ad')
})

t.test('decode fills the caller-owned MAC arrays in place', async (t) => {
  const out = ethernet.createEthernetHeader()
  const dstArray = out.dst
  const buf = Buffer.alloc(14)
  ethernet.encode(header({ dst, src, ethertype: 0x86dd }), buf, 0)
  t.equal(ethernet.decode(buf, 0, out), 14)
  t.equal(out.dst, dstArray, 'same array object')
  t.same(out.dst, dst)
  t.equal(out.vlan, ethernet.VLAN_NONE)
  t.equal(out.ethertype, 0x86dd)
})

const arbHeader = fc.record({
  dst: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  src: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  tagged: fc.boolean(),
  vlan: fc.integer({ min: 0, max: 4095 }),
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.integer({ min: 0, max: 1 }),
  ethertype: fc.integer({ min: 0, max: 0xffff }).filter((e) => e !== 0x8100 && e !== 0x88a8),
})

t.test('property: random headers round-trip', async (t) => {
  fc.assert(
    fc.property(arbHeader, (h) => {
      const v = h.tagged
        ? header({ dst: h.dst, src: h.src, vlan: h.vlan, pcp: h.pcp, dei: h.dei, ethertype: h.ethertype })
        : header({ dst: h.dst, src: h.src, ethertype: h.ethertype })
      const buf = Buffer.alloc(40)
      const n = ethernet.encode(v, buf, 9)
      const out = ethernet.createEthernetHeader()
      return n === ethernet.encodingLength(v) && ethernet.decode(buf.subarray(0, 9 + n), 9, out) === n && JSON.stringify(out) === JSON.stringify(v)
    }),
  )
  t.pass('round-trips')
})

t.test('property: random bytes never throw', async (t) => {
  const out = ethernet.createEthernetHeader()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(45), (bytes, off) => {
      const n = ethernet.decode(bytes, off, out)
      return n === -1 || n === 14 || n === 18
    }),
  )
  t.pass('no throw')
})
