import t from 'tap'
import { clampMss, rewriteDestination, rewriteQuoted, rewriteSource } from '../../lib/dataplane/nat-rewrite'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { parseIPv4 } from '../../lib/packet/address'

const view = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.byteLength)

t.test('source and destination rewrites keep the IPv4, TCP and UDP checksums right', async (t) => {
  for (const l4 of ['tcp', 'udp'] as const) {
    const f = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, [l4]: { srcPort: 40000, dstPort: 80 }, payload: 'hello' })
    rewriteDestination(view(f), 14, 20, l4 === 'tcp' ? 6 : 17, true, parseIPv4('10.1.6.21') | 0, 8080)
    rewriteSource(view(f), 14, 20, l4 === 'tcp' ? 6 : 17, true, parseIPv4('10.1.5.100') | 0, 2048)
    const p = parseFrame(f)!
    t.equal(p.ipv4!.dst, '10.1.6.21')
    t.equal(p.ipv4!.src, '10.1.5.100')
    t.equal(p[l4]!.dstPort, 8080)
    t.equal(p[l4]!.srcPort, 2048)
    t.ok(p.ipv4!.checksumValid)
    t.equal(p[l4]!.checksumValid, true, `${l4} checksum`)
  }
})

t.test('a UDP checksum of 0 (none) stays 0; without the L4 header only the address changes', async (t) => {
  const f = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, udp: { srcPort: 1, dstPort: 2, checksum: false } })
  rewriteDestination(view(f), 14, 20, 17, true, parseIPv4('3.3.3.3') | 0, 9)
  t.equal(f.readUInt16BE(14 + 20 + 6), 0)
  rewriteSource(view(f), 14, 20, 17, false, parseIPv4('4.4.4.4') | 0, 7)
  const p = parseFrame(f)!
  t.equal(p.ipv4!.src, '4.4.4.4')
  t.equal(p.udp!.srcPort, 1, 'port untouched')
  t.ok(p.ipv4!.checksumValid)
})

t.test('a quoted header: address and port rewritten, its IPv4 checksum right', async (t) => {
  const q = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, udp: { srcPort: 80, dstPort: 40000 }, payload: 'x' })
  rewriteQuoted(q, view(q), 14, 20, 17, 12, parseIPv4('10.1.6.21') | 0, 0, 8080)
  const p = parseFrame(q)!
  t.equal(p.ipv4!.src, '10.1.6.21')
  t.equal(p.udp!.srcPort, 8080)
  t.ok(p.ipv4!.checksumValid)
  t.equal(p.udp!.checksumValid, true)
})

t.test('MSS clamping lowers a larger MSS of a SYN only', async (t) => {
  const syn = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, tcp: { srcPort: 1, dstPort: 2, flags: ['syn'], mss: 1460 } })
  clampMss(syn, 34, syn.length, 1418)
  t.equal(parseFrame(syn)!.tcp!.mss, 1418)
  t.equal(parseFrame(syn)!.tcp!.checksumValid, true)
  clampMss(syn, 34, syn.length, 1500)
  t.equal(parseFrame(syn)!.tcp!.mss, 1418, 'never raised')
  const ack = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, tcp: { srcPort: 1, dstPort: 2, flags: ['ack'], mss: 1460 } })
  clampMss(ack, 34, ack.length, 1000)
  t.equal(parseFrame(ack)!.tcp!.mss, 1460)
})

t.test('MSS clamping keeps the TCP checksum right when the option sits at an odd offset', async (t) => {
  // Options: an unknown 3-byte option, then MSS 1460 at offset 23 of the header, then padding.
  const frame = buildFrame({
    eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    ipv4: { src: '1.1.1.1', dst: '2.2.2.2' },
    tcp: { srcPort: 1, dstPort: 2, flags: ['syn'], options: Uint8Array.of(0x64, 3, 0, 2, 4, 0x05, 0xb4, 0) },
  })
  t.equal(parseFrame(frame)!.tcp!.checksumValid, true, 'valid before')
  clampMss(frame, 34, frame.length, 1418)
  t.equal(frame.readUInt16BE(34 + 20 + 5), 1418, 'clamped')
  t.equal(parseFrame(frame)!.tcp!.checksumValid, true, 'valid after')
})
