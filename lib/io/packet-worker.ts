import { isMainThread, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import type { Snapshot } from '../dataplane/snapshot'
import { AfPacketPort, type FanoutMode } from './af-packet-socket'
import type { WorkerEngine, WorkerEngineOptions } from './worker-engine'
import { arpRepliesOnlyFilter, memberFilter, steeringProgram, type Frontend } from './fanout-program'
import type { FramePort } from './frame-port'
import { ForwardingLoop } from './forwarding-loop'
import { IO_ADOPTIONS, IO_FLOWS, IO_GENERATION, IO_RX_ERRORS, ioCounters } from './io-counters'
import { PollSet } from './poll-set'

/** Control words shared between the main thread and a worker (Int32Array over a SharedArrayBuffer). */
export const CONTROL_STOP = 0
export const CONTROL_WORDS = 2

export interface PacketWorkerData {
  workerIndex: number
  workerCount: number
  providerInterface: string
  /** null: the provider interface carries both sides. */
  externalInterface: string | null
  /** null: a single worker, no fanout group. */
  fanout: { mode: FanoutMode; providerGroupId: number; externalGroupId: number } | null
  batchSize: number
  slotSize: number
  pollTimeoutMs: number
  maxFlows?: number
  snapshot: Snapshot
  countersBuffer: SharedArrayBuffer
  ioCountersBuffer: SharedArrayBuffer
  control: SharedArrayBuffer
  port: MessagePort
  /** Module exporting `createEngine(WorkerEngineOptions)`; default ./worker-engine. */
  engineModule: string
}

export type WorkerToMain =
  | { type: 'ready'; workerIndex: number; ignoresOutgoing: boolean }
  | { type: 'error'; workerIndex: number; message: string; code?: string }
  | { type: 'stopped'; workerIndex: number }

export type MainToWorker = { type: 'snapshot'; snapshot: Snapshot }

const KERNEL_STATS_INTERVAL_MS = 1000
const ERROR_BACKOFF_MS = 10

/** CA VIP frontends: NVGRE frames addressed to them are requests (see fanout-program). */
export function frontendsOf(snapshot: Snapshot): Frontend[] {
  const frontends: Frontend[] = []
  for (const rule of snapshot.ruleList) {
    if (rule !== null && rule.virtualSubnetId !== 0) frontends.push({ address: rule.vipAddress, port: rule.frontendPort })
  }
  return frontends
}

/**
 * A packet worker: opens its sockets (a member of each interface's fanout
 * group), runs its own engine and loops receive → process → send until the
 * stop word is set; the batch in flight always completes. Snapshots arrive on
 * `port` and are adopted between batches.
 */
export function runPacketWorker(data: PacketWorkerData): void {
  const control = new Int32Array(data.control)
  const io = ioCounters(data.ioCountersBuffer)
  const post = (message: WorkerToMain): void => data.port.postMessage(message)
  const opened: AfPacketPort[] = []
  try {
    const factory = require(data.engineModule) as { createEngine(options: WorkerEngineOptions): WorkerEngine }
    const engine = factory.createEngine({
      countersBuffer: data.countersBuffer,
      maxFlows: data.maxFlows,
      workerIndex: data.workerIndex,
      workerCount: data.workerCount,
    })
    adopt(engine, data.snapshot, io)

    const fanout = data.fanout
    const program = fanout !== null && fanout.mode === 'client-port' ? steeringProgram(frontendsOf(data.snapshot)) : undefined
    const open = (interfaceName: string, groupId: number): AfPacketPort => {
      const port = new AfPacketPort({
        interfaceName,
        batchSize: data.batchSize,
        slotSize: data.slotSize,
        counters: io,
        fanout: fanout === null ? undefined : { groupId, mode: fanout.mode, program },
        filter: fanout === null ? undefined : memberFilter(true),
      })
      opened.push(port)
      return port
    }
    const provider = open(data.providerInterface, fanout?.providerGroupId ?? 0)
    const external = data.externalInterface === null ? provider : open(data.externalInterface, fanout?.externalGroupId ?? 0)
    // In a fanout group an ARP reply reaches one member; every worker must learn the neighbour.
    const listeners: FramePort[] = []
    if (fanout !== null) {
      for (const name of data.externalInterface === null ? [data.providerInterface] : [data.providerInterface, data.externalInterface]) {
        const port = new AfPacketPort({ interfaceName: name, batchSize: 8, slotSize: data.slotSize, counters: io, filter: arpRepliesOnlyFilter(), promiscuous: false })
        opened.push(port)
        listeners.push(port)
      }
    }
    const loop = new ForwardingLoop(engine, provider, external, io, listeners)
    const poll = new PollSet(loop.ports.map((p) => p.fd))
    const allReady = (1 << loop.ports.length) - 1
    post({ type: 'ready', workerIndex: data.workerIndex, ignoresOutgoing: provider.ignoresOutgoing })

    let lastKernelStats = performance.now()
    let backlog = false
    while (Atomics.load(control, CONTROL_STOP) === 0) {
      const snapshot = latestSnapshot(data.port)
      if (snapshot !== null) {
        adopt(engine, snapshot, io)
        if (program !== undefined && data.workerIndex === 0) {
          const next = steeringProgram(frontendsOf(snapshot))
          provider.setFanoutProgram(next)
          if (external !== provider) external.setFanoutProgram(next)
        }
      }
      const ready = backlog ? allReady : poll.wait(data.pollTimeoutMs)
      const errorsBefore = io[IO_RX_ERRORS]!
      const now = performance.now()
      const most = loop.runBatch(now / 1000, ready)
      io[IO_FLOWS] = engine.flowCount
      backlog = most >= data.batchSize
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
    for (const port of opened) port.close()
    post({ type: 'stopped', workerIndex: data.workerIndex })
  } catch (error) {
    for (const port of opened) port.close()
    const e = error as { message?: string; code?: string }
    post({ type: 'error', workerIndex: data.workerIndex, message: e.message ?? String(error), code: e.code })
  } finally {
    data.port.close()
  }
}

function adopt(engine: WorkerEngine, snapshot: Snapshot, io: Float64Array): void {
  engine.adopt(snapshot)
  io[IO_GENERATION] = snapshot.generation
  io[IO_ADOPTIONS]++
}

/** Drains the control port; only the newest snapshot matters. */
function latestSnapshot(port: MessagePort): Snapshot | null {
  let latest: Snapshot | null = null
  for (;;) {
    const received = receiveMessageOnPort(port)
    if (received === undefined) return latest
    const message = received.message as MainToWorker
    if (message.type === 'snapshot') latest = message.snapshot
  }
}

if (!isMainThread && (workerData as { nvlbPacketWorker?: boolean } | null)?.nvlbPacketWorker === true) {
  runPacketWorker(workerData as PacketWorkerData)
}
