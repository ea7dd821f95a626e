import t from 'tap'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import { IO_RX_FRAMES } from '../../lib/io/io-counters'
import * as c from '../../lib/io/libc'
import { PollSet } from '../../lib/io/poll-set'
import { attachXdpRedirect, redirectProgram, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, type XdpRedirect } from '../../lib/io/xdp-program'
import { XdpSocketPort } from '../../lib/io/xdp-socket'
import type { FramePort } from '../../lib/io/frame-port'
import { isTestFrame, testFrame } from './helpers/frames'
import { SKIP_NOT_ROOT, createVethPair } from './helpers/veth'

/** The AF_XDP prototype (bench io-micro's third mode) on a veth pair of its own (xdp<hex>a/b). */

t.test('the redirect program is five instructions, the map fd in its 64-bit immediate', async (t) => {
  const code = redirectProgram(42)
  t.equal(code.length, 6 * 8, 'six 8-byte slots (the 64-bit load takes two)')
  t.equal(code[8], 0x18, 'BPF_LD | BPF_IMM | BPF_DW')
  t.equal(code[9]! >> 4, 1, 'src = BPF_PSEUDO_MAP_FD')
  t.equal(code.readInt32LE(12), 42, 'the map fd')
  t.equal(code[40], 0x95, 'ends with exit')
})

function receiveFrames(port: FramePort, marker: number, count: number): Buffer[] {
  const poll = new PollSet([port.fd])
  const frames: Buffer[] = []
  while (frames.length < count && poll.wait(2000) !== 0) {
    const n = port.receive()
    for (let i = 0; i < n; i++) {
      const off = port.rxOffsets[i]!
      const len = port.rxLengths[i]!
      if (isTestFrame(port.rxBuffer, off, len, marker)) frames.push(Buffer.from(port.rxBuffer.subarray(off, off + len)))
    }
  }
  return frames
}

t.test('AF_XDP sockets on a veth pair', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair('xdp')
  const ports: FramePort[] = []
  let redirect: XdpRedirect | null = null
  t.teardown(() => {
    for (const p of ports) p.close()
    redirect?.close()
    veth.remove()
  })
  const receiver = new XdpSocketPort({ interfaceName: veth.b })
  ports.push(receiver)
  const ifindex = c.ifNameToIndex(veth.b)
  try {
    redirect = attachXdpRedirect(ifindex, 1, XDP_FLAGS_DRV_MODE)
  } catch {
    redirect = attachXdpRedirect(ifindex, 1, XDP_FLAGS_SKB_MODE)
  }
  redirect.addSocket(0, receiver.fd)
  const sender = new AfPacketPort({ interfaceName: veth.a })
  ports.push(sender)

  const marker = 0x30000001
  const sizes = [60, 64, 200, 1000, 1514, 61, 333]
  // More frames than the fill ring lends at once: chunks must come back to it.
  const sent: Buffer[] = []
  for (let round = 0; round < 8; round++) {
    const batch = Array.from({ length: 400 }, (_, i) => testFrame(marker, round * 400 + i, sizes[i % sizes.length]!))
    for (const f of batch) sender.send(f, 0, f.length)
    sender.flush()
    sent.push(...batch)
    const got = receiveFrames(receiver, marker, batch.length)
    t.equal(got.length, batch.length, `round ${round}: every frame the program redirected reached the socket`)
    if (!got.every((f, i) => f.equals(batch[i]!))) t.fail(`round ${round}: frames differ or are out of order`)
  }
  t.ok(receiver.counters[IO_RX_FRAMES]! >= sent.length, 'received frames are counted')

  // And back: the AF_XDP socket sends; the plain socket on the other end receives.
  const back = Array.from({ length: 100 }, (_, i) => testFrame(marker + 1, i, sizes[i % sizes.length]!))
  for (const f of back) receiver.send(f, 0, f.length)
  receiver.flush()
  const returned = receiveFrames(sender, marker + 1, back.length)
  t.equal(returned.length, back.length, 'frames sent from the UMEM arrive (more than one kick of 32)')
  t.ok(returned.every((f, i) => f.equals(back[i]!)), 'byte for byte, in order')
})
