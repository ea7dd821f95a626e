import { DROP_REASON_COUNT } from './drop-reasons'
import { MAX_BACKEND_IDS, MAX_RULE_IDS } from './snapshot'

/**
 * The packet path's counters in one Float64Array with a fixed layout, so a
 * worker's counters can live in a SharedArrayBuffer that the control plane
 * reads. Float64 counts exactly up to 2^53.
 */
export const G_RX_PACKETS = 0
export const G_RX_BYTES = 1
export const G_TX_PACKETS = 2
export const G_TX_BYTES = 3
export const G_FLOWS_CREATED = 4
export const G_FLOWS_EVICTED = 5
export const G_FLOWS_EXPIRED = 6
export const G_ACTIVE_FLOWS = 7
export const G_GENERATION = 8
/** Evictions by the class of the flow evicted, in the flow table's order (EVICT_HALF_OPEN, EVICT_ESTABLISHED, EVICT_CLOSING). */
export const G_FLOWS_EVICTED_HALF_OPEN = 9
export const G_FLOWS_EVICTED_ESTABLISHED = 10
export const G_FLOWS_EVICTED_CLOSING = 11
/**
 * Gauge: the snapshot epoch this engine's flow table has been swept against.
 * No flow refers to a rule or backend id freed at or before it, and the engine
 * runs no snapshot that has such an id: the compiler may give it to another
 * rule or backend once every engine's gauge has reached the epoch it was freed at.
 */
export const G_SWEPT_EPOCH = 12
/** Public dnat replies translated without a flow (another instance carried the connection; docs/ha.md). */
export const G_REPLIES_WITHOUT_FLOW = 13
const GLOBAL_COUNT = 14

/** Per rule and per backend: packets, bytes, flows created. */
export const PER_PACKETS = 0
export const PER_BYTES = 1
export const PER_FLOWS = 2
const PER_STRIDE = 3

export const DROPS_BASE = GLOBAL_COUNT
export const RULES_BASE = DROPS_BASE + DROP_REASON_COUNT
export const BACKENDS_BASE = RULES_BASE + MAX_RULE_IDS * PER_STRIDE
const SLOT_COUNT = BACKENDS_BASE + MAX_BACKEND_IDS * PER_STRIDE

export class Counters {
  static readonly BYTE_LENGTH = SLOT_COUNT * Float64Array.BYTES_PER_ELEMENT
  readonly values: Float64Array

  constructor(buffer?: SharedArrayBuffer | ArrayBuffer) {
    this.values = new Float64Array(buffer ?? new ArrayBuffer(Counters.BYTE_LENGTH), 0, SLOT_COUNT)
  }

  drop(reason: number): void {
    this.values[DROPS_BASE + reason]++
  }

  dropCount(reason: number): number {
    return this.values[DROPS_BASE + reason]!
  }

  rule(id: number, field: number): number {
    return this.values[RULES_BASE + id * PER_STRIDE + field]!
  }

  backend(id: number, field: number): number {
    return this.values[BACKENDS_BASE + id * PER_STRIDE + field]!
  }

  countRule(id: number, bytes: number): void {
    const i = RULES_BASE + id * PER_STRIDE
    this.values[i + PER_PACKETS]++
    this.values[i + PER_BYTES] += bytes
  }

  countBackend(id: number, bytes: number): void {
    const i = BACKENDS_BASE + id * PER_STRIDE
    this.values[i + PER_PACKETS]++
    this.values[i + PER_BYTES] += bytes
  }

  /** A rule id given to another rule: its counts start again. */
  resetRule(id: number): void {
    this.values.fill(0, RULES_BASE + id * PER_STRIDE, RULES_BASE + (id + 1) * PER_STRIDE)
  }

  resetBackend(id: number): void {
    this.values.fill(0, BACKENDS_BASE + id * PER_STRIDE, BACKENDS_BASE + (id + 1) * PER_STRIDE)
  }

  countNewFlow(ruleId: number, backendId: number): void {
    this.values[G_FLOWS_CREATED]++
    this.values[RULES_BASE + ruleId * PER_STRIDE + PER_FLOWS]++
    this.values[BACKENDS_BASE + backendId * PER_STRIDE + PER_FLOWS]++
  }
}
