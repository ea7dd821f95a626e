import { Counters } from '../dataplane/counters'
import { Engine } from '../dataplane/engine'
import type { Snapshot } from '../dataplane/snapshot'
import type { PacketEngine } from './forwarding-loop'

/** What a worker needs from its engine: the loop's part, plus snapshots and the flow count. */
export interface WorkerEngine extends PacketEngine {
  adopt(snapshot: Snapshot): void
  readonly flowCount: number
}

export interface WorkerEngineOptions {
  /** Where the engine counts: Counters.BYTE_LENGTH bytes shared with the main thread. */
  countersBuffer: SharedArrayBuffer
  maxFlows?: number
  workerIndex: number
  workerCount: number
}

/**
 * The engine a packet worker runs (the default `engineModule` of
 * startWorkerPool; tests substitute their own module with the same export).
 */
export function createEngine(options: WorkerEngineOptions): WorkerEngine {
  return new Engine({ maxFlows: options.maxFlows, counters: new Counters(options.countersBuffer), workerCount: options.workerCount })
}

export const COUNTERS_BYTE_LENGTH = Counters.BYTE_LENGTH
