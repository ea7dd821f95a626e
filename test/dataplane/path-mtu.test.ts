import t from 'tap'
import { fragmentRoom, innerMtu, writeFragment, writeFragmentationNeeded } from '../../lib/dataplane/path-mtu'
import { buildFrame, parseFrame } from '../../lib/packet/frame'

const big = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10', df: true }, tcp: { srcPort: 40000, dstPort: 80, flags: ['ack'] }, payload: 'z'.repeat(1460) })

t.test('fragmentation-needed quotes the packet and says providerMtu − 42', async (t) => {
  t.equal(innerMtu(1500), 1458)
  const out = Buffer.alloc(14 + 20 + 8 + 28)
  const length = writeFragmentationNeeded(out, 14, big, 14, 20, big.length - 14, 7, 1500)
  t.equal(length, 20 + 8 + 28)
  out.writeUInt16BE(0x0800, 12)
  const f = parseFrame(out)!
  t.equal(f.ipv4!.src, '203.0.113.10')
  t.equal(f.ipv4!.dst, '198.51.100.10')
  t.ok(f.ipv4!.checksumValid)
  t.equal(f.icmp!.type, 3)
  t.equal(f.icmp!.code, 4)
  t.equal(f.icmp!.nextHopMtu, 1458)
  t.equal(f.icmp!.checksumValid, true)
})

t.test('fragments fit, are multiples of 8 and carry the right offsets', async (t) => {
  const room = fragmentRoom(1500, 20)
  t.equal(room % 8, 0)
  t.ok(room + 20 <= 1458)
  const payload = big.length - 14 - 20
  const out = Buffer.alloc(14 + 20 + room)
  writeFragment(out, 14, big, 14, 20, 20, 0, room, payload - room, false)
  out.writeUInt16BE(0x0800, 12)
  const f = parseFrame(out.subarray(0, 14 + 20 + (payload - room)))!
  t.equal(f.ipv4!.fragmentOffset * 8, room)
  t.equal(f.ipv4!.mf, false)
  t.ok(f.ipv4!.checksumValid)
})
