/**
 * bench/io-micro: frames per second through the AF_PACKET ports alone (no
 * engine): one thread sends batches of small frames on one end of a veth pair
 * and reads them back on the other end, once with recvmmsg/sendmmsg
 * (AfPacketPort), once with the TPACKET_V2 receive ring and sendmmsg (PacketRingPort as
 * the packet workers use it), once with the receive and the send ring, and once with
 * AF_XDP sockets (XdpSocketPort; an XDP program redirects the receiving end's
 * queue to its socket, native XDP where the driver has it). Every
 * frame read back is checked (its sequence number, in order); a round that
 * gets nothing back fails. Then the latency of one frame at a time, sent and
 * waited for with poll(2) as a worker waits when traffic is light (a receive
 * path that batches wake-ups shows here). Needs root; creates and removes its
 * own veth pair (no addresses, nothing routed).
 *
 *   nvlb bench io-micro [--json] [--seconds S] [--batch N] [--size BYTES]
 */
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { AfPacketPort, openPacketSocket } from '../lib/io/af-packet-socket'
import type { FramePort } from '../lib/io/frame-port'
import { PacketRingPort } from '../lib/io/packet-ring'
import * as c from '../lib/io/libc'
import { PollSet } from '../lib/io/poll-set'
import { attachXdpRedirect, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, type XdpRedirect } from '../lib/io/xdp-program'
import { XdpSocketPort } from '../lib/io/xdp-socket'
import { printMetrics, progress, type Metric } from './report'
import { createBenchVethPair } from './veth-pair'

const ETHERTYPE_TEST = 0x88b5

type Mode = 'mmsg' | 'ring' | 'ring-tx' | 'xdp'
const MODES: Mode[] = ['mmsg', 'ring', 'ring-tx', 'xdp']
/** ring: the receive ring with sendmmsg (what packet workers use); ring-tx: both rings. */
const LABELS: Record<Mode, string> = { mmsg: 'veth_round', ring: 'ring_round', 'ring-tx': 'ring_tx_round', xdp: 'xdp_round' }
/** Where each frame carries its sequence number. */
const SEQUENCE_OFFSET = 14

interface Round {
  sent: number
  received: number
  receiveCalls: number
  /** Frames read back whose sequence number is not the next one sent. */
  wrong: number
  elapsed: number
  /** Time in send()+flush() (the kernel's transmit, and the veth's delivery into the receiving socket, run inside it). */
  txSeconds: number
  /** Time in receive() and reading the frames. */
  rxSeconds: number
}

/** Sends batches flat out for `seconds`, reading back after each what the veth delivered (in softirq, on send). */
function round(sender: FramePort, receiver: FramePort, frame: Buffer, batch: number, seconds: number): Round {
  let sent = 0
  let received = 0
  let receiveCalls = 0
  let wrong = 0
  let expected = 0
  const size = frame.length
  const frames = Buffer.alloc(batch * size)
  for (let i = 0; i < batch; i++) frame.copy(frames, i * size)
  const start = performance.now()
  const end = start + seconds * 1000
  let now = start
  let txTime = 0
  let rxTime = 0
  while (now < end) {
    // Distinct bytes per frame of a batch: a port may send from the caller's buffer at flush().
    for (let i = 0; i < batch; i++) {
      frames.writeUInt32BE(sent + i, i * size + SEQUENCE_OFFSET)
      sender.send(frames, i * size, size)
    }
    sender.flush()
    sent += batch
    const sentAt = performance.now()
    txTime += sentAt - now
    for (let n = receiver.receive(); n > 0; n = receiver.receive()) {
      receiveCalls++
      const buf = receiver.rxBuffer
      for (let i = 0; i < n; i++) {
        const off = receiver.rxOffsets[i]!
        if (receiver.rxLengths[i] !== frame.length || buf.readUInt16BE(off + 12) !== ETHERTYPE_TEST) continue
        const sequence = buf.readUInt32BE(off + SEQUENCE_OFFSET)
        // Lost frames skip ahead; anything else (a repeat, an older one) is wrong.
        if (sequence < expected) wrong++
        expected = sequence + 1
        received++
      }
    }
    now = performance.now()
    rxTime += now - sentAt
  }
  // What is still on its way: counted, not timed.
  const poll = new PollSet([receiver.fd])
  while (poll.wait(20) !== 0) {
    const n = receiver.receive()
    if (n === 0) break
    for (let i = 0; i < n; i++) {
      if (receiver.rxLengths[i] === frame.length && receiver.rxBuffer.readUInt16BE(receiver.rxOffsets[i]! + 12) === ETHERTYPE_TEST) received++
    }
  }
  return { sent, received, receiveCalls, wrong, elapsed: (now - start) / 1000, txSeconds: txTime / 1000, rxSeconds: rxTime / 1000 }
}

const LATENCY_SAMPLES = 300

/** One frame at a time: send, then poll until it is read; µs per frame, sorted. */
function oneFrameLatencies(sender: FramePort, receiver: FramePort, frame: Buffer): Float64Array {
  const poll = new PollSet([receiver.fd])
  const samples = new Float64Array(LATENCY_SAMPLES)
  for (let k = 0; k < LATENCY_SAMPLES; k++) {
    frame.writeUInt32BE(0x7f000000 + k, SEQUENCE_OFFSET)
    const start = performance.now()
    sender.send(frame, 0, frame.length)
    sender.flush()
    let got = false
    while (!got) {
      if (poll.wait(1000) === 0) throw new Error('io-micro latency: a frame did not arrive within 1 s')
      const n = receiver.receive()
      for (let i = 0; i < n; i++) {
        if (receiver.rxBuffer.readUInt32BE(receiver.rxOffsets[i]! + SEQUENCE_OFFSET) === 0x7f000000 + k) got = true
      }
    }
    samples[k] = (performance.now() - start) * 1000
  }
  return samples.sort()
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '3' },
      batch: { type: 'string', default: '64' },
      size: { type: 'string', default: '64' },
    },
    strict: true,
  })
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb bench io-micro: needs root (veth interfaces and AF_PACKET sockets)\n')
    return 2
  }
  const seconds = Number(values.seconds)
  const batch = Number(values.batch)
  const size = Number(values.size)
  const veth = createBenchVethPair('nvb')
  const { a, b } = veth
  const ports: FramePort[] = []
  try {
    const frame = Buffer.alloc(size)
    frame.fill(0x02, 0, 12)
    frame.writeUInt16BE(ETHERTYPE_TEST, 12)
    let redirect: XdpRedirect | null = null
    const open = (mode: Mode, name: string): FramePort => {
      if (mode === 'mmsg') return new AfPacketPort({ interfaceName: name, batchSize: batch })
      if (mode === 'xdp') {
        const port = new XdpSocketPort({ interfaceName: name, batchSize: batch })
        if (name === b) {
          // The receiving end needs the program that redirects its queue to the socket: native XDP, else generic.
          const ifindex = c.ifNameToIndex(name)
          try {
            redirect = attachXdpRedirect(ifindex, 1, XDP_FLAGS_DRV_MODE)
            xdpMode = 'native'
          } catch {
            redirect = attachXdpRedirect(ifindex, 1, XDP_FLAGS_SKB_MODE)
            xdpMode = 'generic (skb)'
          }
          redirect.addSocket(0, port.fd)
        }
        return port
      }
      const socket = openPacketSocket({ interfaceName: name, rings: { sendRing: mode === 'ring-tx' }, qdiscBypass: true })
      if (socket.ring === null) throw new Error(`no rings on ${name}: ${socket.ringFallback}`)
      return new PacketRingPort({ interfaceName: name, fd: socket.fd, layout: socket.ring, batchSize: batch, ownsSocket: true })
    }
    let xdpMode = ''
    const metrics: Metric[] = []
    for (const mode of MODES) {
      const sender = open(mode, a)
      ports.push(sender)
      const receiver = open(mode, b)
      ports.push(receiver)
      progress(`io-micro ${mode}${mode === 'xdp' ? ` (${xdpMode} XDP, copy mode)` : ''}: ${batch}-frame batches of ${size} bytes over ${a} → ${b} for ${seconds} s`)
      const r = round(sender, receiver, frame, batch, seconds)
      const latency = oneFrameLatencies(sender, receiver, Buffer.from(frame))
      sender.close()
      receiver.close()
      ;(redirect as XdpRedirect | null)?.close()
      redirect = null
      if (r.received === 0) throw new Error(`io-micro ${mode}: no frame came back`)
      if (r.wrong > 0) throw new Error(`io-micro ${mode}: ${r.wrong} frames out of order or corrupted`)
      const label = LABELS[mode]
      metrics.push(
        { name: `io.${label}.mfps`, value: r.received / r.elapsed / 1e6, unit: 'Mframes/s', target: 0.5, better: 'higher' },
        { name: `io.${label}.ns_per_frame`, value: (r.elapsed * 1e9) / r.received, unit: 'ns', target: 2000, better: 'lower' },
        { name: `io.${label}.tx_ns_per_frame`, value: (r.txSeconds * 1e9) / r.sent, unit: 'ns', target: 1000, better: 'lower' },
        { name: `io.${label}.rx_ns_per_frame`, value: (r.rxSeconds * 1e9) / r.received, unit: 'ns', target: 1000, better: 'lower' },
        { name: `io.${label}.frames_per_receive`, value: r.received / Math.max(1, r.receiveCalls), unit: 'frames', target: batch / 2, better: 'higher' },
        { name: `io.${label}.loss`, value: (r.sent - r.received) / Math.max(1, r.sent), unit: 'ratio', target: 0.001, better: 'lower' },
        { name: `io.${label}.one_frame_p50_us`, value: latency[LATENCY_SAMPLES >> 1]!, unit: 'us', target: 100, better: 'lower' },
        { name: `io.${label}.one_frame_p99_us`, value: latency[Math.floor(LATENCY_SAMPLES * 0.99)]!, unit: 'us', target: 200, better: 'lower' },
      )
    }
    printMetrics(metrics, values.json === true)
    return 0
  } finally {
    for (const p of ports) p.close()
    veth.remove()
  }
}
