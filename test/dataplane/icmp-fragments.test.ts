import t from 'tap'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { Side, Verdict } from '../../lib/dataplane/engine'
import { Harness, MAC, fromAppTier, fromClient } from '../helpers/engine-harness'

t.test('ICMP error from the Internet about a reply: translated to the backend, quoted header included', async (t) => {
  const h = new Harness()
  const fwd = parseFrame(h.send(fromClient({ sport: 45000 })).out[0]!.frame)!
  const dip = fwd.inner!.ipv4!.dst
  const icmp = buildFrame({
    eth: { src: MAC.client, dst: MAC.external },
    ipv4: { src: '198.51.100.254', dst: '203.0.113.10' },
    icmp: { type: 3, code: 4, nextHopMtu: 1400, quote: { ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 45000, flags: ['ack'] } }, quoteLength: 28 },
  })
  const r = h.send(icmp)
  t.equal(r.verdict, Verdict.TX, r.drops.join(','))
  const f = parseFrame(r.out[0]!.frame)!
  t.equal(f.gre!.vsid, fwd.gre!.vsid)
  t.equal(f.inner!.ipv4!.dst, dip, 'outer destination VIP → DIP')
  t.equal(f.inner!.ipv4!.src, '198.51.100.254', 'the reporting router is kept')
  t.equal(f.inner!.icmp!.checksumValid, true)
  t.equal(f.inner!.icmp!.nextHopMtu, 1400)
  const q = f.inner!.icmp!.quoted!
  t.equal(q.ipv4.src, dip, 'quoted source VIP → DIP')
  t.equal(q.ipv4.dst, '198.51.100.10')
  t.ok(q.ipv4.checksumValid, 'quoted IPv4 checksum fixed')
  t.equal(q.tcp!.srcPort, 80)
  t.equal(q.tcp!.dstPort, 45000)
})

t.test("ICMP error from a backend's side about a packet nvlb sent it: translated back to the client", async (t) => {
  const h = new Harness()
  const sent = h.send(fromAppTier({ vsid: 5002, sport: 46000 })).out[0]!.frame
  const fwd = parseFrame(sent)!
  const dip = fwd.inner!.ipv4!.dst
  const natPort = fwd.inner!.tcp!.srcPort
  const icmp = buildFrame({
    eth: { src: fwd.eth.dst, dst: MAC.provider },
    ipv4: { src: fwd.ipv4!.dst, dst: '192.168.6.2' },
    nvgre: {
      vsid: 5002,
      inner: {
        eth: { src: fwd.inner!.eth.dst, dst: MAC.gateway },
        ipv4: { src: dip, dst: '10.1.5.100' },
        icmp: { type: 3, code: 3, quote: { ipv4: { src: '10.1.5.100', dst: dip }, tcp: { srcPort: natPort, dstPort: 80, flags: ['syn'] } }, quoteLength: 28 },
      },
    },
  })
  const r = h.send(icmp)
  t.equal(r.verdict, Verdict.TX, r.drops.join(','))
  const f = parseFrame(r.out[0]!.frame)!
  t.equal(f.ipv4!.dst, '192.168.6.7', "to the client's host")
  t.equal(f.gre!.vsid, 5002)
  t.equal(f.inner!.ipv4!.src, '10.1.5.100', 'from the VIP: tenant backends stay hidden')
  t.equal(f.inner!.ipv4!.dst, '10.1.5.20')
  t.equal(f.inner!.icmp!.checksumValid, true)
  const q = f.inner!.icmp!.quoted!
  t.equal(q.ipv4.src, '10.1.5.20', 'quoted source NAT address → client')
  t.equal(q.ipv4.dst, '10.1.5.100', 'quoted destination DIP → VIP')
  t.equal(q.tcp!.srcPort, 46000)
  t.equal(q.tcp!.dstPort, 80)
  t.ok(q.ipv4.checksumValid)
})

t.test('ICMP error from a backend about a public flow leaves through the external side', async (t) => {
  const h = new Harness()
  const sent = h.send(fromClient({ sport: 47000 })).out[0]!.frame
  const fwd = parseFrame(sent)!
  const dip = fwd.inner!.ipv4!.dst
  const icmp = buildFrame({
    eth: { src: fwd.eth.dst, dst: MAC.provider },
    ipv4: { src: fwd.ipv4!.dst, dst: '192.168.6.2' },
    nvgre: {
      vsid: fwd.gre!.vsid,
      inner: {
        eth: { src: fwd.inner!.eth.dst, dst: MAC.gateway },
        ipv4: { src: dip, dst: '198.51.100.10' },
        icmp: { type: 3, code: 3, quote: { ipv4: { src: '198.51.100.10', dst: dip }, udp: { srcPort: 47000, dstPort: 80 } }, quoteLength: 28 },
      },
    },
  })
  // A UDP quote does not match the TCP flow.
  t.same(h.send(icmp).drops, ['icmp_no_flow'])
  const tcpIcmp = buildFrame({
    eth: { src: fwd.eth.dst, dst: MAC.provider },
    ipv4: { src: fwd.ipv4!.dst, dst: '192.168.6.2' },
    nvgre: {
      vsid: fwd.gre!.vsid,
      inner: {
        eth: { src: fwd.inner!.eth.dst, dst: MAC.gateway },
        ipv4: { src: dip, dst: '198.51.100.10' },
        icmp: { type: 11, code: 0, quote: { ipv4: { src: '198.51.100.10', dst: dip }, tcp: { srcPort: 47000, dstPort: 80 } }, quoteLength: 28 },
      },
    },
  })
  const r = h.send(tcpIcmp)
  t.equal(r.verdict, Verdict.TX, r.drops.join(','))
  t.equal(r.out[0]!.side, Side.EXTERNAL)
  const f = parseFrame(r.out[0]!.frame)!
  t.equal(f.eth.dst, MAC.client)
  t.equal(f.ipv4!.src, '203.0.113.10')
  t.equal(f.icmp!.type, 11)
  t.equal(f.icmp!.checksumValid, true)
  t.equal(f.icmp!.quoted!.ipv4.dst, '203.0.113.10')
  t.equal(f.icmp!.quoted!.tcp!.dstPort, 80)
})

t.test('fragments of one datagram reach the same backend (3-tuple), in either order', async (t) => {
  const h = new Harness()
  const picks = new Set<string>()
  for (let id = 1; id <= 40; id++) {
    const first = buildFrame({ eth: { src: MAC.client, dst: MAC.external }, ipv4: { src: `198.51.100.${10 + id}`, dst: '203.0.113.10', id, mf: true }, tcp: { srcPort: 5000 + id, dstPort: 80, flags: ['ack'] }, payload: 'a'.repeat(100) })
    const later = buildFrame({ eth: { src: MAC.client, dst: MAC.external }, ipv4: { src: `198.51.100.${10 + id}`, dst: '203.0.113.10', id, fragmentOffset: 15, protocol: 6 }, payload: 'b'.repeat(40) })
    const order = id % 2 === 0 ? [first, later] : [later, first]
    const dips = order.map((f) => {
      const r = h.send(f)
      t.equal(r.verdict, Verdict.TX, r.drops.join(','))
      return parseFrame(r.out[0]!.frame)!.inner!.ipv4!.dst
    })
    t.equal(dips[0], dips[1], `datagram ${id}: both fragments to ${dips[0]}`)
    picks.add(dips[0]!)
  }
  t.ok(picks.size > 1, 'different datagrams still spread over backends')
})

t.test('a reply datagram fragmented by the backend is translated, later fragments included', async (t) => {
  const h = new Harness()
  const sent = h.send(fromClient({ sport: 48000 })).out[0]!.frame
  const fwd = parseFrame(sent)!
  const spec = (fragment: Record<string, unknown>, payload: string) =>
    buildFrame({
      eth: { src: fwd.eth.dst, dst: MAC.provider },
      ipv4: { src: fwd.ipv4!.dst, dst: '192.168.6.2' },
      nvgre: { vsid: fwd.gre!.vsid, inner: { eth: { src: fwd.inner!.eth.dst, dst: MAC.gateway }, ipv4: { src: fwd.inner!.ipv4!.dst, dst: '198.51.100.10', id: 999, ...fragment }, ...(fragment.mf === true ? { tcp: { srcPort: 80, dstPort: 48000, flags: ['ack'] as 'ack'[] } } : {}), payload } },
    })
  const first = h.send(spec({ mf: true }, 'c'.repeat(80)))
  const later = h.send(spec({ fragmentOffset: 13, protocol: 6 }, 'd'.repeat(30)))
  for (const r of [first, later]) {
    t.equal(r.verdict, Verdict.TX, r.drops.join(','))
    const f = parseFrame(r.out[0]!.frame)!
    t.equal(f.ipv4!.src, '203.0.113.10')
    t.ok(f.ipv4!.checksumValid)
  }
})
