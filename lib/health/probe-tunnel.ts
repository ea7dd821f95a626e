/**
 * The probe tunnel, main-thread side: starts the tunnel thread
 * (probe-tunnel-worker.ts), gives its TUN device the tunnel's address and MTU,
 * hands it the probe targets, and gives each probed backend (VSID, CA) a
 * stable local target address inside the tunnel prefix.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads'
import { startWorker } from '../worker-thread'
import { ErrorCodes, NvlbError } from '../errors'
import { formatIPv4 } from '../packet/address'
import type { ProbeNode, ProbeTarget } from './probe-translator'
import { httpProbeRequest, PROBE_HTTP, PROBE_TCP } from './probe-connections'
import type { ProbeResult } from './probe-runner'
import {
  CONTROL_STOP,
  CONTROL_WAKE,
  CONTROL_WORDS,
  JOB_ADDRESS,
  JOB_ID,
  JOB_KEEP_MS,
  JOB_KIND,
  JOB_PORT,
  JOB_REQUEST,
  JOB_TIMEOUT_MS,
  JOB_WORDS,
  RESULT_WORDS,
  TUNNEL_COUNTER_NAMES,
  type ProbeJobsMessage,
  type ProbeResultMessage,
  type TunnelConfigureMessage,
  type TunnelWorkerData,
} from './probe-tunnel-worker'

const run = promisify(execFile)

/** 100.64.0.0/10 (shared address space): local to nvlb's network namespace, never on the wire. */
export const DEFAULT_TUNNEL_PREFIX = { address: 0x64400000, length: 10 }
/** Bytes NVGRE adds to an inner IP packet: outer IPv4 20 + GRE 8 + inner Ethernet 14. */
const NVGRE_OVERHEAD = 42
/** Request texts the thread keeps (by id); past this many the ids start again (texts are sent anew). */
const REQUEST_TEXTS_MAX = 65536

/** One probe for the tunnel thread: `host` is its target address (unsigned). */
export interface TunnelProbe {
  protocol: 'tcp' | 'http'
  host: number
  port: number
  /** The whole HTTP request (httpProbeRequest); http only. */
  request?: string
  timeoutMs: number
  /** http: keep the connection this long for the next probe of the same host and port (0 or absent: do not; the request then asks `Connection: close`). */
  keepMs?: number
}

export interface TunnelOptions {
  tunPattern?: string
  prefix?: { address: number; length: number }
}

export class ProbeTunnel {
  readonly tunName: string
  /** The TUN's own address: the local end of every probe connection (unsigned). */
  readonly tunAddress: number
  private readonly prefix: { address: number; length: number }
  private readonly targets = new Map<string, number>()
  private readonly free: number[] = []
  private nextTarget: number
  private readonly counters: Float64Array
  private mtu = 0
  private errorListener: (message: string) => void = () => {}
  /** Probes posted to the thread: the callback of each by job id (ids are reused: one slot per probe in flight). */
  private pending: (((result: ProbeResult) => void) | null)[] = []
  private readonly freeIds: number[] = []
  private jobs = new Float64Array(JOB_WORDS * 64)
  private jobCount = 0
  /** Request texts the thread knows, by text → id; and those it learns with the next message. */
  private readonly requestIds = new Map<string, number>()
  private newRequests: [number, string][] = []
  private stopped = false

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly control: Int32Array,
    counters: SharedArrayBuffer,
    tunName: string,
    prefix: { address: number; length: number },
  ) {
    this.tunName = tunName
    this.prefix = prefix
    this.tunAddress = (prefix.address + 1) >>> 0
    this.nextTarget = this.tunAddress + 1
    this.counters = new Float64Array(counters)
    port.on('message', (m: { type: string; message?: string } | ProbeResultMessage) => {
      if (m.type === 'results') {
        const { results, errors } = m as ProbeResultMessage
        for (let at = 0; at + RESULT_WORDS <= results.length; at += RESULT_WORDS) {
          const id = results[at]!
          const done = this.pending[id]
          if (done === undefined || done === null) continue
          this.pending[id] = null
          this.freeIds.push(id)
          const error = results[at + 3]!
          done({ ok: results[at + 1] === 1, error: error < 0 ? null : errors[error]!, latencyMs: results[at + 2]! })
        }
      } else if (m.type === 'error') this.errorListener((m as { message?: string }).message ?? 'probe tunnel error')
    })
  }

  static async start(options: TunnelOptions = {}): Promise<ProbeTunnel> {
    const { port1, port2 } = new MessageChannel()
    const control = new SharedArrayBuffer(4 * CONTROL_WORDS)
    const counters = new SharedArrayBuffer(8 * TUNNEL_COUNTER_NAMES.length)
    const data: TunnelWorkerData = { port: port2, control, counters, tunPattern: options.tunPattern ?? 'nvlbprobe%d' }
    const ext = path.extname(__filename)
    const worker = startWorker(path.join(__dirname, `probe-tunnel-worker${ext}`), { workerData: data, transferList: [port2] })
    const tunName = await new Promise<string>((resolve, reject) => {
      const onMessage = (m: { type: string; tunName?: string; message?: string }) => {
        if (m.type === 'ready') resolve(m.tunName!)
        else if (m.type === 'error') reject(new NvlbError(ErrorCodes.SOCKET_SETUP, `probe tunnel: ${m.message}`, undefined, 500))
      }
      port1.on('message', onMessage)
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new NvlbError(ErrorCodes.SOCKET_SETUP, `probe tunnel thread exited (${code})`, undefined, 500)))
    })
    port1.removeAllListeners('message')
    worker.removeAllListeners('error')
    worker.removeAllListeners('exit')
    worker.on('error', () => undefined)
    const prefix = options.prefix ?? DEFAULT_TUNNEL_PREFIX
    const tunnel = new ProbeTunnel(worker, port1, new Int32Array(control), counters, tunName, prefix)
    try {
      await run('ip', ['addr', 'add', `${formatIPv4(tunnel.tunAddress)}/${prefix.length}`, 'dev', tunName])
      await run('ip', ['link', 'set', 'dev', tunName, 'up'])
    } catch (err) {
      await tunnel.stop()
      throw new NvlbError(ErrorCodes.SOCKET_SETUP, `cannot configure probe tunnel ${tunName}: ${(err as Error).message}`, undefined, 500)
    }
    return tunnel
  }

  onError(listener: (message: string) => void): void {
    this.errorListener = listener
  }

  /** The stable target address of a backend (VSID, CA), allocated on first use. */
  targetOf(virtualSubnetId: number, address: string): number {
    const key = `${virtualSubnetId}/${address}`
    let target = this.targets.get(key)
    if (target === undefined) {
      target = this.free.pop() ?? this.nextTarget++
      const size = 2 ** (32 - this.prefix.length)
      if (target - this.prefix.address >= size - 1) {
        throw new NvlbError(ErrorCodes.INVALID_CONFIG, `more probed backends than the probe tunnel prefix /${this.prefix.length} holds`)
      }
      this.targets.set(key, target)
    }
    return target
  }

  /** Releases the targets of backends no longer probed. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, target] of this.targets) {
      if (!keys.has(key)) {
        this.targets.delete(key)
        this.free.push(target)
      }
    }
  }

  /** Hands the tunnel thread the node, the targets and the host neighbours; sets the TUN's MTU to fit NVGRE. */
  async configure(providerInterface: string, node: Omit<ProbeNode, 'tunAddress'>, providerMtu: number, targets: ProbeTarget[], neighbors: Map<number, Uint8Array>): Promise<void> {
    const message: TunnelConfigureMessage = {
      type: 'configure',
      providerInterface,
      node: { ...node, tunAddress: this.tunAddress },
      targets,
      neighbors: [...neighbors],
    }
    this.port.postMessage(message)
    this.wake()
    const mtu = providerMtu - NVGRE_OVERHEAD
    if (mtu !== this.mtu) {
      await run('ip', ['link', 'set', 'dev', this.tunName, 'mtu', String(mtu)])
      this.mtu = mtu
    }
  }

  /**
   * One probe of a backend, run by the tunnel thread on a kernel TCP connection to
   * `host` (the backend's target address). Probes asked for in the same turn of the
   * event loop go to the thread in one message. Never rejects.
   */
  probe(request: { protocol: 'tcp' | 'http'; host: number; port: number; requestPath?: string; hostHeader?: string; timeoutMs: number }): Promise<ProbeResult> {
    return this.run({
      protocol: request.protocol,
      host: request.host,
      port: request.port,
      request: request.protocol === 'http' ? httpProbeRequest(request.requestPath ?? '/', request.hostHeader ?? formatIPv4(request.host)) : undefined,
      timeoutMs: request.timeoutMs,
    })
  }

  /** probe() with the request text already built (a caller that probes the same backend again keeps it). */
  run(probe: TunnelProbe): Promise<ProbeResult> {
    return new Promise((resolve) => this.start(probe, resolve))
  }

  /** run() without a promise: `done` is called once with the outcome (never synchronously unless the tunnel stopped). */
  start(probe: TunnelProbe, done: (result: ProbeResult) => void): void {
    if (this.stopped) {
      done({ ok: false, error: 'the probe tunnel stopped', latencyMs: 0 })
      return
    }
    const request = probe.protocol === 'http' ? this.requestId(probe.request ?? '') : -1
    let id = this.freeIds.pop()
    if (id === undefined) {
      id = this.pending.length
      this.pending.push(null)
    }
    this.pending[id] = done
    if ((this.jobCount + 1) * JOB_WORDS > this.jobs.length) {
      const grown = new Float64Array(this.jobs.length * 2)
      grown.set(this.jobs)
      this.jobs = grown
    }
    const at = this.jobCount++ * JOB_WORDS
    const jobs = this.jobs
    jobs[at + JOB_ID] = id
    jobs[at + JOB_KIND] = probe.protocol === 'http' ? PROBE_HTTP : PROBE_TCP
    jobs[at + JOB_ADDRESS] = probe.host >>> 0
    jobs[at + JOB_PORT] = probe.port
    jobs[at + JOB_REQUEST] = request
    jobs[at + JOB_TIMEOUT_MS] = probe.timeoutMs
    jobs[at + JOB_KEEP_MS] = probe.protocol === 'http' ? (probe.keepMs ?? 0) : 0
    if (this.jobCount === 1) setImmediate(() => this.postJobs())
  }

  private requestId(text: string): number {
    let id = this.requestIds.get(text)
    if (id === undefined) {
      if (this.requestIds.size >= REQUEST_TEXTS_MAX) {
        // Ids start again: the probes waiting to be posted go first, with the texts they name.
        this.postJobs()
        this.requestIds.clear()
      }
      id = this.requestIds.size
      this.requestIds.set(text, id)
      this.newRequests.push([id, text])
    }
    return id
  }

  private postJobs(): void {
    if (this.jobCount === 0 || this.stopped) return
    const jobs = this.jobs.slice(0, this.jobCount * JOB_WORDS)
    const message: ProbeJobsMessage = { type: 'probe', jobs, requests: this.newRequests }
    this.jobCount = 0
    this.newRequests = []
    this.port.postMessage(message, [jobs.buffer])
    this.wake()
  }

  private wake(): void {
    Atomics.add(this.control, CONTROL_WAKE, 1)
    Atomics.notify(this.control, CONTROL_WAKE)
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {}
    TUNNEL_COUNTER_NAMES.forEach((name, i) => (out[name] = this.counters[i]!))
    return out
  }

  async stop(): Promise<void> {
    this.stopped = true
    Atomics.store(this.control, CONTROL_STOP, 1)
    this.wake()
    const pending = this.pending
    this.pending = []
    this.freeIds.length = 0
    for (const done of pending) done?.({ ok: false, error: 'the probe tunnel stopped', latencyMs: 0 })
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()))
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())])
    await this.worker.terminate().catch(() => undefined)
    this.port.close()
  }
}
