import { randomInt } from 'node:crypto'
import path from 'node:path'
import { MessageChannel, Worker, type MessagePort, type WorkerOptions } from 'node:worker_threads'
import { Counters } from '../dataplane/counters'
import type { Snapshot } from '../dataplane/snapshot'
import { statsReport } from '../dataplane/stats'
import type { StatsReport } from '../dataplane/stats-report'
import { ErrorCodes, NvlbError } from '../errors'
import type { FanoutMode } from './af-packet-socket'
import { DEFAULT_BATCH_SIZE, slotSizeForMtu } from './frame-port'
import { IO_COUNTERS_BYTE_LENGTH, IO_FLOWS, IO_GENERATION, ioCounters, sumIoCounters, type IoStats } from './io-counters'
import { CONTROL_STOP, CONTROL_WORDS, type MainToWorker, type PacketWorkerData, type WorkerToMain } from './packet-worker'

/** The subset of a pino logger the data plane uses. */
export interface WorkerPoolLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface WorkerPoolOptions {
  snapshot: Snapshot
  /** Worker threads, each with its own sockets and engine (default 1). */
  workers?: number
  providerInterface: string
  /** Defaults to the provider interface (one interface carries both sides). */
  externalInterface?: string
  logger?: WorkerPoolLogger
  /** How frames are spread over workers (default 'client-port'; see fanout-program.ts). */
  fanout?: FanoutMode
  batchSize?: number
  /** Receive slot size; default from the snapshot's provider MTU. */
  slotSize?: number
  /** How long a worker waits for frames before it looks at stop and snapshots again. */
  pollTimeoutMs?: number
  maxFlows?: number
  /** Module exporting `createEngine` (tests); default: the nvlb engine. */
  engineModule?: string
  /** Give up on a worker that has not stopped after this long (then terminate it). */
  stopTimeoutMs?: number
}

export interface WorkerPool {
  readonly workerCount: number
  /** Hands a new snapshot to every worker; each adopts it between batches. */
  adopt(snapshot: Snapshot): void
  /** The lowest snapshot generation any worker runs. */
  adoptedGeneration(): number
  /** The workers' engine counters summed, named after the current snapshot. */
  stats(): StatsReport
  /** The workers' I/O counters summed. */
  ioStats(): IoStats
  /** Each worker finishes its batch in flight, closes its sockets and exits. */
  stop(): Promise<void>
}

interface WorkerHandle {
  worker: Worker
  port: MessagePort
  counters: Counters
  io: Float64Array
  control: Int32Array
  exited: Promise<void>
}

/**
 * Runs from TypeScript sources (tsx, tap) load the worker through tsx's
 * CommonJS hook, which a worker thread does not always inherit from the main
 * thread's loader; compiled runs start the .js file directly.
 */
function startWorker(file: string, options: WorkerOptions): Worker {
  if (!file.endsWith('.ts')) return new Worker(file, options)
  const hook = require.resolve('tsx/cjs')
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(file)})`, { ...options, eval: true })
}

const noLogger: WorkerPoolLogger = { info() {}, warn() {}, error() {} }

export async function startWorkerPool(options: WorkerPoolOptions): Promise<WorkerPool> {
  const workerCount = options.workers ?? 1
  if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > 64) {
    throw new NvlbError(ErrorCodes.INVALID_FIELD, `workers must be an integer 1..64, got ${workerCount}`, 'workers')
  }
  const logger = options.logger ?? noLogger
  const externalInterface =
    options.externalInterface === undefined || options.externalInterface === options.providerInterface ? null : options.externalInterface
  const fanout =
    workerCount === 1
      ? null
      : { mode: options.fanout ?? ('client-port' as FanoutMode), providerGroupId: randomInt(1, 0xffff), externalGroupId: randomInt(1, 0xffff) }
  const ext = path.extname(__filename)
  const workerFile = path.join(__dirname, `packet-worker${ext}`)
  const engineModule = options.engineModule ?? path.join(__dirname, 'worker-engine')
  let snapshot = options.snapshot

  const handles: WorkerHandle[] = []
  let stopping: Promise<void> | null = null
  const stop = (): Promise<void> => {
    if (stopping !== null) return stopping
    for (const h of handles) {
      Atomics.store(h.control, CONTROL_STOP, 1)
      Atomics.notify(h.control, CONTROL_STOP)
    }
    const timeoutMs = options.stopTimeoutMs ?? 5000
    stopping = Promise.all(
      handles.map(async (h) => {
        let timer: NodeJS.Timeout | undefined
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), timeoutMs)
        })
        const outcome = await Promise.race([h.exited.then(() => 'exited' as const), late])
        clearTimeout(timer)
        if (outcome === 'late') {
          logger.warn({ worker: h.worker.threadId }, 'packet worker did not stop in time; terminating it')
          await h.worker.terminate()
        }
        h.port.close()
      }),
    ).then(() => undefined)
    return stopping
  }

  // One worker at a time: each joins the fanout group(s) before the next starts, so
  // worker i is member i of the provider group and of the external group alike
  // (the steering program's result picks the same worker on both interfaces).
  for (let i = 0; i < workerCount; i++) {
    const channel = new MessageChannel()
    const countersBuffer = new SharedArrayBuffer(Counters.BYTE_LENGTH)
    const ioCountersBuffer = new SharedArrayBuffer(IO_COUNTERS_BYTE_LENGTH)
    const controlBuffer = new SharedArrayBuffer(CONTROL_WORDS * 4)
    const data: PacketWorkerData & { nvlbPacketWorker: true } = {
      nvlbPacketWorker: true,
      workerIndex: i,
      workerCount,
      providerInterface: options.providerInterface,
      externalInterface,
      fanout,
      batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
      slotSize: options.slotSize ?? slotSizeForMtu(snapshot.providerMtu),
      pollTimeoutMs: options.pollTimeoutMs ?? 50,
      maxFlows: options.maxFlows,
      snapshot,
      countersBuffer,
      ioCountersBuffer,
      control: controlBuffer,
      port: channel.port2,
      engineModule,
    }
    const worker = startWorker(workerFile, { workerData: data, transferList: [channel.port2], name: `nvlb-packet-${i}` })
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    const handle: WorkerHandle = {
      worker,
      port: channel.port1,
      counters: new Counters(countersBuffer),
      io: ioCounters(ioCountersBuffer),
      control: new Int32Array(controlBuffer),
      exited,
    }
    handles.push(handle)
    const ready = new Promise<void>((resolve, reject) => {
      let started = false
      channel.port1.on('message', (message: WorkerToMain) => {
        if (message.type === 'ready') {
          started = true
          logger.info({ worker: i, interface: options.providerInterface, ignoresOutgoing: message.ignoresOutgoing }, 'packet worker ready')
          resolve()
        } else if (message.type === 'error') {
          const error = new NvlbError(ErrorCodes.SOCKET_SETUP, `packet worker ${i}: ${message.message}`, undefined, 500)
          if (started) logger.error({ worker: i, err: error }, 'packet worker failed')
          reject(error)
        } else if (message.type === 'stopped') {
          logger.info({ worker: i }, 'packet worker stopped')
        }
      })
      worker.on('error', (error) => {
        logger.error({ worker: i, err: error }, 'packet worker crashed')
        reject(error)
      })
      exited.then(() => {
        if (!started) reject(new NvlbError(ErrorCodes.SOCKET_SETUP, `packet worker ${i} exited before it was ready`, undefined, 500))
      })
    })
    try {
      await ready
    } catch (error) {
      await stop()
      throw error
    }
  }

  return {
    workerCount,
    adopt(next: Snapshot): void {
      snapshot = next
      const message: MainToWorker = { type: 'snapshot', snapshot: next }
      for (const h of handles) h.port.postMessage(message)
    },
    adoptedGeneration(): number {
      let lowest = Infinity
      for (const h of handles) lowest = Math.min(lowest, h.io[IO_GENERATION]!)
      return lowest
    },
    stats(): StatsReport {
      let flows = 0
      for (const h of handles) flows += h.io[IO_FLOWS]!
      return statsReport(snapshot, handles.map((h) => h.counters), flows)
    },
    ioStats(): IoStats {
      return sumIoCounters(handles.map((h) => h.io))
    },
    stop,
  }
}
