import { randomInt } from 'node:crypto'
import path from 'node:path'
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads'
import { Counters, G_RX_PACKETS, G_SWEPT_EPOCH, G_TX_PACKETS } from '../dataplane/counters'
import type { Snapshot } from '../dataplane/snapshot'
import { statsReport } from '../dataplane/stats'
import type { StatsReport, WorkerReport } from '../dataplane/stats-report'
import { ErrorCodes, NvlbError } from '../errors'
import { openPacketSocket, setFanoutProgram, setSocketFilter, type FanoutMode } from './af-packet-socket'
import { arpOnlyFilter, arpRepliesOnlyFilter, memberFilter, steeringPlan, type ProbeReplies } from './fanout-program'
import { DEFAULT_BATCH_SIZE, MAX_BUSY_POLL_US, RX_HEADROOM, slotSizeForMtu } from './frame-port'
import { IO_COUNTERS_BYTE_LENGTH, IO_FLOWS, IO_SLEEPS, ioCounters, sumIoCounters, type IoStats } from './io-counters'
import * as c from './libc'
import { disableOffloads } from './offloads'
import { CONTROL_POSTED, CONTROL_STOP, CONTROL_WORDS, frontendsOf, type MainToWorker, type PacketWorkerData, type WorkerSocket, type WorkerToMain } from './packet-worker'
import { SnapshotPublisher } from './shared-snapshot'
import { intakeAddresses, XdpIntake } from './xdp-intake'
import { NativeResources } from './native-resources'
import { XDP_MAX_FRAME, XdpSocketPort } from './xdp-socket'
import { createWakeFd, signalWakeFd } from './wake-fd'
import { closeHandoffShared, createHandoffShared, type HandoffShared } from './worker-handoff'
import { startWorker } from '../worker-thread'

/** The subset of a pino logger the worker pool uses. */
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
  /**
   * Busy-polling: after the last frame a worker keeps looking at its sockets this many
   * microseconds (giving the core to any other runnable thread in between) before it sleeps in
   * poll(2). Lower latency and no wake-ups under load, for a core kept busy (default 0: off).
   */
  busyPollUs?: number
  maxFlows?: number
  /** Module exporting `createEngine` (tests); default: the nvlb engine. */
  engineModule?: string
  /** Give up on a worker that has not stopped after this long (then terminate it). */
  stopTimeoutMs?: number
  /** Turn off GRO/LRO/GSO/TSO and checksum offload on the interfaces at start (default true; see offloads.ts). */
  disableOffloads?: boolean
  /** Memory-mapped TPACKET_V2 rings for the workers' sockets, recvmmsg/sendmmsg where the kernel refuses (default true). */
  rings?: boolean
  /**
   * 'af-xdp': the worker receives and sends through AF_XDP sockets fed by an XDP program
   * (lib/io/xdp-intake.ts) and sees only ARP on its packet sockets; one worker; where the
   * kernel refuses the program or a socket, the pool falls back to packet sockets and logs why.
   * Default 'rings' (packet sockets: rings where the kernel allows them).
   */
  io?: IoMode
}

export type IoMode = 'rings' | 'af-xdp'

export interface WorkerPoolIoStats extends IoStats {
  /** Workers that died and were started again. */
  workerRestarts: number
}

export interface WorkerPool {
  readonly workerCount: number
  /** How the workers move frames: 'af-xdp', 'rings' or 'recvmmsg' (the kernel refused rings). */
  readonly ioMode: string
  /** Hands a new snapshot to every worker; each adopts it between batches. */
  adopt(snapshot: Snapshot): void
  /** The lowest snapshot generation any worker runs. */
  adoptedGeneration(): number
  /**
   * Resolves once every worker runs `generation` or a later one (and the
   * kernel steers by it), and with `epoch` a snapshot of that epoch or later
   * (a republish for health keeps the generation; only its epoch is new);
   * rejects when the pool stops first.
   */
  whenAdopted(generation: number, epoch?: number): Promise<void>
  /** The lowest snapshot epoch any worker runs (−1 while one runs none). */
  adoptedEpoch(): number
  /** The workers' engine counters summed; `generation` is the one every worker adopted. */
  stats(): StatsReport
  /** The lowest epoch any worker's flow table is swept against (G_SWEPT_EPOCH; stats().sweptEpoch without the report). */
  sweptEpoch(): number
  /** The workers' I/O counters summed. */
  ioStats(): WorkerPoolIoStats
  /** Each worker's own packet counts and flows (how evenly the kernel spreads the load). */
  workerStats(): WorkerReport[]
  /** Each worker finishes its batch in flight and exits; then the sockets close. */
  stop(): Promise<void>
}

/** What outlives a worker: its sockets, shared counters and control words. */
interface WorkerSlot {
  index: number
  provider: WorkerSocket
  external: WorkerSocket | null
  listeners: WorkerSocket[]
  countersBuffer: SharedArrayBuffer
  ioBuffer: SharedArrayBuffer
  controlBuffer: SharedArrayBuffer
  /** The AF_XDP sockets and mappings the worker holds, released here if it ends without closing them. */
  resources: NativeResources
  counters: Counters
  io: Float64Array
  control: Int32Array
  /** eventfd the worker polls with its sockets: signalled after a snapshot is posted and on stop. */
  wakeFd: number
  /** Generation the current worker reported running (−1: none yet). */
  adopted: number
  /** Epoch of the snapshot it reported running (−1: none yet). */
  adoptedEpoch: number
  worker: Worker | null
  port: MessagePort | null
  exited: Promise<void>
  /** Recent deaths (ms timestamps) for the restart back-off. */
  deaths: number[]
}

/** What the packet workers' provider sockets leave to the probe tunnel (null: no probes run). */
function probeRepliesOf(snapshot: Snapshot): ProbeReplies | null {
  return snapshot.probeAddress === 0 ? null : { providerAddress: snapshot.providerAddress, probeAddress: snapshot.probeAddress }
}

/** Start-up failures (interfaces, sockets) are NVLB_ERR_SOCKET_SETUP, as a worker's own would be. */
function startError(error: unknown): NvlbError {
  if (error instanceof NvlbError && error.code === ErrorCodes.SOCKET_SETUP) return error
  return new NvlbError(ErrorCodes.SOCKET_SETUP, (error as Error).message ?? String(error), undefined, 500)
}

const noLogger: WorkerPoolLogger = { info() {}, warn() {}, error() {} }
const RESTART_WINDOW_MS = 60_000
const RESTART_DELAY_MS = 50
const RESTART_DELAY_MAX_MS = 5000

/**
 * The packet workers. The main thread opens every socket (threads share the
 * process's descriptors) and hands worker i its member i of each fanout
 * group, so a worker that dies leaves the group as it was: the other
 * workers' flows keep their worker, frames for the dead one wait in its
 * socket until its replacement (started at once, counted and logged) reads
 * them. The steering program is installed by the main thread once every
 * worker runs the snapshot it is built from.
 */
export async function startWorkerPool(options: WorkerPoolOptions): Promise<WorkerPool> {
  const workerCount = options.workers ?? 1
  if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > 64) {
    throw new NvlbError(ErrorCodes.INVALID_FIELD, `workers must be an integer 1..64, got ${workerCount}`, 'workers')
  }
  const logger = options.logger ?? noLogger
  const externalInterface =
    options.externalInterface === undefined || options.externalInterface === options.providerInterface ? null : options.externalInterface
  const mode: FanoutMode = options.fanout ?? 'client-port'
  const several = workerCount > 1
  const steered = several && mode === 'client-port'
  const ext = path.extname(__filename)
  const workerFile = path.join(__dirname, `packet-worker${ext}`)
  const engineModule = options.engineModule ?? path.join(__dirname, 'worker-engine')
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
  const slotSize = options.slotSize ?? slotSizeForMtu(options.snapshot.providerMtu)
  const pollTimeoutMs = options.pollTimeoutMs ?? 50
  const busyPollUs = options.busyPollUs ?? 0
  let afXdp = options.io === 'af-xdp'
  if (afXdp && workerCount > 1) {
    throw new NvlbError(ErrorCodes.INVALID_FIELD, `AF_XDP runs one packet worker (the interfaces' queue 0), not ${workerCount}; use rings for several`, 'io', 400)
  }
  if (!Number.isInteger(busyPollUs) || busyPollUs < 0 || busyPollUs > MAX_BUSY_POLL_US) {
    throw new NvlbError(ErrorCodes.INVALID_FIELD, `busy-polling must be 0..${MAX_BUSY_POLL_US} µs, not ${busyPollUs}`, 'busyPollUs', 400)
  }

  // What the workers get: the first snapshot with its tables in shared memory, then what each
  // later one changes (shared-snapshot.ts); a worker started later gets the last one whole.
  const publisher = new SnapshotPublisher(options.snapshot)
  let snapshot = options.snapshot
  let plan = steered ? steeringPlan(frontendsOf(snapshot)) : { program: Buffer.alloc(0), table: true }
  /** Snapshots sent and not yet run by every worker, by generation (with their steering plan). */
  const sent = new Map<number, { snapshot: Snapshot; plan: typeof plan }>()
  let installed = plan.program
  /** The probe replies the provider sockets' filters drop (the probe tunnel takes them). */
  let probeFiltered = probeRepliesOf(snapshot)
  let restarts = 0
  let stopping: Promise<void> | null = null
  const waiters: { generation: number; epoch: number; resolve(): void; reject(error: Error): void }[] = []

  const slots: WorkerSlot[] = []
  const sockets: WorkerSocket[] = []
  let handoff: HandoffShared | null = null
  /** A packet worker's socket's filter (none when it would pass every frame). */
  const membersFilter = (replies: ProbeReplies | null): Buffer | undefined => (several || replies !== null ? memberFilter(several, replies) : undefined)
  const closeAll = (): void => {
    for (const s of sockets) c.close(s.fd)
    sockets.length = 0
    for (const s of slots) if (s.wakeFd >= 0) c.close(s.wakeFd)
    if (handoff !== null) closeHandoffShared(handoff)
  }

  const interfaces = externalInterface === null ? [options.providerInterface] : [options.providerInterface, externalInterface]
  try {
    if (options.disableOffloads ?? true) {
      for (const name of interfaces) {
        const result = disableOffloads(name)
        logger.info(
          { interface: name, turnedOff: result.changed, unsupported: result.refused },
          `offloads off on ${name} (GRO, LRO, GSO, TSO, tx checksums): nvlb reads every frame as it is on the wire`,
        )
      }
    }
  } catch (error) {
    throw startError(error)
  }

  const intakes: XdpIntake[] = []
  if (afXdp) {
    try {
      if (slotSize - RX_HEADROOM > XDP_MAX_FRAME) {
        throw new Error(`frames of up to ${slotSize - RX_HEADROOM} bytes (provider MTU ${options.snapshot.providerMtu}) do not fit an AF_XDP chunk (${XDP_MAX_FRAME})`)
      }
      for (const name of interfaces) {
        intakes.push(new XdpIntake(name, intakeAddresses(options.snapshot)))
        // The worker's socket, tried here first: a kernel without AF_XDP falls back instead of failing the worker.
        new XdpSocketPort({ interfaceName: name, ringSize: 64 }).close()
      }
      logger.info({ interfaces, xdp: intakes.map((i) => i.mode) }, 'XDP intake attached: the engine\'s frames go to the AF_XDP socket, the rest to the kernel')
    } catch (error) {
      for (const intake of intakes.splice(0)) intake.close()
      afXdp = false
      logger.warn({ reason: (error as Error).message }, 'no AF_XDP: the packet worker uses packet sockets')
    }
  }
  const closeIntakes = (): void => {
    for (const intake of intakes.splice(0)) intake.close()
  }

  try {
    const groups = { provider: randomInt(1, 0xffff), external: randomInt(1, 0xffff) }
    const open = (interfaceName: string, groupId: number, member: boolean): WorkerSocket => {
      // An AF_XDP worker's packet sockets carry ARP only: small, on recvmmsg.
      const rings = member && !afXdp && (options.rings ?? true)
      const socket = openPacketSocket({
        interfaceName,
        fanout: member && several ? { groupId, mode, program: steered ? plan.program : undefined } : undefined,
        filter: afXdp ? arpOnlyFilter() : member ? membersFilter(interfaceName === options.providerInterface ? probeFiltered : null) : arpRepliesOnlyFilter(),
        promiscuous: member,
        rings: rings ? { slotSize } : false,
        // With a send ring, straight to the driver (the veth and NIC queues still apply).
        qdiscBypass: rings,
      })
      if (socket.ringFallback !== undefined) {
        logger.warn({ interface: interfaceName, reason: socket.ringFallback }, 'no packet rings; this socket uses recvmmsg/sendmmsg')
      }
      const owned = { ...socket, interfaceName }
      sockets.push(owned)
      return owned
    }
    // In order: socket i of a group is its member i, and the steering result (mod
    // workers) picks the same worker on both interfaces.
    for (let i = 0; i < workerCount; i++) {
      const provider = open(options.providerInterface, groups.provider, true)
      const external = externalInterface === null ? null : open(externalInterface, groups.external, true)
      // In a fanout group an ARP reply reaches one member; every worker must learn the neighbour.
      const listeners = several ? interfaces.map((name) => open(name, 0, false)) : []
      const countersBuffer = new SharedArrayBuffer(Counters.BYTE_LENGTH)
      const ioBuffer = new SharedArrayBuffer(IO_COUNTERS_BYTE_LENGTH)
      const controlBuffer = new SharedArrayBuffer(CONTROL_WORDS * 4)
      slots.push({
        index: i,
        provider,
        external,
        listeners,
        countersBuffer,
        ioBuffer,
        controlBuffer,
        resources: new NativeResources(),
        counters: new Counters(countersBuffer),
        io: ioCounters(ioBuffer),
        control: new Int32Array(controlBuffer),
        wakeFd: createWakeFd(),
        adopted: -1,
        adoptedEpoch: -1,
        worker: null,
        port: null,
        exited: Promise.resolve(),
        deaths: [],
      })
    }
    if (steered) handoff = createHandoffShared(workerCount, slotSize - RX_HEADROOM)
  } catch (error) {
    closeAll()
    closeIntakes()
    throw startError(error)
  }
  const ioMode = afXdp ? 'af-xdp' : slots[0]!.provider.ring === null ? 'recvmmsg' : 'rings'

  const adoptedGeneration = (): number => {
    let lowest = Infinity
    for (const s of slots) lowest = Math.min(lowest, s.adopted)
    return lowest
  }

  const adoptedEpoch = (): number => {
    let lowest = Infinity
    for (const s of slots) lowest = Math.min(lowest, s.adoptedEpoch)
    return lowest
  }

  /** Every worker runs `lowest` or later: steer by it, then answer whoever waited for it. */
  const advance = (): void => {
    const lowest = adoptedGeneration()
    if (lowest < 0) return
    const current = sent.get(lowest)
    if (current !== undefined && steered && !current.plan.program.equals(installed)) {
      try {
        setFanoutProgram(slots[0]!.provider.fd, current.plan.program, options.providerInterface)
        if (externalInterface !== null) setFanoutProgram(slots[0]!.external!.fd, current.plan.program, externalInterface)
        installed = current.plan.program
      } catch (error) {
        logger.error({ err: error, generation: lowest }, 'could not install the steering program; workers hand frames to their owner meanwhile')
      }
    }
    for (const generation of sent.keys()) if (generation < lowest) sent.delete(generation)
    const epoch = adoptedEpoch()
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.generation <= lowest && waiters[i]!.epoch <= epoch) {
        waiters[i]!.resolve()
        waiters.splice(i, 1)
      }
    }
  }

  const spawn = (slot: WorkerSlot): Promise<void> => {
    const channel = new MessageChannel()
    Atomics.store(slot.control, CONTROL_STOP, 0)
    const data: PacketWorkerData & { nvlbPacketWorker: true } = {
      nvlbPacketWorker: true,
      workerIndex: slot.index,
      workerCount,
      provider: slot.provider,
      external: slot.external,
      listeners: slot.listeners,
      handoff,
      batchSize,
      slotSize,
      pollTimeoutMs,
      busyPollUs,
      intake: afXdp ? { provider: intakes[0]!.socketMapFd, external: intakes[1]?.socketMapFd ?? null } : null,
      maxFlows: options.maxFlows,
      snapshot: publisher.full(),
      steeringTable: plan.table,
      countersBuffer: slot.countersBuffer,
      ioCountersBuffer: slot.ioBuffer,
      control: slot.controlBuffer,
      nativeResources: slot.resources.buffer,
      wakeFd: slot.wakeFd,
      port: channel.port2,
      engineModule,
    }
    const worker = startWorker(workerFile, { workerData: data, transferList: [channel.port2], name: `nvlb-packet-${slot.index}` })
    slot.worker = worker
    slot.port = channel.port1
    slot.adopted = -1
    slot.adoptedEpoch = -1
    const i = slot.index
    let started = false
    slot.exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        // Terminated (it did not stop in time) or ended by V8: its finally did not run.
        const released = slot.resources.releaseAll()
        if (released > 0) logger.warn({ worker: i, released }, 'packet worker ended without closing its AF_XDP sockets; closed them')
        resolve()
      }),
    )
    return new Promise<void>((resolve, reject) => {
      channel.port1.on('message', (message: WorkerToMain) => {
        if (message.type === 'ready' || message.type === 'adopted') {
          slot.adopted = Math.max(slot.adopted, message.generation)
          slot.adoptedEpoch = Math.max(slot.adoptedEpoch, message.epoch)
          if (message.type === 'ready') {
            started = true
            const io = afXdp
              ? `AF_XDP (${intakes.map((x) => `${x.interfaceName}: ${x.mode} XDP`).join(', ')}; copy mode)`
              : slot.provider.ring === null
                ? 'recvmmsg/sendmmsg'
                : 'TPACKET_V2 rings'
            logger.info({ worker: i, interface: options.providerInterface, ignoresOutgoing: message.ignoresOutgoing, io, busyPollUs }, 'packet worker ready')
            resolve()
          }
          advance()
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
      void slot.exited.then(() => {
        channel.port1.close()
        if (slot.worker === worker) {
          slot.worker = null
          slot.port = null
          // A dead worker runs nothing: whenAdopted waits for its replacement.
          slot.adopted = -1
          slot.adoptedEpoch = -1
        }
        if (!started) {
          reject(new NvlbError(ErrorCodes.SOCKET_SETUP, `packet worker ${i} exited before it was ready`, undefined, 500))
          return
        }
        if (stopping === null) restart(slot)
      })
    })
  }

  const restart = (slot: WorkerSlot): void => {
    const now = Date.now()
    slot.deaths = slot.deaths.filter((t) => now - t < RESTART_WINDOW_MS)
    slot.deaths.push(now)
    const delay = Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MS * 2 ** (slot.deaths.length - 1))
    restarts++
    logger.error(
      { worker: slot.index, restarts, delayMs: delay },
      'packet worker died; starting a new one on its sockets (the other workers keep their flows)',
    )
    setTimeout(() => {
      if (stopping !== null) return
      spawn(slot).catch((error: unknown) => {
        logger.error({ worker: slot.index, err: error }, 'restarted packet worker failed to start')
      })
    }, delay).unref()
  }

  const stop = (): Promise<void> => {
    if (stopping !== null) return stopping
    for (const s of slots) {
      Atomics.store(s.control, CONTROL_STOP, 1)
      Atomics.notify(s.control, CONTROL_STOP)
      signalWakeFd(s.wakeFd)
    }
    for (const w of waiters.splice(0)) w.reject(new NvlbError(ErrorCodes.SOCKET_SETUP, 'the packet workers stopped', undefined, 503))
    const timeoutMs = options.stopTimeoutMs ?? 5000
    stopping = Promise.all(
      slots.map(async (s) => {
        const worker = s.worker
        if (worker === null) return
        let timer: NodeJS.Timeout | undefined
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), timeoutMs)
        })
        const outcome = await Promise.race([s.exited.then(() => 'exited' as const), late])
        clearTimeout(timer)
        if (outcome === 'late') {
          logger.warn({ worker: worker.threadId }, 'packet worker did not stop in time; terminating it')
          await worker.terminate()
          await s.exited
        }
      }),
    ).then(() => {
      closeAll()
      closeIntakes()
    })
    return stopping
  }

  sent.set(snapshot.generation, { snapshot, plan })
  try {
    await Promise.all(slots.map((slot) => spawn(slot)))
  } catch (error) {
    await stop()
    throw error
  }

  return {
    workerCount,
    ioMode,
    adopt(next: Snapshot): void {
      const delta = publisher.delta(next)
      snapshot = next
      // The steering program depends on the frontends only (VIP address and port of every rule).
      plan = steered && delta.frontendsChanged ? steeringPlan(frontendsOf(next)) : plan
      sent.set(next.generation, { snapshot: next, plan })
      if (afXdp) {
        // The intake's addresses first: frames for a new VIP reach the worker as it adopts it. They name
        // the probe address too, whose replies the intake leaves to the kernel: no socket filter here.
        try {
          const addresses = intakeAddresses(next)
          for (const intake of intakes) intake.setAddresses(addresses)
        } catch (error) {
          logger.error({ err: error }, "could not update the XDP intake's addresses; frames to new addresses go to the kernel")
        }
      } else {
        // Probe replies never reach a worker: its provider socket's filter drops them (at once: until the
        // workers run this snapshot the engine would take them aside anyway).
        const replies = probeRepliesOf(next)
        if (replies?.providerAddress !== probeFiltered?.providerAddress || replies?.probeAddress !== probeFiltered?.probeAddress) {
          try {
            const filter = memberFilter(several, replies)
            for (const s of slots) setSocketFilter(s.provider.fd, filter, options.providerInterface)
            probeFiltered = replies
          } catch (error) {
            logger.error({ err: error }, 'could not install the probe-reply filter; the packet workers take probe replies aside meanwhile')
          }
        }
      }
      const message: MainToWorker = { type: 'delta', delta, steeringTable: plan.table }
      for (const s of slots) {
        if (s.port === null) continue
        s.port.postMessage(message)
        Atomics.add(s.control, CONTROL_POSTED, 1)
        signalWakeFd(s.wakeFd)
      }
    },
    adoptedGeneration,
    adoptedEpoch,
    whenAdopted(generation: number, epoch = -1): Promise<void> {
      if (stopping !== null) return Promise.reject(new NvlbError(ErrorCodes.SOCKET_SETUP, 'the packet workers stopped', undefined, 503))
      if (adoptedGeneration() >= generation && adoptedEpoch() >= epoch) return Promise.resolve()
      return new Promise<void>((resolve, reject) => waiters.push({ generation, epoch, resolve, reject }))
    },
    stats(): StatsReport {
      let flows = 0
      for (const s of slots) flows += s.io[IO_FLOWS]!
      const report = statsReport(snapshot, slots.map((s) => s.counters), flows)
      report.generation = Math.max(0, adoptedGeneration())
      return report
    },
    sweptEpoch(): number {
      let swept = slots.length === 0 ? 0 : Infinity
      for (const s of slots) swept = Math.min(swept, s.counters.values[G_SWEPT_EPOCH]!)
      return swept
    },
    ioStats(): WorkerPoolIoStats {
      return { ...sumIoCounters(slots.map((s) => s.io)), workerRestarts: restarts }
    },
    workerStats(): WorkerReport[] {
      return slots.map((s) => ({
        worker: s.index,
        rxPackets: s.counters.values[G_RX_PACKETS]!,
        txPackets: s.counters.values[G_TX_PACKETS]!,
        activeFlows: s.io[IO_FLOWS]!,
        generation: s.adopted,
        sleeps: s.io[IO_SLEEPS]!,
      }))
    },
    stop,
  }
}
