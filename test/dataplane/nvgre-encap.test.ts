import t from 'tap'
import { flowIdOf, NvgreEncap } from '../../lib/dataplane/nvgre-encap'
import { NVGRE_ENCAP_HEADERS } from '../../lib/packet/nvgre'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { Harness } from '../helpers/engine-harness'

t.test('the outer headers in front of an inner packet: addresses, key, MACs, outer checksum', async (t) => {
  const e = new NvgreEncap()
  e.adopt(new Harness().engine.snapshot!)
  const inner = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '198.51.100.10', dst: '10.1.6.21' }, tcp: { srcPort: 1, dstPort: 80, flags: ['syn'] } }).subarray(14)
  const buf = Buffer.alloc(NVGRE_ENCAP_HEADERS + inner.length)
  inner.copy(buf, NVGRE_ENCAP_HEADERS)
  const nextHop = Uint8Array.of(2, 0, 0xc0, 0xa8, 6, 4)
  const vm = Uint8Array.of(0, 0x15, 0x5d, 1, 6, 0x21)
  e.write(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0, inner.length, nextHop, 0, 0xc0a80604 | 0, 5001, vm, 0, 0x12345678, 0x4000)
  const f = parseFrame(buf)!
  t.equal(f.eth.dst, '02:00:c0:a8:06:04')
  t.equal(f.eth.src, '02:00:c0:a8:06:02')
  t.equal(f.ipv4!.src, '192.168.6.2')
  t.equal(f.ipv4!.dst, '192.168.6.4')
  t.equal(f.ipv4!.df, true)
  t.ok(f.ipv4!.checksumValid, 'outer checksum computed from the fields')
  t.equal(f.ipv4!.totalLength, inner.length + 42)
  t.equal(f.gre!.vsid, 5001)
  t.equal(f.gre!.flowId, flowIdOf(0x12345678))
  t.equal(f.inner!.eth.src, '02:00:00:00:00:01', 'gateway MAC')
  t.equal(f.inner!.eth.dst, '00:15:5d:01:06:21')
  t.equal(f.inner!.ipv4!.dst, '10.1.6.21')
})

t.test('FlowID folds all four bytes of the hash', async (t) => {
  t.equal(flowIdOf(0x01020304), 0x01 ^ 0x02 ^ 0x03 ^ 0x04)
  t.equal(flowIdOf(-1), 0)
  t.not(flowIdOf(0x100), flowIdOf(0x200))
})
