import t from 'tap'
import { PROBE_ENCAP_HEADERS, ProbeTranslator, TranslateDrop, type ProbeTarget } from '../../lib/health/probe-translator'
import { parseIPv4, parseMac } from '../../lib/packet/address'
import { buildFrame, buildPacket, parseFrame, parsePacket } from '../../lib/packet/frame'

const ip = (s: string) => parseIPv4(s)
const mac = (s: string) => parseMac(s)!

const node = {
  providerAddress: ip('192.168.6.2'),
  providerMac: mac('02:00:c0:a8:06:02'),
  gatewayMac: mac('02:00:00:00:00:01'),
  probeAddress: ip('198.18.0.1'),
  tunAddress: ip('100.64.0.1'),
}
// blue-vm2 and red-vm1 share CA 10.1.6.21 in two tenants, on two hosts.
const targets: ProbeTarget[] = [
  { target: ip('100.64.0.16'), virtualSubnetId: 5001, address: ip('10.1.6.21'), host: ip('192.168.6.4'), mac: mac('00:15:5d:01:06:21') },
  { target: ip('100.64.0.17'), virtualSubnetId: 6001, address: ip('10.1.6.21'), host: ip('192.168.6.5'), mac: mac('00:15:5d:02:06:21') },
]
const neighbors = new Map([
  [ip('192.168.6.4'), mac('02:00:c0:a8:06:04')],
  [ip('192.168.6.5'), mac('02:00:c0:a8:06:05')],
])

function translator(): ProbeTranslator {
  const tr = new ProbeTranslator()
  tr.configure(node, targets, neighbors)
  return tr
}

t.test('a kernel SYN to a probe target leaves as NVGRE to the backend, like client traffic', async (t) => {
  const tr = translator()
  for (const [target, vsid, host, hostMac, vmMac] of [
    ['100.64.0.16', 5001, '192.168.6.4', '02:00:c0:a8:06:04', '00:15:5d:01:06:21'],
    ['100.64.0.17', 6001, '192.168.6.5', '02:00:c0:a8:06:05', '00:15:5d:02:06:21'],
  ] as const) {
    const syn = buildPacket({ ipv4: { src: '100.64.0.1', dst: target, df: true }, tcp: { srcPort: 40000, dstPort: 80, flags: 'S', mss: 1418 } })
    const out = Buffer.alloc(2048)
    const n = tr.encapsulate(syn, 0, syn.length, out, 10)
    t.equal(n, syn.length + 56)
    const f = parseFrame(out.subarray(10, 10 + n))!
    t.equal(f.error, null)
    t.equal(f.eth.src, '02:00:c0:a8:06:02')
    t.equal(f.eth.dst, hostMac)
    t.equal(f.ipv4!.src, '192.168.6.2')
    t.equal(f.ipv4!.dst, host)
    t.ok(f.ipv4!.checksumValid, 'outer IP checksum')
    t.equal(f.gre!.vsid, vsid)
    t.equal(f.inner!.eth.src, '02:00:00:00:00:01')
    t.equal(f.inner!.eth.dst, vmMac)
    t.equal(f.inner!.ipv4!.src, '198.18.0.1')
    t.equal(f.inner!.ipv4!.dst, '10.1.6.21')
    t.ok(f.inner!.ipv4!.checksumValid, 'inner IP checksum')
    t.equal(f.inner!.tcp!.srcPort, 40000)
    t.ok(f.inner!.tcp!.checksumValid, 'TCP checksum after the rewrite')
  }
  t.equal(tr.encapsulated, 2)
})

t.test('in place (the TUN read straight into the send slot): the same frame as from a copy', async (t) => {
  const tr = translator()
  const request = buildPacket({ ipv4: { src: '100.64.0.1', dst: '100.64.0.17', df: true }, tcp: { srcPort: 40001, dstPort: 80, flags: 'PA' }, payload: 'GET / HTTP/1.1\r\n\r\n' })
  const copied = Buffer.alloc(2048)
  const n = tr.encapsulate(request, 0, request.length, copied, 0)
  const slot = Buffer.alloc(4096)
  const at = 2048
  request.copy(slot, at + PROBE_ENCAP_HEADERS)
  t.equal(tr.encapsulate(slot, at + PROBE_ENCAP_HEADERS, request.length, slot, at), n)
  // Only the outer IP id differs (it counts frames).
  copied.writeUInt16BE(0, 18)
  slot.writeUInt16BE(0, at + 18)
  copied.writeUInt16BE(0, 24)
  slot.writeUInt16BE(0, at + 24)
  t.same(slot.subarray(at, at + n), copied.subarray(0, n))
  const f = parseFrame(slot.subarray(at, at + n))!
  t.equal(f.inner!.ipv4!.dst, '10.1.6.21')
  t.equal(f.gre!.vsid, 6001)
  t.ok(f.inner!.tcp!.checksumValid, 'TCP checksum after the rewrite in place')
})

t.test('a reply from the backend comes back to the kernel from its target; each tenant to its own', async (t) => {
  const tr = translator()
  for (const [vsid, host, target] of [
    [5001, '192.168.6.4', '100.64.0.16'],
    [6001, '192.168.6.5', '100.64.0.17'],
  ] as const) {
    const frame = buildFrame({
      eth: { src: '02:00:c0:a8:06:04', dst: '02:00:c0:a8:06:02' },
      ipv4: { src: host, dst: '192.168.6.2' },
      nvgre: {
        vsid,
        inner: {
          eth: { src: '00:15:5d:01:06:21', dst: '02:00:00:00:00:01' },
          ipv4: { src: '10.1.6.21', dst: '198.18.0.1' },
          tcp: { srcPort: 80, dstPort: 40000, flags: 'SA' },
          payload: 'x',
        },
      },
    })
    const n = tr.decapsulate(frame, 0, frame.length)
    t.equal(n, 20 + 20 + 1)
    const p = parsePacket(frame.subarray(tr.outOffset, tr.outOffset + n), 0)!
    t.equal(p.ipv4.src, target)
    t.equal(p.ipv4.dst, '100.64.0.1')
    t.ok(p.ipv4.checksumValid)
    t.ok(p.tcp!.checksumValid)
  }
})

t.test('what is not a probe reply from the right host is refused and counted', async (t) => {
  const tr = translator()
  const reply = (vsid: number, outerSrc: string, innerSrc: string, innerDst: string) =>
    buildFrame({
      eth: { src: '02:00:c0:a8:06:04', dst: '02:00:c0:a8:06:02' },
      ipv4: { src: outerSrc, dst: '192.168.6.2' },
      nvgre: { vsid, inner: { eth: { src: '00:15:5d:01:06:21', dst: '02:00:00:00:00:01' }, ipv4: { src: innerSrc, dst: innerDst }, tcp: { srcPort: 80, dstPort: 40000 } } },
    })
  let f = reply(5001, '192.168.6.5', '10.1.6.21', '198.18.0.1') // red's host claiming blue's VM
  t.equal(tr.decapsulate(f, 0, f.length), -1)
  t.equal(tr.drops[TranslateDrop.UNTRUSTED_HOST], 1)
  f = reply(5001, '192.168.6.4', '10.1.6.99', '198.18.0.1')
  t.equal(tr.decapsulate(f, 0, f.length), -1)
  t.equal(tr.drops[TranslateDrop.NO_TARGET], 1)
  f = reply(5001, '192.168.6.4', '10.1.6.21', '198.51.100.10') // client traffic, not a probe reply
  t.equal(tr.decapsulate(f, 0, f.length), -1)
  t.equal(tr.drops[TranslateDrop.NOT_PROBE_REPLY], 1)

  const out = Buffer.alloc(2048)
  const stray = buildPacket({ ipv4: { src: '100.64.0.1', dst: '100.64.0.99' }, tcp: { srcPort: 1, dstPort: 80 } })
  t.equal(tr.encapsulate(stray, 0, stray.length, out, 0), -1)
  t.equal(tr.drops[TranslateDrop.NO_TARGET], 2)
  const noNeighbor = new ProbeTranslator()
  noNeighbor.configure(node, targets, new Map())
  const syn = buildPacket({ ipv4: { src: '100.64.0.1', dst: '100.64.0.16' }, tcp: { srcPort: 1, dstPort: 80 } })
  t.equal(noNeighbor.encapsulate(syn, 0, syn.length, out, 0), -1)
  t.equal(noNeighbor.drops[TranslateDrop.NO_NEIGHBOR], 1)
  t.equal(noNeighbor.missingNeighbor, ip('192.168.6.4'), 'names the host to resolve by ARP')
  noNeighbor.learnNeighbor(ip('192.168.6.4'), mac('02:00:c0:a8:06:44'))
  const n = noNeighbor.encapsulate(syn, 0, syn.length, out, 0)
  t.ok(n > 0, 'sent once the MAC is learnt')
  t.equal(parseFrame(out.subarray(0, n))!.eth.dst, '02:00:c0:a8:06:44')
  t.equal(tr.encapsulate(Buffer.from([0x60, 0, 0, 0]), 0, 4, out, 0), -1, 'IPv6 / short')
})
