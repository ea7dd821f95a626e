import { IO_TX_BYTES, IO_TX_ERRORS, IO_TX_FRAMES } from './io-counters'
import * as c from './libc'

const U32 = 0x100000000

/**
 * Sends a socket's frames with sendmmsg straight from the caller's buffers: send() writes
 * one iovec (the frame's address and length), flush() hands the batch to the kernel in one
 * call, which copies each frame into its own skb. Nothing is copied in user space: the
 * bytes may lie in a receive slot or a memory-mapped receive ring, and must stay unchanged
 * until flush() (FramePort's contract). The message and iovec arrays are prepared once;
 * per frame only an iovec's base and length change.
 */
export class MmsgSender {
  readonly fd: number
  readonly batchSize: number
  private readonly counters: Float64Array
  private readonly messages: Buffer
  private readonly iovecWords: Uint32Array
  private readonly retained: (Buffer | null)[]
  private count = 0

  /** The buffer frames are most often sent from (the port's receive memory) and its address. */
  private readonly homeBuffer: Buffer | null
  private readonly homeAddress: number
  private cachedBuffer: Buffer | null = null
  private cachedAddress = 0
  private readonly baseAddresses = new WeakMap<ArrayBufferLike, number>()

  constructor(fd: number, batchSize: number, counters: Float64Array, homeBuffer: Buffer | null = null, homeAddress = 0) {
    this.fd = fd
    this.batchSize = batchSize
    this.counters = counters
    this.homeBuffer = homeBuffer
    this.homeAddress = homeBuffer === null ? 0 : homeAddress
    this.messages = Buffer.alloc(batchSize * c.MMSGHDR_SIZE)
    const iovecs = Buffer.alloc(batchSize * c.IOVEC_SIZE)
    this.iovecWords = new Uint32Array(iovecs.buffer, iovecs.byteOffset, iovecs.length / 4)
    this.retained = new Array<Buffer | null>(batchSize).fill(null)
    const iovecBase = c.bufferAddress(iovecs)
    for (let i = 0; i < batchSize; i++) {
      writeAddress(this.messages, i * c.MMSGHDR_SIZE + c.MSG_IOV_OFFSET, iovecBase + i * c.IOVEC_SIZE)
      writeAddress(this.messages, i * c.MMSGHDR_SIZE + c.MSG_IOVLEN_OFFSET, 1)
    }
  }

  send(buffer: Buffer, offset: number, length: number): void {
    if (this.count === this.batchSize) this.flush()
    const i = this.count++
    const address = this.addressOf(buffer) + offset
    const w = i * (c.IOVEC_SIZE >> 2)
    const words = this.iovecWords
    words[w] = address % U32
    words[w + 1] = (address / U32) >>> 0
    words[w + (c.IOV_LEN_OFFSET >> 2)] = length
    words[w + (c.IOV_LEN_OFFSET >> 2) + 1] = 0
    // Keeps a buffer that is not the port's own alive until it is sent.
    this.retained[i] = buffer
  }

  flush(): void {
    const count = this.count
    if (count === 0) return
    let sent = 0
    let failed = 0
    while (sent < count) {
      const messages = sent === 0 ? this.messages : this.messages.subarray(sent * c.MMSGHDR_SIZE)
      const n = c.sendmmsg(this.fd, messages, count - sent, 0)
      if (n > 0) {
        sent += n
        continue
      }
      const code = n < 0 ? c.errno() : 0
      if (code === c.ERRNO.EINTR) continue
      // The frame at `sent` could not go (EMSGSIZE, ENOBUFS, ENETDOWN…): drop it, try the rest.
      this.counters[IO_TX_ERRORS]++
      failed++
      this.retained[sent] = null
      sent++
    }
    let bytes = 0
    const words = this.iovecWords
    for (let i = 0; i < count; i++) {
      bytes += words[i * (c.IOVEC_SIZE >> 2) + (c.IOV_LEN_OFFSET >> 2)]!
      this.retained[i] = null
    }
    // Sent: what the kernel took (a dropped frame is a send error, not a sent frame).
    this.counters[IO_TX_FRAMES] += count - failed
    this.counters[IO_TX_BYTES] += bytes
    this.count = 0
  }

  private addressOf(buffer: Buffer): number {
    if (buffer === this.homeBuffer) return this.homeAddress
    if (buffer === this.cachedBuffer) return this.cachedAddress
    let base = this.baseAddresses.get(buffer.buffer)
    if (base === undefined) {
      base = c.bufferAddress(buffer) - buffer.byteOffset
      this.baseAddresses.set(buffer.buffer, base)
    }
    this.cachedBuffer = buffer
    this.cachedAddress = base + buffer.byteOffset
    return this.cachedAddress
  }
}

export function writeAddress(buffer: Buffer, offset: number, value: number): void {
  buffer.writeUInt32LE(value % U32, offset)
  buffer.writeUInt32LE(Math.floor(value / U32), offset + 4)
}
