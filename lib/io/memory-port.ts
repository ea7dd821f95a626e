import { DEFAULT_BATCH_SIZE, DEFAULT_SLOT_SIZE, FramePort, RX_HEADROOM } from './frame-port'
import { IO_RX_BYTES, IO_RX_FRAMES, IO_RX_TRUNCATED, IO_TX_BYTES, IO_TX_ERRORS, IO_TX_FRAMES, ioCounters } from './io-counters'

export interface MemoryPortOptions {
  batchSize?: number
  slotSize?: number
  /** Frames a port holds before its peer's sends are dropped (counted as tx errors). */
  queueCapacity?: number
}

/**
 * An in-memory port with the FramePort interface, for tests and replays: a
 * pair of them behaves like the two ends of a veth (what one flushes the
 * other receives, in order). Frames are copied at flush, like a NIC would.
 */
export class MemoryPort implements FramePort {
  readonly name: string
  readonly fd = -1
  readonly batchSize: number
  readonly slotSize: number
  readonly rxBuffer: Buffer
  readonly rxOffsets: Int32Array
  readonly rxLengths: Int32Array
  readonly counters = ioCounters()
  peer: MemoryPort | null = null

  private readonly queue: Buffer
  private readonly queueLengths: Int32Array
  private readonly queueCapacity: number
  private queueHead = 0
  private queueCount = 0

  private readonly txBuffers: (Buffer | null)[]
  private readonly txOffsets: Int32Array
  private readonly txLengths: Int32Array
  private txCount = 0

  static pair(nameA = 'mem0', nameB = 'mem1', options: MemoryPortOptions = {}): [MemoryPort, MemoryPort] {
    const a = new MemoryPort(nameA, options)
    const b = new MemoryPort(nameB, options)
    a.peer = b
    b.peer = a
    return [a, b]
  }

  constructor(name: string, options: MemoryPortOptions = {}) {
    this.name = name
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    this.slotSize = options.slotSize ?? DEFAULT_SLOT_SIZE
    this.queueCapacity = options.queueCapacity ?? 4096
    this.rxBuffer = Buffer.alloc(this.batchSize * this.slotSize)
    this.rxOffsets = new Int32Array(this.batchSize)
    this.rxLengths = new Int32Array(this.batchSize)
    this.queue = Buffer.alloc(this.queueCapacity * this.slotSize)
    this.queueLengths = new Int32Array(this.queueCapacity)
    this.txBuffers = new Array<Buffer | null>(this.batchSize).fill(null)
    this.txOffsets = new Int32Array(this.batchSize)
    this.txLengths = new Int32Array(this.batchSize)
  }

  receive(): number {
    let n = 0
    while (n < this.batchSize && this.queueCount > 0) {
      const q = this.queueHead
      const length = this.queueLengths[q]!
      const offset = n * this.slotSize + RX_HEADROOM
      this.queue.copy(this.rxBuffer, offset, q * this.slotSize, q * this.slotSize + length)
      this.rxOffsets[n] = offset
      this.rxLengths[n] = length
      this.counters[IO_RX_BYTES] += length
      this.queueHead = (q + 1) % this.queueCapacity
      this.queueCount--
      n++
    }
    this.counters[IO_RX_FRAMES] += n
    return n
  }

  send(buffer: Buffer, offset: number, length: number): void {
    if (this.txCount === this.batchSize) this.flush()
    const i = this.txCount++
    this.txBuffers[i] = buffer
    this.txOffsets[i] = offset
    this.txLengths[i] = length
  }

  flush(): void {
    for (let i = 0; i < this.txCount; i++) {
      const delivered = this.peer !== null && this.peer.deliver(this.txBuffers[i]!, this.txOffsets[i]!, this.txLengths[i]!)
      if (delivered) {
        this.counters[IO_TX_FRAMES]++
        this.counters[IO_TX_BYTES] += this.txLengths[i]!
      } else {
        this.counters[IO_TX_ERRORS]++
      }
      this.txBuffers[i] = null
    }
    this.txCount = 0
  }

  /** Puts a frame in this port's receive queue (as if the wire delivered it). */
  deliver(buffer: Buffer, offset: number, length: number): boolean {
    if (length > this.slotSize - RX_HEADROOM) {
      this.counters[IO_RX_TRUNCATED]++
      return true
    }
    if (this.queueCount === this.queueCapacity) return false
    const q = (this.queueHead + this.queueCount) % this.queueCapacity
    buffer.copy(this.queue, q * this.slotSize, offset, offset + length)
    this.queueLengths[q] = length
    this.queueCount++
    return true
  }

  pending(): number {
    return this.queueCount
  }

  close(): void {
    this.queueCount = 0
    this.txCount = 0
  }
}
