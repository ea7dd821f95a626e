/**
 * The seed's example: a connection from ClientIP to the Blue public VIP,
 * balanced to Blue VM2 (VSID BlueVSID1 = 5001 in the reference deployment, CA 10.1.6.21,
 * host PA 192.168.6.4), leaves nvlb (PA 192.168.6.2) as
 *   MAC_LB→MAC_H1 | 192.168.6.2→192.168.6.4 | key BlueVSID1 | MAC_gw→MAC_VM2 | ClientIP→10.1.6.21
 */
import t from 'tap'
import { buildFrame, parseFrame } from '../../lib/packet/frame'

const MAC_LB = '02:00:c0:a8:06:02' // nvlb's providerMac
const MAC_H1 = '02:00:c0:a8:06:04' // neighbour 192.168.6.4
const MAC_GW = '02:00:00:00:00:01' // gatewayMac
const MAC_VM2 = '00-15-5D-01-06-21' // lookup record of 10.1.6.21 in VSID 5001
const CLIENT_IP = '198.51.100.10'
const BLUE_VSID1 = 5001
const FLOW_ID = 0x2a

const frame = buildFrame({
  eth: { src: MAC_LB, dst: MAC_H1 },
  ipv4: { src: '192.168.6.2', dst: '192.168.6.4', ttl: 64, id: 0 },
  nvgre: {
    vsid: BLUE_VSID1,
    flowId: FLOW_ID,
    inner: {
      eth: { src: MAC_GW, dst: MAC_VM2 },
      ipv4: { src: CLIENT_IP, dst: '10.1.6.21', ttl: 64, id: 0 },
      tcp: { srcPort: 40000, dstPort: 80, seq: 1, flags: ['syn'], window: 65535 },
    },
  },
})

t.test('outer Ethernet: MAC_LB -> MAC_H1, IPv4', async (t) => {
  t.equal(frame.subarray(0, 14).toString('hex'), '0200c0a80604' + '0200c0a80602' + '0800')
})

t.test('outer IPv4 + GRE header, byte for byte', async (t) => {
  // inner frame = 14 (Ethernet) + 20 (IPv4) + 20 (TCP) = 54; outer total = 20 + 8 + 54 = 82
  // checksum by hand: 4500+0052+0000+0000+402f+0000+c0a8+0602+c0a8+0604 = 0x212d7
  //   → 0x12d7 + 0x2 = 0x12d9 → ~ = 0xed26
  const expected =
    '45' + '00' + '0052' + // version 4, IHL 5, TOS 0, total length 82
    '0000' + '0000' + //      id 0, no flags, offset 0
    '40' + '2f' + 'ed26' + // TTL 64, protocol 47 (GRE), header checksum
    'c0a80602' + //           192.168.6.2 (nvlb PA)
    'c0a80604' + //           192.168.6.4 (host1 PA)
    '2000' + //               GRE C=0 K=1 S=0, version 0
    '6558' + //               Transparent Ethernet Bridging
    '001389' + '2a' //        key: VSID 5001 (0x001389) << 8 | FlowID 0x2a
  t.equal(frame.subarray(14, 14 + 28).toString('hex'), expected)
  t.equal(frame.readUInt32BE(14 + 24), (5001 << 8) | FLOW_ID, 'key = VSID << 8 | FlowID')
})

t.test('inner Ethernet MAC_gw -> MAC_VM2, inner IPv4 ClientIP -> 10.1.6.21', async (t) => {
  const inner = frame.subarray(42)
  t.equal(inner.subarray(0, 14).toString('hex'), '00155d010621' + '020000000001' + '0800')
  t.equal(inner.subarray(14 + 12, 14 + 20).toString('hex'), 'c633640a' + '0a010615')
  t.equal(frame.length, 14 + 82)
})

t.test('parseFrame reads it back', async (t) => {
  const p = parseFrame(frame)!
  t.equal(p.error, null)
  t.match(p, {
    eth: { src: MAC_LB, dst: MAC_H1, vlan: null },
    ipv4: { src: '192.168.6.2', dst: '192.168.6.4', protocol: 47, checksumValid: true },
    gre: { vsid: BLUE_VSID1, flowId: FLOW_ID, key: (BLUE_VSID1 << 8) | FLOW_ID, protocol: 0x6558 },
  })
  t.equal(p.inner!.eth.dst, '00:15:5d:01:06:21')
  t.equal(p.inner!.eth.src, MAC_GW)
  t.equal(p.inner!.ipv4!.src, CLIENT_IP)
  t.equal(p.inner!.ipv4!.dst, '10.1.6.21')
  t.equal(p.inner!.tcp!.dstPort, 80)
  t.equal(p.inner!.tcp!.checksumValid, true)
})
