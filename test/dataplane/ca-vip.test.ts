import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { Side, Verdict } from '../../lib/dataplane/engine'
import { Harness, MAC, fromAppTier, replyTo } from '../helpers/engine-harness'

t.test('CA VIP full NAT: both directions, addresses, ports, MACs, checksums', async (t) => {
  const h = new Harness()
  const r = h.send(fromAppTier({ vsid: 5002, sport: 33000 }))
  t.equal(r.verdict, Verdict.TX, r.drops.join(','))
  t.equal(r.out[0]!.side, Side.PROVIDER)
  const fwd = parseFrame(r.out[0]!.frame)!
  t.equal(fwd.ipv4!.src, '192.168.6.2', 'outer source = nvlb PA')
  t.equal(fwd.gre!.vsid, 5001, "key = the backend's VSID")
  t.ok(['10.1.6.20', '10.1.6.21', '10.1.6.22', '10.1.6.23'].includes(fwd.inner!.ipv4!.dst), 'a blue web VM')
  t.equal(fwd.inner!.ipv4!.src, '10.1.5.100', 'source NAT to the VIP')
  t.not(fwd.inner!.tcp!.srcPort, 33000, 'allocated source port')
  t.ok(fwd.inner!.tcp!.srcPort >= 1024)
  t.equal(fwd.inner!.tcp!.dstPort, 80)
  t.equal(fwd.inner!.eth.src, MAC.gateway)
  t.ok(fwd.inner!.ipv4!.checksumValid)
  t.equal(fwd.inner!.tcp!.checksumValid, true)

  // The backend's host routes the reply to the VIP with the VIP's VSID (5002).
  const back = h.send(replyTo(r.out[0]!.frame, { vsid: 5002 }))
  t.equal(back.verdict, Verdict.TX, back.drops.join(','))
  const rev = parseFrame(back.out[0]!.frame)!
  t.equal(rev.ipv4!.src, '192.168.6.2')
  t.equal(rev.ipv4!.dst, '192.168.6.7', "to the client's host (host4)")
  t.equal(rev.eth.dst, MAC.host4)
  t.equal(rev.gre!.vsid, 5002, "key = the client's VSID")
  t.equal(rev.inner!.eth.dst, '00:15:5d:01:05:20', 'blue-vm11 MAC from its lookup record')
  t.equal(rev.inner!.ipv4!.src, '10.1.5.100')
  t.equal(rev.inner!.ipv4!.dst, '10.1.5.20')
  t.equal(rev.inner!.tcp!.srcPort, 80)
  t.equal(rev.inner!.tcp!.dstPort, 33000)
  t.ok(rev.inner!.ipv4!.checksumValid)
  t.equal(rev.inner!.tcp!.checksumValid, true)
})

t.test('a reply is accepted only from the flow backend and only within the routing domain', async (t) => {
  const h = new Harness()
  const r = h.send(fromAppTier({ vsid: 5002, sport: 33001 }))
  const sent = r.out[0]!.frame
  const wrongDomain = h.send(replyTo(sent, { vsid: 6002 }))
  t.equal(wrongDomain.verdict, Verdict.DROP)
  t.same(wrongDomain.drops, ['wrong_routing_domain'])
  const otherBackend = h.send(replyTo(sent, { vsid: 5002, src: '10.1.6.99' }))
  t.equal(otherBackend.verdict, Verdict.DROP)
  t.same(otherBackend.drops, ['no_flow'])
  const ok = h.send(replyTo(sent, { vsid: 5001 }))
  t.equal(ok.verdict, Verdict.TX, 'the backend VSID of the same domain is accepted too')
})

t.test('dnat on a CA VIP: the backend sees the client; the reply routed through nvlb is translated', async (t) => {
  const config = (await import('../helpers/engine-harness')).referenceConfig()
  for (const vip of config.vips) if (vip.virtualSubnetId !== 0) vip.natMode = 'dnat'
  const h = new Harness(config)
  const r = h.send(fromAppTier({ vsid: 5002, sport: 34000 }))
  const fwd = parseFrame(r.out[0]!.frame)!
  t.equal(fwd.inner!.ipv4!.src, '10.1.5.20', 'client address kept')
  t.equal(fwd.inner!.tcp!.srcPort, 34000)
  const back = h.send(replyTo(r.out[0]!.frame))
  t.equal(back.verdict, Verdict.TX, back.drops.join(','))
  const rev = parseFrame(back.out[0]!.frame)!
  t.equal(rev.inner!.ipv4!.src, '10.1.5.100')
  t.equal(rev.inner!.ipv4!.dst, '10.1.5.20')
  t.equal(rev.gre!.vsid, 5002)
  t.equal(rev.inner!.tcp!.checksumValid, true)
})
