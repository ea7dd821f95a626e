/**
 * Frames the engine emits besides the one it rewrites in place: ARP replies
 * and requests, ICMP errors, fragments. Fixed slots in one buffer; the port
 * sends them after the batch and calls clear().
 */
/** Room for a 9216-byte provider MTU frame with one tag, after the headroom. */
export const TX_SLOT_SIZE = 9344
/** Bytes kept free in front of every slot, like the receive slots. */
export const TX_SLOT_HEADROOM = 64

export class TxQueue {
  readonly buffer: Buffer
  readonly offsets: Int32Array
  readonly lengths: Int32Array
  readonly sides: Uint8Array
  readonly capacity: number
  count = 0

  constructor(capacity = 256) {
    this.capacity = capacity
    this.buffer = Buffer.alloc(capacity * TX_SLOT_SIZE)
    this.offsets = new Int32Array(capacity)
    this.lengths = new Int32Array(capacity)
    this.sides = new Uint8Array(capacity)
    for (let i = 0; i < capacity; i++) this.offsets[i] = i * TX_SLOT_SIZE + TX_SLOT_HEADROOM
  }

  /** Offset of the next free slot's frame start, or -1 when full. The caller fills it, then commit(). */
  reserve(): number {
    return this.count < this.capacity ? this.offsets[this.count]! : -1
  }

  commit(length: number, side: number): void {
    this.lengths[this.count] = length
    this.sides[this.count] = side
    this.count++
  }

  clear(): void {
    this.count = 0
  }
}
