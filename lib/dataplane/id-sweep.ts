/**
 * The id sweep: after a new snapshot, every flow whose rule or backend id the
 * snapshot no longer has is removed, a bounded number of buckets per tick.
 * `swept` is the epoch the whole table has been checked against: no flow
 * names an id freed at or before it, so the compiler may give such an id to
 * another rule or backend once every engine's `swept` has reached it
 * (lib/control/id-allocator.ts). The engine publishes it as G_SWEPT_EPOCH.
 */
import { NO_ENTRY, type FlowTable } from './flow-table'
import { BACKEND_ABSENT, type Snapshot } from './snapshot'

export const SWEEP_BUCKETS_PER_TICK = 2048

export class IdSweep {
  /** The epoch the flow table has been swept against. */
  swept = 0
  private running = false
  private cursor = 0
  /** The lowest epoch adopted since the running pass started: what the pass proves when it completes. */
  private proves = 0

  get active(): boolean {
    return this.running
  }

  /** A snapshot of `epoch` was adopted; the table holds `flowCount` flows. */
  adopted(epoch: number, flowCount: number): void {
    if (flowCount === 0) {
      // Nothing to sweep: no flow names any id.
      this.swept = epoch
      this.running = false
      return
    }
    // Back to an older snapshot (a change whose write failed): ids freed after it are in use again.
    if (epoch < this.swept) this.swept = epoch
    if (this.running) {
      if (epoch < this.proves) this.proves = epoch
    } else if (this.swept < epoch) {
      this.running = true
      this.cursor = 0
      this.proves = epoch
    }
  }

  /** Visit the next SWEEP_BUCKETS_PER_TICK buckets; returns the flows removed. */
  step(flows: FlowTable, snap: Snapshot): number {
    const buckets = flows.bucketCount
    const ruleList = snap.ruleList
    const backendState = snap.backendState
    let removed = 0
    let b = this.cursor
    const end = b + SWEEP_BUCKETS_PER_TICK < buckets ? b + SWEEP_BUCKETS_PER_TICK : buckets
    for (; b < end; b++) {
      let i = flows.forwardHead(b)
      while (i !== NO_ENTRY) {
        const next = flows.forwardNext(i)
        const rule = flows.rule(i)
        const backend = flows.backend(i)
        if (rule >= ruleList.length || ruleList[rule] === null || backend >= snap.backendCount || backendState[backend] === BACKEND_ABSENT) {
          flows.remove(i)
          removed++
        }
        i = next
      }
    }
    this.cursor = b
    if (b >= buckets) {
      this.swept = this.proves
      this.running = false
      this.adopted(snap.epoch, flows.count)
    }
    return removed
  }
}
