import { isMainThread, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import type { Snapshot } from '../dataplane/snapshot'
import { applySnapshotDelta, type SnapshotDelta } from './shared-snapshot'
import { AfPacketPort, type PacketSocket } from './af-packet-socket'
import type { WorkerEngine, WorkerEngineOptions } from './worker-engine'
import type { Frontend } from './fanout-program'
import type { FramePort } from './frame-port'
import { ForwardingLoop, SIDE_ANY, SIDE_EXTERNAL, SIDE_PROVIDER } from './forwarding-loop'
import { IO_ADOPTIONS, IO_FLOWS, IO_GENERATION, IO_RX_ERRORS, IO_SLEEPS, ioCounters } from './io-counters'
import { PacketRingPort } from './packet-ring'
import { nameThisThread, schedYield } from './libc'
import { PollSet } from './poll-set'
import { drainWakeFd } from './wake-fd'
import { NativeResources } from './native-resources'
import { WorkerHandoff, type HandoffShared } from './worker-handoff'
import { addIntakeSocket } from './xdp-intake'
import { XdpSocketPort } from './xdp-socket'

/** The OS name of packet worker thread i: this prefix and i (in /proc/PID/task/TID/comm). */
export const PACKET_WORKER_THREAD = 'nvlb-packet-'

/** Control words shared between the main thread and a worker (Int32Array over a SharedArrayBuffer). */
export const CONTROL_STOP = 0
/** Messages the main thread posted on the worker's port (bumped after each): the port is read only when it moved. */
export const CONTROL_POSTED = 1
export const CONTROL_WORDS = 2

/** A socket the main thread opened for this worker (it stays open, and in its fanout group, when the worker dies). */
export interface WorkerSocket extends PacketSocket {
  interfaceName: string
}

export interface PacketWorkerData {
  workerIndex: number
  workerCount: number
  /** The worker's member of the provider interface's fanout group (or the only socket). */
  provider: WorkerSocket
  /** Its member on the external interface; null: the provider interface carries both sides. */
  external: WorkerSocket | null
  /** ARP-reply listeners (several workers: every worker learns every neighbour). */
  listeners: WorkerSocket[]
  /** Rings and wake-ups to hand frames to their owner; null with one worker or a fanout mode other than client-port. */
  handoff: HandoffShared | null
  batchSize: number
  slotSize: number
  pollTimeoutMs: number
  /**
   * AF_XDP (the pool's XDP intake, lib/io/xdp-intake.ts): the XSKMAP fds of the provider and
   * external interfaces; the worker opens an AF_XDP socket on each for the engine's frames and
   * reads only ARP from `provider` and `external`. Null: `provider` and `external` carry everything.
   */
  intake: { provider: number; external: number | null } | null
  /** Keep looking at the sockets this long after the last frame before sleeping in poll(2) (0: sleep at once). */
  busyPollUs: number
  maxFlows?: number
  snapshot: Snapshot
  /** Whether the steering program for `snapshot` has a frontend table (steeringPlan().table). */
  steeringTable: boolean
  countersBuffer: SharedArrayBuffer
  ioCountersBuffer: SharedArrayBuffer
  control: SharedArrayBuffer
  /** Where the worker records the AF_XDP sockets and mappings it opens (native-resources.ts). */
  nativeResources: SharedArrayBuffer
  /** eventfd the main thread signals after posting a snapshot and on stop (wake-fd.ts). */
  wakeFd: number
  port: MessagePort
  /** Module exporting `createEngine(WorkerEngineOptions)`; default ./worker-engine. */
  engineModule: string
}

export type WorkerToMain =
  | { type: 'ready'; workerIndex: number; ignoresOutgoing: boolean; generation: number; epoch: number }
  | { type: 'adopted'; workerIndex: number; generation: number; epoch: number }
  | { type: 'error'; workerIndex: number; message: string; code?: string }
  | { type: 'stopped'; workerIndex: number }

/** A whole snapshot, or (every one after the worker's first) what differs from the one sent before (shared-snapshot.ts). */
export type MainToWorker = { type: 'snapshot'; snapshot: Snapshot; steeringTable: boolean } | { type: 'delta'; delta: SnapshotDelta; steeringTable: boolean }

const KERNEL_STATS_INTERVAL_MS = 1000
const ERROR_BACKOFF_MS = 10
const LISTENER_BATCH = 8

/**
 * VIP frontends: NVGRE frames addressed to them are requests (see fanout-program) — to a CA VIP,
 * or to a public VIP from a tenant VM (hairpin), whose reply comes back to the external address at a
 * NAT port congruent to the VM's port.
 */
export function frontendsOf(snapshot: Snapshot): Frontend[] {
  const frontends: Frontend[] = []
  for (const rule of snapshot.ruleList) {
    if (rule !== null) frontends.push({ address: rule.vipAddress, port: rule.frontendPort })
  }
  return frontends
}

/**
 * A packet worker: wraps the sockets the main thread opened for it, runs its
 * own engine and loops receive → process → send until the stop word is set;
 * the batch in flight always completes. Snapshots arrive on `port` and are
 * adopted between batches; each adoption is reported back ('adopted'). With
 * several workers, frames another worker owns are handed to it (worker-handoff.ts).
 * The sockets stay open when the worker ends: they belong to the main thread.
 */
export function runPacketWorker(data: PacketWorkerData): void {
  const control = new Int32Array(data.control)
  const io = ioCounters(data.ioCountersBuffer)
  const post = (message: WorkerToMain): void => data.port.postMessage(message)
  const opened: (AfPacketPort | PacketRingPort | XdpSocketPort)[] = []
  const resources = new NativeResources(data.nativeResources)
  // So that top -H, ps -L and the benchmarks can tell the packet workers apart (failure changes nothing).
  nameThisThread(`${PACKET_WORKER_THREAD}${data.workerIndex}`)
  try {
    const factory = require(data.engineModule) as { createEngine(options: WorkerEngineOptions): WorkerEngine }
    const engine = factory.createEngine({
      countersBuffer: data.countersBuffer,
      maxFlows: data.maxFlows,
      workerIndex: data.workerIndex,
      workerCount: data.workerCount,
    })
    const handoff = data.handoff === null ? null : new WorkerHandoff(data.handoff, data.workerIndex, data.batchSize, data.slotSize, io)
    let running = data.snapshot
    let steeringTable = data.steeringTable
    adopt(engine, handoff, running, steeringTable, true, io)

    const wrap = (socket: WorkerSocket, batchSize: number): AfPacketPort | PacketRingPort => {
      const port =
        socket.ring === null
          ? new AfPacketPort({ interfaceName: socket.interfaceName, socket, batchSize, slotSize: data.slotSize, counters: io })
          : new PacketRingPort({ interfaceName: socket.interfaceName, fd: socket.fd, layout: socket.ring, batchSize, counters: io })
      opened.push(port)
      return port
    }
    let provider: FramePort
    let external: FramePort
    const listeners: FramePort[] = data.listeners.map((socket) => wrap(socket, LISTENER_BATCH))
    const listenerSides: number[] = listeners.map(() => SIDE_ANY)
    if (data.intake === null) {
      provider = wrap(data.provider, data.batchSize)
      external = data.external === null ? provider : wrap(data.external, data.batchSize)
    } else {
      const intake = data.intake
      const xsk = (interfaceName: string, mapFd: number): XdpSocketPort => {
        const port = new XdpSocketPort({ interfaceName, batchSize: data.batchSize, counters: io, resources })
        opened.push(port)
        addIntakeSocket(mapFd, 0, port.fd)
        return port
      }
      provider = xsk(data.provider.interfaceName, intake.provider)
      external = data.external === null ? provider : xsk(data.external.interfaceName, intake.external!)
      // ARP, which the intake leaves to the kernel, comes through the packet sockets, each on its own side.
      listeners.push(wrap(data.provider, LISTENER_BATCH))
      if (data.external === null) listenerSides.push(SIDE_ANY)
      else {
        listeners.push(wrap(data.external, LISTENER_BATCH))
        listenerSides.push(SIDE_PROVIDER, SIDE_EXTERNAL)
      }
    }
    const loop = new ForwardingLoop(engine, provider, external, io, listeners, handoff, listenerSides)
    // The wake fd comes last: a snapshot or the stop word ends the wait at once, not after pollTimeoutMs.
    const poll = new PollSet([...loop.ports.map((p) => p.fd), data.wakeFd])
    const allReady = (1 << loop.ports.length) - 1
    const wakeBit = 1 << loop.ports.length
    const wakeScratch = Buffer.alloc(8)
    post({ type: 'ready', workerIndex: data.workerIndex, ignoresOutgoing: data.provider.ignoresOutgoing, generation: data.snapshot.generation, epoch: data.snapshot.epoch })

    let lastKernelStats = performance.now()
    let backlog = false
    const busyPollMs = data.busyPollUs / 1000
    let lastFrameAt = -Infinity
    let postedSeen = -1
    while (Atomics.load(control, CONTROL_STOP) === 0) {
      const posted = Atomics.load(control, CONTROL_POSTED)
      const next = posted === postedSeen ? null : latestSnapshot(data.port, running)
      postedSeen = posted
      if (next !== null) {
        adopt(engine, handoff, next.snapshot, next.steeringTable, next.frontendsChanged || next.steeringTable !== steeringTable, io)
        running = next.snapshot
        steeringTable = next.steeringTable
        post({ type: 'adopted', workerIndex: data.workerIndex, generation: running.generation, epoch: running.epoch })
      }
      // Busy-polling: soon after a frame, look at every socket again instead of sleeping, so that
      // the next frame needs no wake-up (on a virtual machine a wake-up costs microseconds).
      let now = performance.now()
      const polling = backlog || now - lastFrameAt < busyPollMs
      let ready = allReady
      if (!polling) {
        io[IO_SLEEPS]++
        ready = poll.wait(data.pollTimeoutMs)
        now = performance.now()
      }
      if ((ready & wakeBit) !== 0) {
        drainWakeFd(data.wakeFd, wakeScratch)
        ready &= allReady
      }
      const errorsBefore = io[IO_RX_ERRORS]!
      const most = loop.runBatch(now / 1000, ready)
      io[IO_FLOWS] = engine.flowCount
      backlog = most >= data.batchSize
      if (most > 0) lastFrameAt = now
      // Nothing yet: another runnable thread on this core goes first (the loop comes back when it yields or sleeps).
      else if (polling) schedYield()
      if (ready !== 0 && most === 0 && io[IO_RX_ERRORS]! > errorsBefore) {
        // A socket in error (interface gone or down): do not spin on it.
        Atomics.wait(control, CONTROL_STOP, 0, ERROR_BACKOFF_MS)
      }
      if (now - lastKernelStats >= KERNEL_STATS_INTERVAL_MS) {
        lastKernelStats = now
        for (const port of opened) port.collectKernelDrops()
      }
    }
    for (const port of opened) port.collectKernelDrops()
    post({ type: 'stopped', workerIndex: data.workerIndex })
  } catch (error) {
    const e = error as { message?: string; code?: string }
    post({ type: 'error', workerIndex: data.workerIndex, message: e.message ?? String(error), code: e.code })
  } finally {
    for (const port of opened) port.close()
    data.port.close()
  }
}

function adopt(engine: WorkerEngine, handoff: WorkerHandoff | null, snapshot: Snapshot, steeringTable: boolean, frontendsChanged: boolean, io: Float64Array): void {
  engine.adopt(snapshot)
  if (handoff !== null && frontendsChanged) handoff.setFrontends(frontendsOf(snapshot), steeringTable)
  io[IO_GENERATION] = snapshot.generation
  io[IO_ADOPTIONS]++
}

/**
 * Drains the control port: the snapshot its messages lead to from `running` (deltas apply
 * in order, each to the one before), or null when none came.
 */
function latestSnapshot(port: MessagePort, running: Snapshot): { snapshot: Snapshot; steeringTable: boolean; frontendsChanged: boolean } | null {
  let snapshot = running
  let steeringTable = false
  let frontendsChanged = false
  let received = false
  for (;;) {
    const next = receiveMessageOnPort(port)
    if (next === undefined) return received ? { snapshot, steeringTable, frontendsChanged } : null
    const message = next.message as MainToWorker
    if (message.type === 'snapshot') {
      snapshot = message.snapshot
      frontendsChanged = true
    } else if (message.type === 'delta') {
      snapshot = applySnapshotDelta(snapshot, message.delta)
      frontendsChanged ||= message.delta.frontendsChanged
    } else continue
    steeringTable = message.steeringTable
    received = true
  }
}

if (!isMainThread && (workerData as { nvlbPacketWorker?: boolean } | null)?.nvlbPacketWorker === true) {
  runPacketWorker(workerData as PacketWorkerData)
}
