import t from 'tap'
import { ForwardingLoop, SIDE_EXTERNAL, SIDE_PROVIDER, type PacketEngine } from '../../lib/io/forwarding-loop'
import { MemoryPort } from '../../lib/io/memory-port'
import { RX_HEADROOM } from '../../lib/io/frame-port'
import { IO_BATCHES, IO_RX_FRAMES, IO_RX_TRUNCATED, IO_TX_ERRORS } from '../../lib/io/io-counters'
import { TxQueue } from '../../lib/dataplane/tx-queue'
import { ACTION_DROP, ACTION_OFFSET, ACTION_REFLECT, ACTION_REFLECT_AND_EXTRA, ReflectEngine } from './helpers/reflect-engine'
import { isTestFrame, testFrame } from './helpers/frames'

const MARKER = 0x6e766c62

function drain(port: MemoryPort): Buffer[] {
  const frames: Buffer[] = []
  for (let n = port.receive(); n > 0; n = port.receive()) {
    for (let i = 0; i < n; i++) frames.push(Buffer.from(port.rxBuffer.subarray(port.rxOffsets[i]!, port.rxOffsets[i]! + port.rxLengths[i]!)))
  }
  return frames
}

function inject(wire: MemoryPort, frames: Buffer[]): void {
  for (const f of frames) wire.send(f, 0, f.length)
  wire.flush()
}

t.test('memory ports: what one end flushes the other receives, in order, at the headroom', async (t) => {
  const [a, b] = MemoryPort.pair('a', 'b', { batchSize: 4 })
  const frames = [60, 61, 1514, 200, 64, 99].map((len, i) => testFrame(MARKER, i, len))
  inject(a, frames)
  t.equal(b.pending(), 6)
  const first = b.receive()
  t.equal(first, 4, 'a receive returns at most batchSize frames')
  for (let i = 0; i < first; i++) t.ok(b.rxOffsets[i]! % b.slotSize >= RX_HEADROOM, 'frame leaves the headroom free')
  const got = [...Array.from({ length: first }, (_, i) => Buffer.from(b.rxBuffer.subarray(b.rxOffsets[i]!, b.rxOffsets[i]! + b.rxLengths[i]!))), ...drain(b)]
  t.same(got, frames)
  t.equal(b.counters[IO_RX_FRAMES], 6)
})

t.test('memory port: frames longer than a slot are counted, a full queue refuses', async (t) => {
  const [a, b] = MemoryPort.pair('a', 'b', { slotSize: 256, queueCapacity: 2 })
  inject(a, [testFrame(MARKER, 0, 300), testFrame(MARKER, 1, 100), testFrame(MARKER, 2, 100), testFrame(MARKER, 3, 100)])
  t.equal(b.counters[IO_RX_TRUNCATED], 1)
  t.equal(a.counters[IO_TX_ERRORS], 1, 'the third fitting frame found the queue full')
  t.same(drain(b).map((f) => f.readUInt32BE(18)), [1, 2])
})

t.test('forwarding loop: one port carries both sides; reflected frames and extras go back out', async (t) => {
  const [wire, port] = MemoryPort.pair('wire', 'nvlb', { batchSize: 8 })
  const engine = new ReflectEngine()
  const loop = new ForwardingLoop(engine, port)
  const frames = Array.from({ length: 20 }, (_, i) => {
    const f = testFrame(MARKER, i, 80)
    f[ACTION_OFFSET] = i === 5 ? ACTION_REFLECT_AND_EXTRA : i === 6 ? ACTION_DROP : ACTION_REFLECT
    return f
  })
  inject(wire, frames)
  const counts: number[] = []
  for (let most = loop.runBatch(1, 1); most > 0; most = loop.runBatch(1, 1)) counts.push(most)
  t.same(counts, [8, 8, 4], 'three batches of at most batchSize')
  const out = drain(wire)
  t.equal(out.length, 20, '19 reflected + 1 extra, the dropped one missing')
  t.ok(out.every((f) => isTestFrame(f, 0, f.length, MARKER)))
  t.same(out.filter((f) => f[ACTION_OFFSET] === 0xee).map((f) => f.readUInt32BE(18)), [5], 'the extra frame')
  t.notOk(out.some((f) => f.readUInt32BE(18) === 6), 'dropped frame not sent')
  t.same(out[0]!.subarray(0, 6), frames[0]!.subarray(6, 12), 'MACs swapped in place')
  t.equal(engine.extra.count, 0, 'extra queue cleared after the batch')
})

t.test('forwarding loop: two ports, outSide picks the port', async (t) => {
  const [providerWire, provider] = MemoryPort.pair('pw', 'p')
  const [externalWire, external] = MemoryPort.pair('ew', 'e')
  // Frames from the provider go out external and vice versa; every frame also makes an extra on the provider side.
  const extra = new TxQueue(16)
  const engine: PacketEngine = {
    outOffset: 0,
    outLength: 0,
    outSide: 0,
    extra,
    tick() {},
    process(buf, off, len) {
      this.outOffset = off
      this.outLength = len
      this.outSide = buf[off + 22] === 0 ? SIDE_EXTERNAL : SIDE_PROVIDER
      const at = extra.reserve()
      buf.copy(extra.buffer, at, off, off + len)
      extra.buffer[at + 23] = 0xaa
      extra.commit(len, SIDE_PROVIDER)
      return 1
    },
  }
  const counters = new Float64Array(16)
  const loop = new ForwardingLoop(engine, provider, external, counters)
  t.equal(loop.ports.length, 2)
  const fromProvider = testFrame(MARKER, 1, 70)
  fromProvider[22] = 0
  const fromExternal = testFrame(MARKER, 2, 70)
  fromExternal[22] = 1
  inject(providerWire, [fromProvider])
  inject(externalWire, [fromExternal])
  loop.runBatch(1, 0b01)
  t.equal(external.pending(), 1, 'not ready: the external port was not read')
  t.same(drain(externalWire).map((f) => f.readUInt32BE(18)), [1])
  loop.runBatch(1, 0b10)
  const onProvider = drain(providerWire)
  t.same(onProvider.map((f) => [f.readUInt32BE(18), f[23] === 0xaa]), [[1, true], [2, false], [2, true]])
  t.equal(counters[IO_BATCHES], 2)
})
