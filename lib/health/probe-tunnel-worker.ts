/**
 * The probe tunnel's thread: opens the probes' kernel TCP connections
 * (probe-connections.ts) and moves their packets between the TUN device the
 * kernel routes them into and a dedicated AF_PACKET socket on the provider
 * interface (not in the packet workers' fanout group), translating them with
 * ProbeTranslator. The socket's classic BPF filter passes only NVGRE to nvlb's
 * PA whose inner destination is node.probeAddress, so this thread never sees
 * tenant traffic.
 *
 * While probes run, the loop handles everything once per tick (TICK_MS): all
 * TUN packets, all provider frames, all connections, without blocking on any
 * of them, so the kernel never has to wake a thread per packet (on a VM those
 * wake-ups were most of the cost). A tick costs one recvmmsg on the provider
 * socket, one poll(2) over the connections and the TUN, the reads the TUN has
 * packets for (straight into the send slots, encapsulated in place) and one
 * sendmmsg. Jobs (a Float64Array, request texts registered once) and
 * configurations arrive on a MessagePort, results go back batched the same
 * way; a shared word wakes the idle loop and another stops it.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import { AfPacketPort } from '../io/af-packet-socket'
import { BPF_H, BPF_JEQ, BPF_W, BpfProgram } from '../io/bpf-assembler'
import { jumpIfProbeReply } from '../io/fanout-program'
import { bufferAddress, POLLIN } from '../io/libc'
import { ProbeConnections } from './probe-connections'
import { PROBE_ENCAP_HEADERS, ProbeTranslator, TRANSLATE_DROP_NAMES, TranslateDrop, type ProbeNode, type ProbeTarget } from './probe-translator'
import { TunDevice } from './tun-device'

export interface TunnelConfigureMessage {
  type: 'configure'
  providerInterface: string
  node: ProbeNode
  targets: ProbeTarget[]
  neighbors: [number, Uint8Array][]
}

/**
 * Probes for the tunnel thread to run (its kernel sockets): JOB_WORDS numbers per
 * probe (JOB_* indexes). An HTTP probe names its request text by id; the texts
 * come along once, in the message of the first probe that uses them (an id given
 * again names a new text).
 */
export interface ProbeJobsMessage {
  type: 'probe'
  jobs: Float64Array
  requests: [number, string][]
}

export const JOB_ID = 0
/** PROBE_TCP or PROBE_HTTP (probe-connections.ts). */
export const JOB_KIND = 1
/** Unsigned IPv4 the kernel connects to. */
export const JOB_ADDRESS = 2
export const JOB_PORT = 3
/** Id of the HTTP request text; −1 for tcp. */
export const JOB_REQUEST = 4
export const JOB_TIMEOUT_MS = 5
/** http: how long the connection is kept for the next probe of the same address and port (0: not kept). */
export const JOB_KEEP_MS = 6
export const JOB_WORDS = 7

/**
 * Outcomes, batched: RESULT_WORDS numbers per probe: job id, 1 ok / 0 failed,
 * latency ms, index of its error in `errors` (−1: none).
 */
export interface ProbeResultMessage {
  type: 'results'
  results: Float64Array
  errors: string[]
}

export const RESULT_WORDS = 4

/** Words of the control array. */
export const CONTROL_STOP = 0
/** Bumped (and notified) by the main thread after it posted a message. */
export const CONTROL_WAKE = 1
export const CONTROL_WORDS = 2

export interface TunnelWorkerData {
  port: MessagePort
  /** Int32Array over a SharedArrayBuffer of CONTROL_WORDS words. */
  control: SharedArrayBuffer
  /** Float64Array: TUNNEL_COUNTER_NAMES. */
  counters: SharedArrayBuffer
  tunPattern: string
}

/**
 * `connections`: probe connections opened (each a handshake); `kept_connections`: HTTP probe
 * connections kept idle for their backend's next probe, now.
 */
export const TUNNEL_COUNTER_NAMES = [
  'to_backends',
  'from_backends',
  'tun_write_errors',
  ...TRANSLATE_DROP_NAMES.map((n) => `dropped_${n}`),
  'probes',
  'connections',
  'kept_connections',
] as const
/** Index of `probes` (probes started) in TUNNEL_COUNTER_NAMES. */
const COUNTER_PROBES = 3 + TRANSLATE_DROP_NAMES.length
const COUNTER_CONNECTIONS = COUNTER_PROBES + 1
const COUNTER_KEPT = COUNTER_PROBES + 2

const ETH_HLEN = 14

/**
 * Passes NVGRE frames to `pa` whose inner IPv4 destination is `probe` (outer IPv4 header of any
 * length), and ARP replies to `pa` (the next hops of hosts without a static neighbour).
 */
export function probeReplyFilter(pa: number, probe: number): Buffer {
  const p = new BpfProgram()
  // The same test the packet workers' sockets drop these frames by (lib/io/fanout-program.ts).
  jumpIfProbeReply(p, { providerAddress: pa, probeAddress: probe }, 'accept', 'arp')
  p.label('arp').ldAbs(BPF_H, 12).jumpK(BPF_JEQ, 0x0806, null, 'drop')
  p.ldAbs(BPF_H, ETH_HLEN + 6).jumpK(BPF_JEQ, ARP_REPLY, null, 'drop')
  p.ldAbs(BPF_W, ETH_HLEN + 24).jumpK(BPF_JEQ, pa >>> 0, null, 'drop')
  p.label('accept').retK(0xffff)
  p.label('drop').retK(0)
  return p.encode()
}

const ARP_REQUEST = 1
const ARP_REPLY = 2
/** At most one ARP request per host and second. */
const ARP_INTERVAL_MS = 1000

/** An ARP request for `target` from nvlb's PA, written to out[0, 42). */
export function arpRequest(out: Buffer, providerMac: Uint8Array, pa: number, target: number): number {
  out.fill(0xff, 0, 6)
  out.set(providerMac, 6)
  out.writeUInt16BE(0x0806, 12)
  out.writeUInt16BE(1, 14)
  out.writeUInt16BE(0x0800, 16)
  out[18] = 6
  out[19] = 4
  out.writeUInt16BE(ARP_REQUEST, 20)
  out.set(providerMac, 22)
  out.writeUInt32BE(pa >>> 0, 28)
  out.fill(0, 32, 38)
  out.writeUInt32BE(target >>> 0, 38)
  return 42
}

/**
 * While probes are in flight the loop runs once per tick, handling every socket in one batch. A
 * probe's latency is measured on this tick: an HTTP probe waits up to two ticks on the thread (for
 * the handshake's answer, then for the status line). 4 ms rather than 2: half the wake-ups, about a
 * point of a core less at 1,000 probes a second (bench health).
 */
const TICK_MS = 4
/**
 * For LINGER_MS after the last packet with no probe in flight (late ACKs, FINs, RSTs,
 * retransmissions of connections no probe waits for) the loop runs every LINGER_TICK_MS: such a
 * packet waits that long at most, well inside TCP's shortest retransmission timeout (200 ms).
 */
const LINGER_MS = 200
const LINGER_TICK_MS = 20
/**
 * Results go to the main thread once per this long (one message for a wheel turn's probes, see
 * probe-wheel.ts): a result waits that long at most, the monitor's schedule does not move by it
 * (a check runs one interval after its previous run was due), and the main thread is woken ten
 * times a second, not once per batch of answers.
 */
const RESULT_FLUSH_MS = 100
/** Idle: wait this long for work (probe jobs and configurations wake the loop at once). */
const IDLE_WAIT_MS = 50
/** Frames per sendmmsg, and bytes per send slot (probe packets are small; larger ones are dropped, counted). */
const TX_SLOTS = 64
const TX_SLOT = 2048

function run(data: TunnelWorkerData, post: (message: unknown, transfer?: ArrayBuffer[]) => void): void {
  const control = new Int32Array(data.control)
  const counters = new Float64Array(data.counters)
  const tun = new TunDevice(data.tunPattern)
  const translator = new ProbeTranslator()
  let socket: AfPacketPort | null = null
  let socketKey = ''
  /** Native address of the socket's receive buffer (TUN writes from it in place). */
  let rxBase = 0
  /** Send slots: each TUN packet is read to PROBE_ENCAP_HEADERS into one and encapsulated there. */
  const txBuffer = Buffer.alloc(TX_SLOTS * TX_SLOT)
  const txBase = bufferAddress(txBuffer)
  const arpBuffer = Buffer.alloc(64)
  const arpSent = new Map<number, number>()
  let node: ProbeNode | null = null
  const requests: (Buffer | null)[] = []
  let results = new Float64Array(RESULT_WORDS * 256)
  let resultCount = 0
  let errors: string[] = []
  let lastFlush = 0
  const connections = new ProbeConnections((id, ok, error, latencyMs) => {
    if ((resultCount + 1) * RESULT_WORDS > results.length) {
      const grown = new Float64Array(results.length * 2)
      grown.set(results)
      results = grown
    }
    const at = resultCount++ * RESULT_WORDS
    results[at] = id
    results[at + 1] = ok ? 1 : 0
    results[at + 2] = latencyMs
    results[at + 3] = error === null ? -1 : errors.push(error) - 1
  })
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
        rxBase = bufferAddress(socket.rxBuffer)
        socketKey = key
      } catch (err) {
        post({ type: 'error', message: (err as Error).message })
      }
    }
    translator.configure(m.node, m.targets, new Map(m.neighbors))
    node = m.node
  }

  const startJobs = (m: ProbeJobsMessage): void => {
    for (const [id, text] of m.requests) requests[id] = Buffer.from(text, 'latin1')
    const jobs = m.jobs
    counters[COUNTER_PROBES]! += jobs.length / JOB_WORDS
    for (let at = 0; at + JOB_WORDS <= jobs.length; at += JOB_WORDS) {
      const request = jobs[at + JOB_REQUEST]!
      connections.open(
        jobs[at + JOB_ID]!,
        jobs[at + JOB_KIND]!,
        jobs[at + JOB_ADDRESS]!,
        jobs[at + JOB_PORT]!,
        request < 0 ? null : (requests[request] ?? null),
        jobs[at + JOB_TIMEOUT_MS]!,
        jobs[at + JOB_KEEP_MS]!,
      )
    }
  }

  /** Sends an ARP request for the host PA encapsulate() lacked a MAC for (at most one per host and second). */
  const resolve = (port: AfPacketPort, queued: number): number => {
    const host = translator.missingNeighbor
    const current = node as ProbeNode | null
    if (host === 0 || current === null) return queued
    translator.missingNeighbor = 0
    const now = Date.now()
    if (now - (arpSent.get(host) ?? 0) < ARP_INTERVAL_MS) return queued
    arpSent.set(host, now)
    port.flush()
    port.send(arpBuffer, 0, arpRequest(arpBuffer, current.providerMac, current.providerAddress, host))
    port.flush()
    return 0
  }

  /**
   * Kernel → overlay: every packet the TUN holds, read into a send slot,
   * encapsulated in place and sent in batches of TX_SLOTS. Returns the packets read.
   */
  const fromTun = (port: AfPacketPort | null): number => {
    let moved = 0
    let queued = 0
    for (;;) {
      if (queued === TX_SLOTS) {
        port?.flush()
        queued = 0
      }
      const out = queued * TX_SLOT
      const n = tun.readAt(txBase + out + PROBE_ENCAP_HEADERS, TX_SLOT - PROBE_ENCAP_HEADERS)
      if (n <= 0) break
      moved++
      if (port === null) continue
      if (n >= TX_SLOT - PROBE_ENCAP_HEADERS) {
        // Perhaps cut short: probe packets are small (a SYN, a GET, ACKs, a FIN).
        translator.drops[TranslateDrop.TOO_BIG]!++
        continue
      }
      const length = translator.encapsulate(txBuffer, out + PROBE_ENCAP_HEADERS, n, txBuffer, out)
      if (length < 0) {
        queued = resolve(port, queued)
        continue
      }
      port.send(txBuffer, out, length)
      queued++
    }
    if (queued > 0) port?.flush()
    return moved
  }

  /** Overlay → kernel: every probe reply waiting on the provider socket, into the TUN. */
  const fromProvider = (port: AfPacketPort): number => {
    let moved = 0
    for (;;) {
      const n = port.receive()
      moved += n
      for (let i = 0; i < n; i++) {
        const off = port.rxOffsets[i]!
        if (port.rxBuffer.readUInt16BE(off + 12) === 0x0806) {
          if (port.rxLengths[i]! >= ETH_HLEN + 28) {
            translator.learnNeighbor(port.rxBuffer.readUInt32BE(off + ETH_HLEN + 14), Uint8Array.from(port.rxBuffer.subarray(off + ETH_HLEN + 8, off + ETH_HLEN + 14)))
          }
          continue
        }
        const length = translator.decapsulate(port.rxBuffer, off, port.rxLengths[i]!)
        if (length < 0) continue
        if (!tun.writeAt(rxBase + translator.outOffset, length)) counters[2]!++
      }
      // A short batch: the socket is drained (one recvmmsg, no second one to hear EAGAIN).
      if (n < port.batchSize) break
    }
    return moved
  }

  let lastMoved = 0
  let lastSeq = -1
  /**
   * One pass of the loop; returns how long to wait for the next (ms). A function of its own so that
   * V8 optimises it (a loop that runs a few hundred times a second never gets on-stack replacement).
   */
  const turn = (seq: number): number => {
    // The main thread bumps the word after each message it posts: the port is looked at only then.
    if (seq !== lastSeq) {
      lastSeq = seq
      for (let m = receiveMessageOnPort(data.port); m !== undefined; m = receiveMessageOnPort(data.port)) {
        const message = m.message as TunnelConfigureMessage | ProbeJobsMessage
        if (message.type === 'configure') configure(message)
        else if (message.type === 'probe') startJobs(message)
      }
    }
    const port = socket as AfPacketPort | null
    // Replies first (the kernel answers some at once, into the TUN), then one poll over the
    // connections and the TUN; then what that poll and the connections' sends left in the TUN.
    let moved = port === null ? 0 : fromProvider(port)
    const emitted = connections.emitted
    const tunReady = (connections.step(tun.fd) & POLLIN) !== 0
    if (tunReady || connections.emitted !== emitted) moved += fromTun(port)
    const now = performance.now()
    if (moved > 0) lastMoved = now
    if (resultCount > 0 && now - lastFlush >= RESULT_FLUSH_MS) {
      const batch = results.slice(0, resultCount * RESULT_WORDS)
      post({ type: 'results', results: batch, errors } satisfies ProbeResultMessage, [batch.buffer])
      resultCount = 0
      errors = []
      lastFlush = now
    }
    counters[0] = translator.encapsulated
    counters[1] = translator.decapsulated
    for (let i = 0; i < translator.drops.length; i++) counters[3 + i] = translator.drops[i]!
    counters[COUNTER_CONNECTIONS] = connections.connects
    counters[COUNTER_KEPT] = connections.kept
    // No poll on the sockets while busy: a blocking wait would be woken by every packet.
    if (connections.active > 0) return TICK_MS
    const linger = resultCount > 0 ? Math.max(1, lastFlush + RESULT_FLUSH_MS - now) : now - lastMoved < LINGER_MS ? LINGER_TICK_MS : IDLE_WAIT_MS
    return Math.min(linger, IDLE_WAIT_MS)
  }
  try {
    while (Atomics.load(control, CONTROL_STOP) === 0) {
      const seq = Atomics.load(control, CONTROL_WAKE)
      Atomics.wait(control, CONTROL_WAKE, seq, turn(seq))
    }
  } finally {
    connections.closeAll()
    ;(socket as AfPacketPort | null)?.close()
    tun.close()
  }
}

if (workerData !== null && typeof workerData === 'object' && 'tunPattern' in (workerData as object)) {
  const data = workerData as TunnelWorkerData
  try {
    run(data, (message, transfer) => data.port.postMessage(message, transfer))
  } catch (err) {
    data.port.postMessage({ type: 'error', message: (err as Error).message, fatal: true })
  }
}
