import { Counters } from '../../../lib/dataplane/counters'
import { Engine } from '../../../lib/dataplane/engine'
import type { WorkerEngine, WorkerEngineOptions } from '../../../lib/io/worker-engine'

/** A frame containing this dies with its worker (a stand-in for a bug in the packet path). */
export const CRASH_MARKER = 'nvlb-test-crash!'

/** The nvlb engine, except that a frame carrying CRASH_MARKER throws out of process() and so ends its worker thread. */
class CrashingEngine extends Engine {
  private readonly marker = Buffer.from(CRASH_MARKER)
  override process(buf: Buffer, off: number, len: number): number {
    if (buf.subarray(off, off + len).includes(this.marker)) throw new Error('test crash: a packet worker dies')
    return super.process(buf, off, len)
  }
}

export function createEngine(options: WorkerEngineOptions): WorkerEngine {
  return new CrashingEngine({ maxFlows: options.maxFlows, counters: new Counters(options.countersBuffer), workerCount: options.workerCount })
}
