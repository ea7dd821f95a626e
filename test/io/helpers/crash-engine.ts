import { Counters } from '../../../lib/dataplane/counters'
import { Engine } from '../../../lib/dataplane/engine'
import type { WorkerEngine, WorkerEngineOptions } from '../../../lib/io/worker-engine'

/** A frame containing this dies with its worker (a stand-in for a bug in the packet path). */
export const CRASH_MARKER = 'nvlb-test-crash!'

/** A frame containing this keeps its worker busy for good (a stand-in for a packet path that never returns). */
export const HANG_MARKER = 'nvlb-test-hang!!'

/**
 * The nvlb engine, except that a frame carrying CRASH_MARKER throws out of process() and so ends
 * its worker thread, and one carrying HANG_MARKER never returns (the worker misses its stop).
 */
class CrashingEngine extends Engine {
  private readonly marker = Buffer.from(CRASH_MARKER)
  private readonly hangMarker = Buffer.from(HANG_MARKER)
  override process(buf: Buffer, off: number, len: number): number {
    if (buf.subarray(off, off + len).includes(this.marker)) throw new Error('test crash: a packet worker dies')
    if (buf.subarray(off, off + len).includes(this.hangMarker)) for (;;);
    return super.process(buf, off, len)
  }
}

export function createEngine(options: WorkerEngineOptions): WorkerEngine {
  return new CrashingEngine({ maxFlows: options.maxFlows, counters: new Counters(options.countersBuffer), workerCount: options.workerCount })
}
