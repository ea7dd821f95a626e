/**
 * A single-producer single-consumer ring of frames in a SharedArrayBuffer:
 * how one packet worker hands a frame to another (worker-handoff.ts). One
 * ring per ordered pair of workers, created by the main thread, so a
 * restarted worker picks up its rings where its predecessor left them.
 *
 * Layout: Int32 words [head, …, tail, …] (each on its own 64-byte line), then
 * `slots` slots of a 4-byte length and `frameBytes` bytes. The producer
 * copies a frame into the slot at tail and publishes it by storing tail + 1
 * (Atomics); the consumer copies it out and frees it by storing head + 1.
 * Indexes wrap as 32-bit integers; the slot count is a power of two.
 */
const HEAD = 0
const TAIL = 16
const HEADER_BYTES = 128

export class HandoffRing {
  readonly slots: number
  readonly frameBytes: number
  private readonly control: Int32Array
  private readonly lengths: Int32Array
  private readonly bytes: Buffer
  private readonly stride: number
  private readonly dataStart: number

  static byteLength(slots: number, frameBytes: number): number {
    return HEADER_BYTES + slots * (4 + frameBytes)
  }

  static create(slots: number, frameBytes: number): SharedArrayBuffer {
    if (slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError(`ring slots must be a power of two, got ${slots}`)
    return new SharedArrayBuffer(HandoffRing.byteLength(slots, frameBytes))
  }

  constructor(buffer: SharedArrayBuffer, slots: number, frameBytes: number) {
    this.slots = slots
    this.frameBytes = frameBytes
    this.control = new Int32Array(buffer, 0, HEADER_BYTES / 4)
    this.lengths = new Int32Array(buffer, HEADER_BYTES, slots)
    this.bytes = Buffer.from(buffer)
    this.stride = frameBytes
    this.dataStart = HEADER_BYTES + slots * 4
  }

  /** Frames waiting. */
  size(): number {
    return (Atomics.load(this.control, TAIL) - Atomics.load(this.control, HEAD)) | 0
  }

  /** Producer: copies the frame in; false when the ring is full or the frame too long. */
  push(buf: Buffer, off: number, len: number): boolean {
    if (len > this.frameBytes) return false
    const tail = Atomics.load(this.control, TAIL)
    if (((tail - Atomics.load(this.control, HEAD)) | 0) >= this.slots) return false
    const slot = tail & (this.slots - 1)
    buf.copy(this.bytes, this.dataStart + slot * this.stride, off, off + len)
    this.lengths[slot] = len
    Atomics.store(this.control, TAIL, (tail + 1) | 0)
    return true
  }

  /** Consumer: copies the oldest frame to target[at…]; returns its length, or −1 when empty. */
  pop(target: Buffer, at: number): number {
    const head = Atomics.load(this.control, HEAD)
    if (head === Atomics.load(this.control, TAIL)) return -1
    const slot = head & (this.slots - 1)
    const len = this.lengths[slot]!
    const from = this.dataStart + slot * this.stride
    this.bytes.copy(target, at, from, from + len)
    Atomics.store(this.control, HEAD, (head + 1) | 0)
    return len
  }
}
