/**
 * Hairpin: a tenant VM using a public VIP. Its NVGRE arrives with the public
 * VIP as inner destination; nvlb serves it like an Internet client with its
 * source translated to the external address (and an allocated port, like full
 * NAT), and the backend's reply, addressed to that address and port, goes back
 * to the VM in its own VSID.
 */
import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { Side, Verdict } from '../../lib/dataplane/engine'
import { Harness, MAC, fromAppTier, referenceConfig, replyTo } from '../helpers/engine-harness'

const BLUE_VM11_MAC = '00:15:5d:01:05:20'
const RED_VM11_MAC = '00:15:5d:02:05:20'
const BLUE_WEB_HOST: Record<string, string> = { '10.1.6.20': '192.168.6.4', '10.1.6.21': '192.168.6.4', '10.1.6.22': '192.168.6.5', '10.1.6.23': '192.168.6.6' }

function toPublicVip(vsid: number, sport: number, opts: { udp?: boolean; flags?: ['ack']; dport?: number } = {}): Buffer {
  return fromAppTier({ vsid, sport, vip: '203.0.113.10', vmMac: vsid === 5002 ? BLUE_VM11_MAC : RED_VM11_MAC, ...opts })
}

t.test('a tenant VM reaches a public VIP: source NAT to the external address, the reply back in its own VSID', async (t) => {
  for (const prefetch of [false, true]) {
    const h = new Harness(referenceConfig(), { prefetch })
    const r = h.send(toPublicVip(5002, 45000))
    t.equal(r.verdict, Verdict.TX, r.drops.join(','))
    t.equal(r.out[0]!.side, Side.PROVIDER)
    const fwd = parseFrame(r.out[0]!.frame)!
    const dip = fwd.inner!.ipv4!.dst
    t.ok(dip in BLUE_WEB_HOST, `a blue web VM (${dip})`)
    t.equal(fwd.ipv4!.src, '192.168.6.2')
    t.equal(fwd.ipv4!.dst, BLUE_WEB_HOST[dip], "to the backend's host")
    t.equal(fwd.gre!.vsid, 5001, "in the backend's VSID")
    t.equal(fwd.inner!.eth.src, MAC.gateway)
    t.equal(fwd.inner!.ipv4!.src, '198.51.100.1', "source NAT to nvlb's external address")
    const natPort = fwd.inner!.tcp!.srcPort
    t.ok(natPort >= 1024 && natPort !== 45000, `allocated source port ${natPort}`)
    t.equal(fwd.inner!.tcp!.dstPort, 80)
    t.ok(fwd.inner!.ipv4!.checksumValid)
    t.equal(fwd.inner!.tcp!.checksumValid, true)

    // The backend answers the external address through its default route, in its own VSID.
    const back = h.send(replyTo(r.out[0]!.frame, { vsid: 5001 }))
    t.equal(back.verdict, Verdict.TX, back.drops.join(','))
    t.equal(back.out[0]!.side, Side.PROVIDER)
    const rev = parseFrame(back.out[0]!.frame)!
    t.equal(rev.ipv4!.dst, '192.168.6.7', "to the VM's host (host4)")
    t.equal(rev.eth.dst, MAC.host4)
    t.equal(rev.gre!.vsid, 5002, "in the VM's own VSID")
    t.equal(rev.inner!.eth.dst, BLUE_VM11_MAC)
    t.equal(rev.inner!.ipv4!.src, '203.0.113.10', 'from the public VIP')
    t.equal(rev.inner!.ipv4!.dst, '10.1.5.20')
    t.equal(rev.inner!.tcp!.srcPort, 80)
    t.equal(rev.inner!.tcp!.dstPort, 45000)
    t.ok(rev.inner!.ipv4!.checksumValid)
    t.equal(rev.inner!.tcp!.checksumValid, true)

    // Later packets of the flow take the same way and the same port.
    const ack = parseFrame(h.send(toPublicVip(5002, 45000, { flags: ['ack'] })).out[0]!.frame)!
    t.equal(ack.inner!.ipv4!.dst, dip)
    t.equal(ack.inner!.tcp!.srcPort, natPort)
  }
})

t.test('UDP hairpin', async (t) => {
  const config = referenceConfig()
  config.vips.find((v) => v.name === 'blue-public')!.rules.push({ protocol: 'udp', frontendPort: 53, backendPort: 53, pool: 'blue-web', idleTimeoutSeconds: 60, distribution: '5-tuple' })
  const h = new Harness(config)
  const r = h.send(toPublicVip(5002, 45100, { udp: true, dport: 53 }))
  t.equal(r.verdict, Verdict.TX, r.drops.join(','))
  const fwd = parseFrame(r.out[0]!.frame)!.inner!
  t.equal(fwd.ipv4!.src, '198.51.100.1')
  t.equal(fwd.udp!.checksumValid, true)
  const back = h.send(replyTo(r.out[0]!.frame, { vsid: 5001 }))
  t.equal(back.verdict, Verdict.TX, back.drops.join(','))
  const rev = parseFrame(back.out[0]!.frame)!
  t.equal(rev.gre!.vsid, 5002)
  t.equal(rev.inner!.udp!.srcPort, 53)
  t.equal(rev.inner!.udp!.dstPort, 45100)
  t.equal(rev.inner!.udp!.checksumValid, true)
})

t.test('hairpin ports follow the worker-residue rule of full NAT', async (t) => {
  for (const workerCount of [2, 3, 4]) {
    const h = new Harness(referenceConfig(), { workerCount })
    for (let sport = 46000; sport < 46020; sport++) {
      const fwd = parseFrame(h.send(toPublicVip(5002, sport)).out[0]!.frame)!
      const natPort = fwd.inner!.tcp!.srcPort
      t.equal(natPort % workerCount, sport % workerCount, `${workerCount} workers: port ${natPort} for client port ${sport}`)
    }
  }
})

t.test('tenants stay apart: the same CA and port in two tenants are two flows, each reply to its own tenant', async (t) => {
  const h = new Harness()
  const blue = h.send(toPublicVip(5002, 47000))
  const red = h.send(toPublicVip(6002, 47000))
  t.equal(blue.verdict, Verdict.TX)
  t.equal(red.verdict, Verdict.TX)
  const blueFwd = parseFrame(blue.out[0]!.frame)!.inner!
  const redFwd = parseFrame(red.out[0]!.frame)!.inner!
  t.ok(
    blueFwd.ipv4!.dst !== redFwd.ipv4!.dst || blueFwd.tcp!.srcPort !== redFwd.tcp!.srcPort,
    'distinct reply tuples at the backend',
  )
  const blueBack = parseFrame(h.send(replyTo(blue.out[0]!.frame, { vsid: 5001 })).out[0]!.frame)!
  const redBack = parseFrame(h.send(replyTo(red.out[0]!.frame, { vsid: 5001 })).out[0]!.frame)!
  t.equal(blueBack.gre!.vsid, 5002)
  t.equal(blueBack.inner!.eth.dst, BLUE_VM11_MAC)
  t.equal(redBack.gre!.vsid, 6002)
  t.equal(redBack.inner!.eth.dst, RED_VM11_MAC)

  // A reply with the right tuple from another routing domain's VSID is refused.
  const stray = h.send(replyTo(blue.out[0]!.frame, { vsid: 6001 }))
  t.equal(stray.verdict, Verdict.DROP)
  t.same(stray.drops, ['wrong_routing_domain'])
  // And an Internet client cannot reach the NAT port on the external address.
  const probe = h.send(
    (await import('../helpers/engine-harness')).fromClient({ sport: 80, vip: '198.51.100.1', dport: blueFwd.tcp!.srcPort }),
  )
  t.equal(probe.verdict, Verdict.DROP)
})

t.test('a non-first fragment reaches the flow its first fragment made', async (t) => {
  const h = new Harness()
  const { buildFrame } = await import('../../lib/packet/frame')
  const fragment = (offset: number, mf: boolean, payload: Buffer) =>
    buildFrame({
      eth: { src: MAC.host4, dst: MAC.provider },
      ipv4: { src: '192.168.6.7', dst: '192.168.6.2' },
      nvgre: {
        vsid: 5002,
        inner: {
          eth: { src: BLUE_VM11_MAC, dst: MAC.gateway },
          ipv4: { src: '10.1.5.20', dst: '203.0.113.10', id: 4242, mf, fragmentOffset: offset, protocol: 17, df: false },
          payload,
        },
      },
    })
  const config = referenceConfig()
  config.vips.find((v) => v.name === 'blue-public')!.rules.push({ protocol: 'udp', frontendPort: 53, backendPort: 53, pool: 'blue-web', idleTimeoutSeconds: 60, distribution: '5-tuple' })
  const hh = new Harness(config)
  const udpHeader = Buffer.from([0xaf, 0xc8, 0x00, 0x35, 0x00, 0x30, 0x00, 0x00]) // 45000 → 53, length 48, no checksum
  const first = hh.send(fragment(0, true, Buffer.concat([udpHeader, Buffer.alloc(16)])))
  t.equal(first.verdict, Verdict.TX, first.drops.join(','))
  const second = hh.send(fragment(3, false, Buffer.alloc(24)))
  t.equal(second.verdict, Verdict.TX, second.drops.join(','))
  const a = parseFrame(first.out[0]!.frame)!
  const b = parseFrame(second.out[0]!.frame)!
  t.equal(b.inner!.ipv4!.src, '198.51.100.1')
  t.equal(b.inner!.ipv4!.dst, a.inner!.ipv4!.dst, 'same backend')
  const unknown = h.send(fragment(3, false, Buffer.alloc(24)))
  t.same(unknown.drops, ['fragment_no_state'], 'without its first fragment')
})
