import { Counters, G_RX_BYTES, G_RX_PACKETS } from '../../../lib/dataplane/counters'
import type { Snapshot } from '../../../lib/dataplane/snapshot'
import { TxQueue } from '../../../lib/dataplane/tx-queue'
import type { WorkerEngine, WorkerEngineOptions } from '../../../lib/io/worker-engine'
import { ETHERTYPE_TEST } from './frames'

/** Byte 22 of a test frame: what the reflector does with it. */
export const ACTION_OFFSET = 22
export const ACTION_REFLECT = 1
/** Reflect, and also queue a copy as an extra frame (like an engine's ARP or ICMP answer). */
export const ACTION_REFLECT_AND_EXTRA = 2
export const ACTION_DROP = 3

/**
 * A stand-in engine for I/O tests: test frames and IPv4 frames come back out of
 * the side they came in on with the MAC addresses swapped and the worker index
 * written into their last byte; everything else is dropped. Counts received
 * frames in the shared counters.
 */
export class ReflectEngine implements WorkerEngine {
  readonly counters: Counters
  readonly extra = new TxQueue(64)
  outOffset = 0
  outLength = 0
  outSide = 0
  generation = 0
  flowCount = 0
  private readonly workerIndex: number

  constructor(options: Partial<WorkerEngineOptions> = {}) {
    this.counters = new Counters(options.countersBuffer)
    this.workerIndex = options.workerIndex ?? 0
  }

  adopt(snapshot: Snapshot): void {
    this.generation = snapshot.generation
  }

  tick(): void {}

  process(buf: Buffer, off: number, len: number): number {
    if (len < 24) return 0
    const ethertype = buf.readUInt16BE(off + 12)
    if (ethertype !== ETHERTYPE_TEST && ethertype !== 0x0800) return 0
    this.counters.values[G_RX_PACKETS]++
    this.counters.values[G_RX_BYTES] += len
    const action = ethertype === ETHERTYPE_TEST ? buf[off + ACTION_OFFSET] : ACTION_REFLECT
    if (action === ACTION_DROP) return 0
    this.flowCount++
    for (let i = 0; i < 6; i++) {
      const t = buf[off + i]!
      buf[off + i] = buf[off + 6 + i]!
      buf[off + 6 + i] = t
    }
    buf[off + len - 1] = this.workerIndex
    if (action === ACTION_REFLECT_AND_EXTRA) {
      const at = this.extra.reserve()
      if (at >= 0) {
        buf.copy(this.extra.buffer, at, off, off + len)
        this.extra.buffer[at + ACTION_OFFSET] = 0xee
        this.extra.commit(len, 0)
      }
    }
    this.outOffset = off
    this.outLength = len
    this.outSide = 0
    return 1
  }
}

export function createEngine(options: WorkerEngineOptions): WorkerEngine {
  return new ReflectEngine(options)
}
