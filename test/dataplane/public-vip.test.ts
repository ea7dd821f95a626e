import t from 'tap'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { Side, Verdict } from '../../lib/dataplane/engine'
import { Harness } from '../helpers/engine-harness'

const CLIENT_MAC = '02:00:c6:33:64:0a'
const EXT_MAC = '02:00:c6:33:64:01'
const PA_MAC = '02:00:c0:a8:06:02'
const GW_MAC = '02:00:00:00:00:01'

function clientSyn(sport: number, vip = '203.0.113.10') {
  return buildFrame({
    eth: { src: CLIENT_MAC, dst: EXT_MAC },
    ipv4: { src: '198.51.100.10', dst: vip, id: 77, df: true },
    tcp: { srcPort: sport, dstPort: 80, seq: 1000, flags: ['syn'], mss: 1460 },
  })
}

t.test('public VIP inbound: DNAT and NVGRE to the backend host (seed example)', async (t) => {
  const h = new Harness()
  // Find a client port that Maglev balances to Blue VM2 (10.1.6.21 on host1).
  let found: ReturnType<typeof parseFrame> = null
  let sport = 40000
  for (; sport < 41000 && found === null; sport++) {
    const r = h.send(clientSyn(sport))
    t.equal(r.verdict, Verdict.TX)
    const f = parseFrame(r.out[0]!.frame)!
    if (f.inner!.ipv4!.dst === '10.1.6.21' && f.gre!.vsid === 5001) found = f
  }
  t.ok(found, 'some flow goes to Blue VM2')
  const f = found!
  t.equal(f.eth.src, PA_MAC, 'outer source MAC = nvlb')
  t.equal(f.eth.dst, '02:00:c0:a8:06:04', 'outer destination MAC = host1')
  t.equal(f.ipv4!.src, '192.168.6.2')
  t.equal(f.ipv4!.dst, '192.168.6.4')
  t.equal(f.ipv4!.protocol, 47)
  t.ok(f.ipv4!.checksumValid)
  t.equal(f.gre!.protocol, 0x6558)
  t.equal(f.gre!.key >>> 8, 5001)
  t.equal(f.inner!.eth.src, GW_MAC)
  t.equal(f.inner!.eth.dst, '00:15:5d:01:06:21')
  t.equal(f.inner!.ipv4!.src, '198.51.100.10', 'client address preserved')
  t.equal(f.inner!.ipv4!.dst, '10.1.6.21')
  t.ok(f.inner!.ipv4!.checksumValid)
  t.equal(f.inner!.tcp!.dstPort, 80)
  t.equal(f.inner!.tcp!.checksumValid, true)
})

t.test('public VIP return path: reverse NAT out of the external side', async (t) => {
  const h = new Harness()
  const r = h.send(clientSyn(50000))
  const fwd = parseFrame(r.out[0]!.frame)!
  const dip = fwd.inner!.ipv4!.dst
  const vsid = fwd.gre!.vsid
  const host = fwd.ipv4!.dst
  const reply = buildFrame({
    eth: { src: fwd.eth.dst, dst: PA_MAC },
    ipv4: { src: host, dst: '192.168.6.2' },
    nvgre: {
      vsid,
      inner: {
        eth: { src: fwd.inner!.eth.dst, dst: GW_MAC },
        ipv4: { src: dip, dst: '198.51.100.10', df: true },
        tcp: { srcPort: 80, dstPort: 50000, seq: 5, ack: 1001, flags: ['syn', 'ack'], mss: 1460 },
      },
    },
  })
  const back = h.send(reply)
  t.equal(back.verdict, Verdict.TX, back.drops.join(','))
  t.equal(back.out[0]!.side, Side.EXTERNAL)
  const f = parseFrame(back.out[0]!.frame)!
  t.equal(f.eth.dst, CLIENT_MAC, 'to the MAC the first packet came from')
  t.equal(f.eth.src, EXT_MAC)
  t.equal(f.ipv4!.src, '203.0.113.10')
  t.equal(f.ipv4!.dst, '198.51.100.10')
  t.ok(f.ipv4!.checksumValid)
  t.equal(f.tcp!.srcPort, 80)
  t.equal(f.tcp!.dstPort, 50000)
  t.equal(f.tcp!.checksumValid, true)
})
