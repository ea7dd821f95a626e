import t from 'tap'
import { AfPacketPort, openPacketSocket, type PacketSocket } from '../../lib/io/af-packet-socket'
import { RX_HEADROOM, type FramePort } from '../../lib/io/frame-port'
import { IO_KERNEL_DROPS, IO_RX_FRAMES, IO_TX_ERRORS, IO_TX_FRAMES } from '../../lib/io/io-counters'
import * as c from '../../lib/io/libc'
import { PacketRingPort, type PacketRingOptions } from '../../lib/io/packet-ring'
import { PollSet } from '../../lib/io/poll-set'
import { isTestFrame, testFrame } from './helpers/frames'
import { SKIP_NOT_ROOT, createVethPair } from './helpers/veth'

/**
 * The TPACKET_V2 ring port on a veth pair of its own (rng<hex>a/b: no addresses, nothing
 * routed; removed also when a test fails).
 */

/** Reads test frames with `marker` until `count` arrived or the wire stays silent for 2 s. */
function receiveFrames(port: FramePort, marker: number, count: number): { frames: Buffer[]; offsets: number[] } {
  const poll = new PollSet([port.fd])
  const frames: Buffer[] = []
  const offsets: number[] = []
  while (frames.length < count) {
    if (poll.wait(2000) === 0) break
    const n = port.receive()
    for (let i = 0; i < n; i++) {
      const off = port.rxOffsets[i]!
      const len = port.rxLengths[i]!
      if (!isTestFrame(port.rxBuffer, off, len, marker)) continue
      frames.push(Buffer.from(port.rxBuffer.subarray(off, off + len)))
      offsets.push(off)
    }
  }
  return { frames, offsets }
}

t.test('TPACKET_V2 ring ports on a veth pair', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair('rng')
  const ports: FramePort[] = []
  const sockets: PacketSocket[] = []
  t.teardown(() => {
    for (const p of ports) p.close()
    for (const s of sockets) c.close(s.fd)
    veth.remove()
  })
  const socketOn = (name: string, rings: boolean | PacketRingOptions = true): PacketSocket => {
    const s = openPacketSocket({ interfaceName: name, rings })
    sockets.push(s)
    return s
  }
  const ringOn = (name: string, rings: boolean | PacketRingOptions = true, batchSize = 64): PacketRingPort => {
    const s = socketOn(name, rings)
    if (s.ring === null) throw new Error(`no ring on ${name}: ${s.ringFallback}`)
    const p = new PacketRingPort({ interfaceName: name, fd: s.fd, layout: s.ring, batchSize })
    ports.push(p)
    return p
  }

  const sendModes: Array<[string, PacketRingOptions]> = [
    ['sendmmsg from the rings (default)', { sendRing: false }],
    ['send ring', { sendRing: true }],
  ]
  for (const [what, mode] of sendModes) {
    t.test(`${what}: frames arrive byte for byte, in order, both ways, with headroom in front`, async (t) => {
      const a = ringOn(veth.a, mode)
      const b = ringOn(veth.b, mode)
      const sizes = [60, 64, 65, 128, 333, 1000, 1514, 60, 1513, 97]
      for (const [from, to, marker] of [
        [a, b, 0x20000001],
        [b, a, 0x20000002],
      ] as const) {
        const sent = sizes.map((len, i) => testFrame(marker, i, len))
        for (const f of sent) from.send(f, 0, f.length)
        from.flush()
        const got = receiveFrames(to, marker, sent.length)
        t.equal(got.frames.length, sent.length, `${from.name} → ${to.name}: every frame arrived`)
        t.ok(
          got.frames.every((f, i) => f.equals(sent[i]!)),
          'byte for byte and in order',
        )
        t.ok(
          got.offsets.every((o) => o >= RX_HEADROOM),
          'every frame has the headroom in front of it',
        )
        t.ok(from.counters[IO_TX_FRAMES]! >= sent.length, 'sent frames are counted')
      }
    })

    t.test(`${what}: a frame sent from the receive ring, with a header prepended in its headroom, arrives`, async (t) => {
      const a = ringOn(veth.a, mode)
      const b = ringOn(veth.b, mode)
      const marker = 0x20000003
      const inner = testFrame(marker, 7, 100)
      a.send(inner, 0, inner.length)
      a.flush()
      const poll = new PollSet([b.fd])
      let forwarded = false
      for (let tries = 0; tries < 20 && !forwarded; tries++) {
        if (poll.wait(2000) === 0) break
        const n = b.receive()
        for (let i = 0; i < n; i++) {
          const off = b.rxOffsets[i]!
          if (!isTestFrame(b.rxBuffer, off, b.rxLengths[i]!, marker)) continue
          // As the engine does when it encapsulates: 14 bytes in front, written where the frame lies.
          b.rxBuffer.copy(b.rxBuffer, off - 14, off, off + 14)
          b.rxBuffer.writeUInt32BE(marker + 1, off - 14 + 14)
          b.send(b.rxBuffer, off - 14, b.rxLengths[i]! + 14)
          forwarded = true
        }
        b.flush()
      }
      t.ok(forwarded, 'the frame reached b')
      const back = receiveFrames(a, marker + 1, 1)
      t.equal(back.frames.length, 1, 'the frame sent from the ring came back')
      t.same(back.frames[0]!.subarray(28), inner.subarray(14), 'with the original frame behind the new header')
    })

    t.test(`${what}: a frame the kernel cannot send is dropped and counted, not sent`, async (t) => {
      const a = ringOn(veth.a, mode)
      const before = a.counters[IO_TX_ERRORS]!
      const sentBefore = a.counters[IO_TX_FRAMES]!
      // Longer than a send-ring frame; with sendmmsg, longer than the link's MTU (EMSGSIZE).
      const huge = Buffer.alloc(Math.max(a.layout.txFrameSize + 1, 4000))
      a.send(huge, 0, huge.length)
      a.flush()
      t.equal(a.counters[IO_TX_ERRORS]! - before, 1)
      t.equal(a.counters[IO_TX_FRAMES]! - sentBefore, 0)
    })
  }

  t.test('a receive ring that is not read overflows: the kernel drops, counted; reading goes on', async (t) => {
    const a = ringOn(veth.a)
    const small = { rxFrames: 16 }
    const b = ringOn(veth.b, small, 64)
    const marker = 0x20000004
    const frame = testFrame(marker, 0, 600)
    for (let i = 0; i < 400; i++) a.send(frame, 0, frame.length)
    a.flush()
    b.collectKernelDrops()
    t.ok(b.counters[IO_KERNEL_DROPS]! > 0, `drops counted (${b.counters[IO_KERNEL_DROPS]})`)
    const got = receiveFrames(b, marker, 400)
    t.ok(got.frames.length > 0 && got.frames.length < 400, `what the ring held was read (${got.frames.length})`)
    // The ring runs again after the overrun.
    const later = testFrame(marker + 1, 1, 80)
    a.send(later, 0, later.length)
    a.flush()
    t.equal(receiveFrames(b, marker + 1, 1).frames.length, 1, 'a frame sent afterwards arrives')
  })

  t.test('a port that takes over a socket (a restarted worker) continues where the last one stopped', async (t) => {
    const a = ringOn(veth.a)
    const s = socketOn(veth.b)
    const first = new PacketRingPort({ interfaceName: veth.b, fd: s.fd, layout: s.ring!, batchSize: 8 })
    ports.push(first)
    const marker = 0x20000005
    let sequence = 0
    const sendSome = (count: number): void => {
      for (let i = 0; i < count; i++) {
        const f = testFrame(marker, sequence++, 200)
        a.send(f, 0, f.length)
      }
      a.flush()
    }
    sendSome(20)
    const one = receiveFrames(first, marker, 8)
    first.flush()
    first.close()
    const second = new PacketRingPort({ interfaceName: veth.b, fd: s.fd, layout: s.ring!, batchSize: 64 })
    ports.push(second)
    const seen = one.frames.map((f) => f.readUInt32BE(18))
    seen.push(...receiveFrames(second, marker, 20 - seen.length).frames.map((f) => f.readUInt32BE(18)))
    // More than the ring holds, in rounds: the blocks go round several times.
    for (let round = 0; round < 40; round++) {
      sendSome(500)
      seen.push(...receiveFrames(second, marker, 500).frames.map((f) => f.readUInt32BE(18)))
    }
    t.equal(seen.length, sequence, 'every frame arrived once')
    t.ok(
      seen.every((s, i) => s === i),
      'in order, none read twice',
    )
  })

  t.test('where the kernel refuses rings, the socket stays on recvmmsg/sendmmsg and says why', async (t) => {
    // A block size the kernel rejects ((int) tp_block_size <= 0).
    const s = socketOn(veth.b, { rxBlockSize: 2 ** 31 })
    t.equal(s.ring, null)
    t.match(s.ringFallback, /PACKET_RX_RING/)
    const b = new AfPacketPort({ interfaceName: veth.b, socket: s })
    ports.push(b)
    const a = ringOn(veth.a)
    const marker = 0x20000006
    const f = testFrame(marker, 1, 300)
    a.send(f, 0, f.length)
    a.flush()
    const got = receiveFrames(b, marker, 1)
    t.equal(got.frames.length, 1, 'the fallback port receives from a ring port')
    t.ok(got.frames[0]!.equals(f), 'byte for byte')
    b.send(f, 0, f.length)
    b.flush()
    t.equal(receiveFrames(a, marker, 1).frames.length, 1, 'and the ring port receives from it')
    t.ok(a.counters[IO_RX_FRAMES]! >= 1)
  })
})
