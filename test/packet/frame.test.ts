import t from 'tap'
import fc from 'fast-check'
import { buildFrame, buildPacket, parseFrame, tcpFlagNames, type FrameSpec } from '../../lib/packet/frame'
import { parseIPv4 } from '../../lib/packet/address'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { pseudoHeaderWords, referenceChecksum } from './reference-checksum'

const A = '02:00:00:00:00:0a'
const B = '02:00:00:00:00:0b'

/** Checks every checksum of the IPv4 packet at `off` against the independent reference. */
function checkPacketChecksums(t: tap.Test, frame: Buffer, off: number): void {
  const ihl = (frame[off]! & 0x0f) * 4
  const total = frame.readUInt16BE(off + 2)
  const header = frame.subarray(off, off + ihl)
  t.equal(header.readUInt16BE(10), referenceChecksum(header, 10), 'IPv4 header checksum')
  const protocol = frame[off + 9]!
  const src = frame.readUInt32BE(off + 12)
  const dst = frame.readUInt32BE(off + 16)
  const l4 = frame.subarray(off + ihl, off + total)
  if (protocol === 6) t.equal(l4.readUInt16BE(16), referenceChecksum(l4, 16, pseudoHeaderWords(src, dst, 6, l4.length)), 'TCP checksum')
  if (protocol === 17) t.equal(l4.readUInt16BE(6), referenceChecksum(l4, 6, pseudoHeaderWords(src, dst, 17, l4.length)) || 0xffff, 'UDP checksum')
  if (protocol === 1) t.equal(l4.readUInt16BE(2), referenceChecksum(l4, 2), 'ICMP checksum')
}

t.test('TCP with options and payload', async (t) => {
  const frame = buildFrame({
    eth: { src: A, dst: B },
    ipv4: { src: '198.51.100.10', dst: '203.0.113.10', ttl: 61, id: 77, df: true, tos: 0xb8 },
    tcp: { srcPort: 40000, dstPort: 80, seq: 1000, ack: 2000, flags: ['psh', 'ack'], window: 512, mss: 1460, options: Uint8Array.from([1, 1, 4, 2]) },
    payload: 'GET / HTTP/1.1\r\n\r\n',
  })
  t.equal(frame.length, 14 + 20 + 28 + 18)
  checkPacketChecksums(t, frame, 14)
  const p = parseFrame(frame)!
  t.equal(p.error, null)
  t.match(p.eth, { src: A, dst: B, vlan: null, ethertype: 0x0800 })
  t.match(p.ipv4, { src: '198.51.100.10', dst: '203.0.113.10', ttl: 61, id: 77, df: true, mf: false, tos: 0xb8, dscp: 46, ecn: 0, protocol: 6, totalLength: 66, checksumValid: true, isFragment: false })
  t.match(p.tcp, { srcPort: 40000, dstPort: 80, seq: 1000, ack: 2000, flags: 0x18, flagNames: ['psh', 'ack'], window: 512, mss: 1460, headerLength: 28, checksumValid: true })
  t.same([...p.tcp!.options], [2, 4, 5, 0xb4, 1, 1, 4, 2])
  t.equal(p.payload.toString(), 'GET / HTTP/1.1\r\n\r\n')
  t.equal(p.udp, null)
  t.equal(p.inner, null)
})

t.test('TCP flags: default ACK, numbers, names', async (t) => {
  const tcpOf = (flags?: number | Array<'syn' | 'ack' | 'fin' | 'rst'>) =>
    parseFrame(buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, tcp: { srcPort: 1, dstPort: 2, ...(flags === undefined ? {} : { flags }) } }))!.tcp!
  t.same(tcpOf().flagNames, ['ack'])
  t.same(tcpOf(['syn']).flagNames, ['syn'])
  t.equal(tcpOf(0x12).flags, 0x12)
  t.same(tcpOf(['fin', 'ack']).flagNames, ['fin', 'ack'])
  const withFlags = (flags: string) =>
    parseFrame(buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, tcp: { srcPort: 1, dstPort: 2, flags } }))!.tcp!.flags
  t.equal(withFlags('SA'), 0x12, 'scapy letters')
  t.equal(withFlags('FPA'), 0x19)
  t.equal(withFlags('syn,ack'), 0x12, 'comma-separated names')
  t.equal(withFlags('RST | ACK'), 0x14, 'upper-case names with pipes')
  t.throws(() => withFlags('syn,bogus'), { code: ErrorCodes.INVALID_FIELD, message: /unknown flag 'bogus'/ })
  t.same(tcpFlagNames(0x1ff), ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ns'])
})

t.test('UDP, with and without checksum', async (t) => {
  const spec: FrameSpec = { eth: { src: A, dst: B }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100' }, udp: { srcPort: 5353, dstPort: 53 }, payload: Buffer.from('query') }
  const frame = buildFrame(spec)
  checkPacketChecksums(t, frame, 14)
  const p = parseFrame(frame)!
  t.match(p.udp, { srcPort: 5353, dstPort: 53, length: 13, checksumValid: true })
  t.not(p.udp!.checksum, 0)
  t.equal(p.payload.toString(), 'query')
  const none = parseFrame(buildFrame({ ...spec, udp: { srcPort: 5353, dstPort: 53, checksum: false } }))!
  t.match(none.udp, { checksum: 0, checksumValid: true })
  const bad = parseFrame(buildFrame({ ...spec, udp: { srcPort: 5353, dstPort: 53, checksum: 0x1234 } }))!
  t.match(bad.udp, { checksum: 0x1234, checksumValid: false })
})

t.test('ICMP echo', async (t) => {
  const frame = buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, icmp: { type: 8, id: 0x4242, seq: 3 }, payload: 'ping' })
  checkPacketChecksums(t, frame, 14)
  const p = parseFrame(frame)!
  t.match(p.icmp, { type: 8, code: 0, id: 0x4242, seq: 3, checksumValid: true, quoted: null })
  t.equal(p.payload.toString(), 'ping')
})

t.test('ICMP fragmentation needed quoting a TCP packet (28 bytes quoted)', async (t) => {
  const frame = buildFrame({
    eth: { src: A, dst: B },
    ipv4: { src: '198.51.100.1', dst: '198.51.100.10' },
    icmp: {
      type: 3,
      code: 4,
      nextHopMtu: 1458,
      quote: { ipv4: { src: '198.51.100.10', dst: '203.0.113.10', df: true }, tcp: { srcPort: 40000, dstPort: 80, seq: 0x01020304 }, payload: Buffer.alloc(1460) },
      quoteLength: 28,
    },
  })
  t.equal(frame.length, 14 + 20 + 8 + 28)
  checkPacketChecksums(t, frame, 14)
  const p = parseFrame(frame)!
  t.equal(p.error, null)
  t.match(p.icmp, { type: 3, code: 4, nextHopMtu: 1458, checksumValid: true })
  const q = p.icmp!.quoted!
  t.match(q.ipv4, { src: '198.51.100.10', dst: '203.0.113.10', totalLength: 1500, df: true, checksumValid: true })
  t.equal(q.truncated, true)
  t.match(q.tcp, { srcPort: 40000, dstPort: 80, seq: 0x01020304, checksumValid: null })
})

t.test('ICMP time exceeded quoting a whole UDP datagram', async (t) => {
  const frame = buildFrame({
    eth: { src: A, dst: B },
    ipv4: { src: '192.0.2.1', dst: '198.51.100.10' },
    icmp: { type: 11, code: 0, quote: { ipv4: { src: '198.51.100.10', dst: '203.0.113.20', ttl: 1 }, udp: { srcPort: 33434, dstPort: 33435 }, payload: 'x' } },
  })
  const q = parseFrame(frame)!.icmp!.quoted!
  t.equal(q.truncated, false)
  t.match(q.udp, { srcPort: 33434, dstPort: 33435, checksumValid: true })
  t.equal(q.ipv4.ttl, 1)
})

t.test('ARP request and reply', async (t) => {
  const request = buildFrame({ eth: { src: A, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: A, senderIp: '192.168.6.4', targetIp: '192.168.6.2' } })
  t.equal(request.length, 42)
  const p = parseFrame(request)!
  t.match(p, { eth: { ethertype: 0x0806, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 1, opName: 'request', senderMac: A, senderIp: '192.168.6.4', targetMac: '00:00:00:00:00:00', targetIp: '192.168.6.2' }, ipv4: null })
  const reply = parseFrame(buildFrame({ eth: { src: B, dst: A }, arp: { op: 'reply', senderMac: B, senderIp: '192.168.6.2', targetMac: A, targetIp: '192.168.6.4' } }))!
  t.match(reply.arp, { op: 2, opName: 'reply', targetMac: A })
})

t.test('outer 802.1Q tag', async (t) => {
  const frame = buildFrame({ eth: { src: A, dst: B, vlan: 42, pcp: 3 }, ipv4: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { srcPort: 1, dstPort: 2 } })
  t.equal(frame.readUInt16BE(12), 0x8100)
  checkPacketChecksums(t, frame, 18)
  t.match(parseFrame(frame), { eth: { vlan: 42, pcp: 3, headerLength: 18, ethertype: 0x0800 }, udp: { dstPort: 2 } })
})

t.test('NVGRE with inner TCP: every checksum, inner tree', async (t) => {
  const frame = buildFrame({
    eth: { src: '02:00:c0:a8:06:07', dst: '02:00:c0:a8:06:02', vlan: 6 },
    ipv4: { src: '192.168.6.7', dst: '192.168.6.2' },
    nvgre: {
      vsid: 5002,
      flowId: 9,
      inner: { eth: { src: '00-15-5D-01-05-20', dst: '02:00:00:00:00:01' }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100' }, tcp: { srcPort: 50000, dstPort: 80, flags: ['syn'], mss: 1418 } },
    },
  })
  checkPacketChecksums(t, frame, 18)
  checkPacketChecksums(t, frame, 18 + 20 + 8 + 14)
  const p = parseFrame(frame)!
  t.equal(p.error, null)
  t.match(p.gre, { vsid: 5002, flowId: 9, flagsVersion: 0x2000, protocol: 0x6558 })
  t.equal(p.inner!.ipv4!.src, '10.1.5.20')
  t.equal(p.inner!.ipv4!.dst, '10.1.5.100')
  t.equal(p.inner!.eth.src, '00:15:5d:01:05:20')
  t.match(p.inner!.tcp, { dstPort: 80, mss: 1418, checksumValid: true, flagNames: ['syn'] })
  t.equal(p.payload.length, p.inner!.length, 'outer payload is the inner frame')
})

t.test('broken NVGRE: overrides reach the wire and the parser says why', async (t) => {
  const inner: FrameSpec = { eth: { src: A, dst: B }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { srcPort: 1, dstPort: 2 } }
  const base = { eth: { src: A, dst: B }, ipv4: { src: '192.168.6.7', dst: '192.168.6.2' } }
  const cases: Array<[string, FrameSpec, RegExp]> = [
    ['checksum bit', { ...base, nvgre: { vsid: 5001, inner, flagsVersion: 0xa000 } }, /checksum bit/],
    ['sequence bit', { ...base, nvgre: { vsid: 5001, inner, flagsVersion: 0x3000 } }, /sequence bit/],
    ['key absent', { ...base, nvgre: { vsid: 5001, inner, flagsVersion: 0x0000 } }, /key bit absent/],
    ['protocol', { ...base, nvgre: { vsid: 5001, inner, protocol: 0x0800 } }, /protocol/],
    ['VSID 0', { ...base, nvgre: { vsid: 0, inner } }, /VSID/],
    ['VSID 0xffffff', { ...base, nvgre: { vsid: 0xffffff, inner } }, /VSID/],
    ['tagged inner frame', { ...base, nvgre: { vsid: 5001, inner: { ...inner, eth: { src: A, dst: B, vlan: 7 } } } }, /VLAN-tagged/],
  ]
  for (const [what, spec, why] of cases) {
    const p = parseFrame(buildFrame(spec))!
    t.match(p.error, why, what)
  }
})

t.test('fragments: first decodes L4 (checksum not checkable), later ones do not', async (t) => {
  const first = parseFrame(
    buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', id: 9, mf: true }, udp: { srcPort: 7, dstPort: 9, length: 3008 }, payload: Buffer.alloc(1472) }),
  )!
  t.match(first.ipv4, { mf: true, fragmentOffset: 0, isFragment: true })
  t.match(first.udp, { srcPort: 7, dstPort: 9, length: 3008, checksumValid: null })
  const later = parseFrame(
    buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', id: 9, fragmentOffset: 185, protocol: 17 }, payload: Buffer.alloc(1528, 1) }),
  )!
  t.match(later.ipv4, { mf: false, fragmentOffset: 185, isFragment: true, protocol: 17, checksumValid: true })
  t.equal(later.udp, null)
  t.equal(later.payload.length, 1528)
})

t.test('IPv4 options, overrides and bad checksums', async (t) => {
  const withOptions = parseFrame(
    buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', options: Uint8Array.from([0x94, 4, 0, 0]) }, tcp: { srcPort: 1, dstPort: 2 } }),
  )!
  t.match(withOptions.ipv4, { headerLength: 24, checksumValid: true })
  t.same([...withOptions.ipv4!.options], [0x94, 4, 0, 0])
  t.equal(withOptions.tcp!.checksumValid, true)
  const badIp = parseFrame(buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', checksum: 0xdead }, tcp: { srcPort: 1, dstPort: 2, checksum: 0xbeef } }))!
  t.match(badIp, { ipv4: { checksum: 0xdead, checksumValid: false }, tcp: { checksum: 0xbeef, checksumValid: false } })
  const badIcmp = parseFrame(buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, icmp: { type: 0, checksum: 1 } }))!
  t.equal(badIcmp.icmp!.checksumValid, false)
  const raw = parseFrame(buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', protocol: 132 }, payload: 'sctp?' }))!
  t.match(raw.ipv4, { protocol: 132 })
  t.equal(raw.payload.toString(), 'sctp?')
  const lying = buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', totalLength: 200 }, udp: { srcPort: 1, dstPort: 2 } })
  t.match(parseFrame(lying), { ipv4: null, error: /ipv4/ }, 'total length beyond the frame')
})

t.test('Ethernet padding after the IP packet is not payload', async (t) => {
  const frame = buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, udp: { srcPort: 1, dstPort: 2 }, payload: 'ab' })
  const padded = Buffer.concat([frame, Buffer.alloc(60 - frame.length)])
  const p = parseFrame(padded)!
  t.equal(p.payload.toString(), 'ab')
  t.equal(p.udp!.checksumValid, true)
  t.equal(p.length, 60)
})

t.test('raw ethertype payloads', async (t) => {
  const p = parseFrame(buildFrame({ eth: { src: A, dst: B, ethertype: 0x88cc }, payload: Uint8Array.from([1, 2, 3]) }))!
  t.match(p, { eth: { ethertype: 0x88cc }, ipv4: null, arp: null, error: null })
  t.same([...p.payload], [1, 2, 3])
})

t.test('parseFrame of truncated frames: null without Ethernet, an error deeper down', async (t) => {
  const frame = buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, tcp: { srcPort: 1, dstPort: 2 } })
  for (let n = 0; n < 14; n++) t.equal(parseFrame(frame.subarray(0, n)), null, `${n} bytes`)
  for (let n = 14; n < frame.length; n++) {
    const p = parseFrame(frame.subarray(0, n))!
    t.not(p.error, null, `${n} bytes: error set`)
  }
  t.equal(parseFrame(frame)!.error, null)
})

t.test('bad specs throw NvlbError with a clear message', async (t) => {
  const eth = { src: A, dst: B }
  const ip = { src: '1.1.1.1', dst: '2.2.2.2' }
  const throwsWith = (spec: FrameSpec, code: string, message: RegExp) => {
    try {
      buildFrame(spec)
      t.fail(`no throw for ${message}`)
    } catch (err) {
      t.ok(err instanceof NvlbError)
      t.match(err, { code, message })
    }
  }
  throwsWith({ eth: { src: 'nope', dst: B }, ipv4: ip, udp: { srcPort: 1, dstPort: 2 } }, ErrorCodes.BAD_MAC, /eth\.src: 'nope'/)
  throwsWith({ eth, ipv4: { src: '1.1.1', dst: '2.2.2.2' }, udp: { srcPort: 1, dstPort: 2 } }, ErrorCodes.BAD_ADDRESS, /ipv4\.src/)
  throwsWith({ eth, ipv4: ip, tcp: { srcPort: 1, dstPort: 2 }, udp: { srcPort: 1, dstPort: 2 } }, ErrorCodes.INVALID_FIELD, /only one of/)
  throwsWith({ eth, udp: { srcPort: 1, dstPort: 2 } }, ErrorCodes.INVALID_FIELD, /need ipv4/)
  throwsWith({ eth, ipv4: ip }, ErrorCodes.INVALID_FIELD, /ipv4\.protocol is required/)
  throwsWith({ eth }, ErrorCodes.INVALID_FIELD, /ethertype is required/)
  throwsWith({ eth: { ...eth, vlan: 4096 }, ipv4: ip, udp: { srcPort: 1, dstPort: 2 } }, ErrorCodes.INVALID_FIELD, /eth\.vlan/)
  throwsWith({ eth, ipv4: ip, arp: { op: 'request', senderMac: A, senderIp: '1.1.1.1', targetIp: '2.2.2.2' } }, ErrorCodes.INVALID_FIELD, /either arp or ipv4/)
})

t.test('buildPacket gives the IP packet alone', async (t) => {
  const packet = buildPacket({ ipv4: { src: '10.1.6.21', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 40000, flags: ['syn', 'ack'] } })
  t.equal(packet.length, 40)
  t.equal(packet.readUInt32BE(12), parseIPv4('10.1.6.21'))
})

const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 })
const arbIp = fc.nat(0xffffffff)
const arbTransport = fc.oneof(
  fc.record({ kind: fc.constant('tcp' as const), srcPort: fc.nat(0xffff), dstPort: fc.nat(0xffff), seq: fc.nat(0xffffffff), flags: fc.nat(0x1ff) }),
  fc.record({ kind: fc.constant('udp' as const), srcPort: fc.nat(0xffff), dstPort: fc.nat(0xffff) }),
  fc.record({ kind: fc.constant('icmp' as const), type: fc.constantFrom(0, 8), id: fc.nat(0xffff), seq: fc.nat(0xffff) }),
)
const arbInner = fc.record({ src: arbMac, dst: arbMac, ipSrc: arbIp, ipDst: arbIp, l4: arbTransport, payload: fc.uint8Array({ maxLength: 64 }) })

type InnerRecord = typeof arbInner extends fc.Arbitrary<infer T> ? T : never

function innerSpec(r: InnerRecord): FrameSpec {
  const spec: FrameSpec = { eth: { src: r.src, dst: r.dst }, ipv4: { src: r.ipSrc, dst: r.ipDst }, payload: r.payload }
  if (r.l4.kind === 'tcp') spec.tcp = { srcPort: r.l4.srcPort, dstPort: r.l4.dstPort, seq: r.l4.seq, flags: r.l4.flags }
  if (r.l4.kind === 'udp') spec.udp = { srcPort: r.l4.srcPort, dstPort: r.l4.dstPort }
  if (r.l4.kind === 'icmp') spec.icmp = { type: r.l4.type, id: r.l4.id, seq: r.l4.seq }
  return spec
}

t.test('property: built frames (plain or NVGRE) parse back with valid checksums', async (t) => {
  fc.assert(
    fc.property(arbInner, fc.option(fc.record({ vsid: fc.integer({ min: 4096, max: 0xfffffe }), flowId: fc.nat(255), vlan: fc.option(fc.nat(4095)) })), (r, encap) => {
      const inner = innerSpec(r)
      const spec: FrameSpec =
        encap === null
          ? inner
          : {
              eth: { src: r.dst, dst: r.src, ...(encap.vlan === null ? {} : { vlan: encap.vlan }) },
              ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
              nvgre: { vsid: encap.vsid, flowId: encap.flowId, inner },
            }
      const p = parseFrame(buildFrame(spec))!
      if (p.error !== null || !p.ipv4!.checksumValid) return false
      const q = encap === null ? p : p.inner!
      if (encap !== null && (p.gre!.vsid !== encap.vsid || p.gre!.flowId !== encap.flowId)) return false
      if (q.ipv4!.src !== `${r.ipSrc >>> 24}.${(r.ipSrc >>> 16) & 255}.${(r.ipSrc >>> 8) & 255}.${r.ipSrc & 255}`) return false
      if (!Buffer.from(r.payload).equals(q.payload)) return false
      const l4 = q.tcp ?? q.udp ?? q.icmp
      return l4 !== null && l4.checksumValid === true
    }),
  )
  t.pass('round-trips')
})

t.test('property: parseFrame never throws on random bytes or on mutated valid frames', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    parseFrame(bytes)
    return true
  }))
  const base = buildFrame({
    eth: { src: A, dst: B },
    ipv4: { src: '192.168.6.7', dst: '192.168.6.2' },
    nvgre: { vsid: 5001, inner: { eth: { src: A, dst: B }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, icmp: { type: 3, code: 4, quote: { ipv4: { src: '10.0.0.2', dst: '10.0.0.1' }, tcp: { srcPort: 1, dstPort: 2 } }, quoteLength: 28 } } },
  })
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 6 }), fc.nat(base.length), (edits, cut) => {
      const frame = Buffer.from(base.subarray(0, Math.max(cut, 14)))
      for (const [at, value] of edits) if (at < frame.length) frame[at] = value
      parseFrame(frame)
      return true
    }),
  )
  t.pass('no throw')
})
