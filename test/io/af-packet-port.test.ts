import t from 'tap'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import { PollSet } from '../../lib/io/poll-set'
import { RX_HEADROOM } from '../../lib/io/frame-port'
import { IO_RX_TRUNCATED, IO_TX_FRAMES } from '../../lib/io/io-counters'
import { ErrorCodes } from '../../lib/errors'
import { ifNameToIndex } from '../../lib/io/libc'
import { createVethPair, linkExists, packetSocketsOn, SKIP_NOT_ROOT } from './helpers/veth'
import { isTestFrame, testFrame } from './helpers/frames'

/** Receives test frames with `marker` from `port` until `count` arrived (or the wire stays silent for 2 s). */
function receiveFrames(port: AfPacketPort, marker: number, count: number, batchCounts?: number[]): Buffer[] {
  const poll = new PollSet([port.fd])
  const frames: Buffer[] = []
  while (frames.length < count) {
    if (poll.wait(2000) === 0) break
    const n = port.receive()
    if (batchCounts !== undefined && n > 0) batchCounts.push(n)
    for (let i = 0; i < n; i++) {
      const off = port.rxOffsets[i]!
      const len = port.rxLengths[i]!
      if (isTestFrame(port.rxBuffer, off, len, marker)) frames.push(Buffer.from(port.rxBuffer.subarray(off, off + len)))
    }
  }
  return frames
}

/** Reads whatever is queued right now. */
function drainNow(port: AfPacketPort, marker: number): number {
  let found = 0
  for (let n = port.receive(); n > 0; n = port.receive()) {
    for (let i = 0; i < n; i++) if (isTestFrame(port.rxBuffer, port.rxOffsets[i]!, port.rxLengths[i]!, marker)) found++
  }
  return found
}

const createdNames: string[] = []

t.test('AF_PACKET ports on a veth pair', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair()
  createdNames.push(veth.a, veth.b)
  const ports: AfPacketPort[] = []
  t.teardown(() => {
    for (const p of ports) p.close()
    veth.remove()
  })
  const open = (name: string, batchSize = 64, slotSize?: number): AfPacketPort => {
    const p = new AfPacketPort({ interfaceName: name, batchSize, slotSize })
    ports.push(p)
    return p
  }

  t.test('a batch arrives byte for byte, in order, behind the headroom', async (t) => {
    const a = open(veth.a)
    const b = open(veth.b)
    const marker = 0x10000001
    const sizes = [60, 64, 65, 128, 333, 1000, 1514, 60, 1513, 97]
    const frames = sizes.map((len, i) => testFrame(marker, i, len))
    for (const f of frames) a.send(f, 0, f.length)
    a.flush()
    t.equal(a.counters[IO_TX_FRAMES], frames.length)
    const got = receiveFrames(b, marker, frames.length)
    t.same(got, frames)
    t.equal(b.rxOffsets[0]! % b.slotSize, RX_HEADROOM, 'frames start HEADROOM bytes into their slot')
    t.equal(drainNow(a, marker), 0, 'the sender does not read back its own frames (PACKET_IGNORE_OUTGOING)')
    t.ok(a.ignoresOutgoing)
  })

  for (const batchSize of [1, 7, 64]) {
    t.test(`batch size ${batchSize}: 150 frames, receive never returns more than a batch`, async (t) => {
      const a = open(veth.a, batchSize)
      const b = open(veth.b, batchSize)
      const marker = 0x20000000 + batchSize
      const frames = Array.from({ length: 150 }, (_, i) => testFrame(marker, i, 60 + (i % 50)))
      // send() flushes by itself whenever batchSize frames are queued.
      for (const f of frames) a.send(f, 0, f.length)
      a.flush()
      const batches: number[] = []
      const got = receiveFrames(b, marker, frames.length, batches)
      t.same(got.map((f) => f.readUInt32BE(18)), frames.map((_, i) => i), 'all, in order')
      t.same(got, frames, 'byte for byte')
      t.ok(batches.every((n) => n <= batchSize))
    })
  }

  t.test('send from any buffer and offset (zero-copy iovecs)', async (t) => {
    const a = open(veth.a)
    const b = open(veth.b)
    const marker = 0x30000001
    const big = Buffer.alloc(64 * 1024)
    const frames = [testFrame(marker, 0, 100), testFrame(marker, 1, 200), testFrame(marker, 2, 60)]
    const offsets = [17, 4096 + 3, 60000]
    frames.forEach((f, i) => f.copy(big, offsets[i]))
    const small = testFrame(marker, 3, 77) // another buffer, from the pool
    frames.forEach((f, i) => a.send(big, offsets[i]!, f.length))
    a.send(small, 0, small.length)
    a.flush()
    t.same(receiveFrames(b, marker, 4), [...frames, small])
  })

  t.test('frames longer than a slot are dropped and counted', async (t) => {
    const a = open(veth.a)
    const b = open(veth.b, 8, 256)
    const marker = 0x40000001
    a.send(testFrame(marker, 0, 500), 0, 500)
    a.send(testFrame(marker, 1, 192), 0, 192)
    a.flush()
    const got = receiveFrames(b, marker, 1)
    t.same(got.map((f) => f.readUInt32BE(18)), [1], 'a frame of exactly slotSize - headroom fits')
    t.equal(b.counters[IO_RX_TRUNCATED], 1)
  })

  t.test('close releases the socket', async (t) => {
    const ifindex = ifNameToIndex(veth.b)
    const before = packetSocketsOn(ifindex)
    const p = new AfPacketPort({ interfaceName: veth.b })
    t.equal(packetSocketsOn(ifindex), before + 1)
    p.close()
    p.close()
    t.equal(packetSocketsOn(ifindex), before)
  })

  t.test('an unknown interface is an error with a code', async (t) => {
    t.throws(() => new AfPacketPort({ interfaceName: 'nvt-nonexist0' }), { code: ErrorCodes.INTERFACE_NOT_FOUND })
  })

})

t.test('no interface is left behind', { skip: SKIP_NOT_ROOT }, async (t) => {
  const leftovers = createdNames.filter((name) => linkExists(name))
  t.same(leftovers, [])
})
