/**
 * The probe tunnel's thread: moves packets between the TUN device the kernel's
 * probe connections use and a dedicated AF_PACKET socket on the provider
 * interface (not in the packet workers' fanout group), translating them with
 * ProbeTranslator. The socket's classic BPF filter passes only NVGRE to nvlb's
 * PA whose inner destination is node.probeAddress, so this thread never sees
 * tenant traffic. Configuration arrives on a MessagePort, picked up between
 * polls; a shared flag stops the loop.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import { AfPacketPort } from '../io/af-packet-socket'
import { BPF_B, BPF_H, BPF_JEQ, BPF_W, BpfProgram } from '../io/bpf-assembler'
import { PollSet } from '../io/poll-set'
import { ProbeTranslator, TRANSLATE_DROP_NAMES, type ProbeNode, type ProbeTarget } from './probe-translator'
import { TunDevice } from './tun-device'

export interface TunnelConfigureMessage {
  type: 'configure'
  providerInterface: string
  node: ProbeNode
  targets: ProbeTarget[]
  neighbors: [number, Uint8Array][]
}

export interface TunnelWorkerData {
  port: MessagePort
  /** Int32Array over a SharedArrayBuffer: [0] = stop flag. */
  control: SharedArrayBuffer
  /** Float64Array: TUNNEL_COUNTER_NAMES. */
  counters: SharedArrayBuffer
  tunPattern: string
}

export const TUNNEL_COUNTER_NAMES = ['to_backends', 'from_backends', 'tun_write_errors', ...TRANSLATE_DROP_NAMES.map((n) => `dropped_${n}`)] as const

const ETH_HLEN = 14

/** Passes NVGRE frames to `pa` whose inner IPv4 destination is `probe` (outer IPv4 header of any length). */
export function probeReplyFilter(pa: number, probe: number): Buffer {
  const p = new BpfProgram()
  p.ldAbs(BPF_H, 12).jumpK(BPF_JEQ, 0x0800, null, 'drop')
  p.ldAbs(BPF_B, ETH_HLEN + 9).jumpK(BPF_JEQ, 47, null, 'drop')
  p.ldAbs(BPF_W, ETH_HLEN + 16).jumpK(BPF_JEQ, pa >>> 0, null, 'drop')
  p.ldxIpHeaderLength(ETH_HLEN)
  p.ldInd(BPF_H, ETH_HLEN).jumpK(BPF_JEQ, 0x2000, null, 'drop')
  p.ldInd(BPF_H, ETH_HLEN + 2).jumpK(BPF_JEQ, 0x6558, null, 'drop')
  p.ldInd(BPF_H, ETH_HLEN + 8 + 12).jumpK(BPF_JEQ, 0x0800, null, 'drop')
  p.ldInd(BPF_W, ETH_HLEN + 8 + ETH_HLEN + 16).jumpK(BPF_JEQ, probe >>> 0, null, 'drop')
  p.retK(0xffff)
  p.label('drop').retK(0)
  return p.encode()
}

function run(data: TunnelWorkerData, post: (message: unknown) => void): void {
  const stop = new Int32Array(data.control)
  const counters = new Float64Array(data.counters)
  const tun = new TunDevice(data.tunPattern)
  const translator = new ProbeTranslator()
  let socket: AfPacketPort | null = null
  let socketKey = ''
  let poll = new PollSet([tun.fd])
  const tunBuffer = Buffer.alloc(65536)
  const txBuffer = Buffer.alloc(64 * 2048)
  post({ type: 'ready', tunName: tun.name })

  const configure = (m: TunnelConfigureMessage): void => {
    const key = `${m.providerInterface}|${m.node.providerAddress}|${m.node.probeAddress}`
    if (key !== socketKey) {
      socket?.close()
      socket = null
      socketKey = ''
      try {
        socket = new AfPacketPort({
          interfaceName: m.providerInterface,
          filter: probeReplyFilter(m.node.providerAddress, m.node.probeAddress),
          receiveBufferBytes: 1 << 20,
        })
        socketKey = key
      } catch (err) {
        post({ type: 'error', message: (err as Error).message })
      }
      poll = new PollSet(socket === null ? [tun.fd] : [tun.fd, socket.fd])
    }
    translator.configure(m.node, m.targets, new Map(m.neighbors))
  }

  try {
    while (Atomics.load(stop, 0) === 0) {
      for (let m = receiveMessageOnPort(data.port); m !== undefined; m = receiveMessageOnPort(data.port)) {
        const message = m.message as TunnelConfigureMessage
        if (message.type === 'configure') configure(message)
      }
      const ready = poll.wait(50)
      if (ready === 0) continue
      const port = socket as AfPacketPort | null
      if ((ready & 1) !== 0) {
        let queued = 0
        for (let i = 0; i < 64; i++) {
          const n = tun.read(tunBuffer)
          if (n <= 0) break
          if (port === null) continue
          const out = queued * 2048
          const length = translator.encapsulate(tunBuffer, 0, n, txBuffer, out)
          if (length < 0) continue
          port.send(txBuffer, out, length)
          queued++
        }
        port?.flush()
      }
      if (port !== null && (ready & 2) !== 0) {
        const n = port.receive()
        for (let i = 0; i < n; i++) {
          const length = translator.decapsulate(port.rxBuffer, port.rxOffsets[i]!, port.rxLengths[i]!)
          if (length < 0) continue
          const at = translator.outOffset
          if (!tun.write(port.rxBuffer.subarray(at, at + length))) counters[2]!++
        }
      }
      counters[0] = translator.encapsulated
      counters[1] = translator.decapsulated
      for (let i = 0; i < translator.drops.length; i++) counters[3 + i] = translator.drops[i]!
    }
  } finally {
    ;(socket as AfPacketPort | null)?.close()
    tun.close()
  }
}

if (workerData !== null && typeof workerData === 'object' && 'tunPattern' in (workerData as object)) {
  const data = workerData as TunnelWorkerData
  try {
    run(data, (message) => data.port.postMessage(message))
  } catch (err) {
    data.port.postMessage({ type: 'error', message: (err as Error).message, fatal: true })
  }
}
