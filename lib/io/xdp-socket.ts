import { DEFAULT_BATCH_SIZE, RX_HEADROOM, type FramePort } from './frame-port'
import { IO_KERNEL_DROPS, IO_RX_BYTES, IO_RX_ERRORS, IO_RX_FRAMES, IO_TX_BYTES, IO_TX_ERRORS, IO_TX_FRAMES, ioCounters } from './io-counters'
import * as c from './libc'
import type { NativeResources } from './native-resources'

/**
 * An AF_XDP socket as a FramePort (Documentation/networking/af_xdp.rst): a
 * UMEM of page-sized chunks shared with the kernel, its fill and completion
 * rings, and the socket's receive and send rings, all mapped once. Half the
 * chunks are lent to the kernel for receiving (fill ring), half are ours for
 * sending. Received frames are read where the kernel wrote them and their
 * chunks go back to the fill ring on the next receive(); a sent frame is
 * copied into a free chunk, described on the send ring, and flush() kicks the
 * kernel once per batch. Frames reach the socket only through an XDP program
 * that redirects the queue to it (xdp-program.ts). Without zero-copy support
 * (veth) the kernel copies each frame into the UMEM (XDP_COPY).
 */

const AF_XDP = 44
const SOL_XDP = 283
const XDP_MMAP_OFFSETS = 1
const XDP_RX_RING = 2
const XDP_TX_RING = 3
const XDP_UMEM_REG = 4
const XDP_UMEM_FILL_RING = 5
const XDP_UMEM_COMPLETION_RING = 6
const XDP_STATISTICS = 7
const XDP_PGOFF_RX_RING = 0
const XDP_PGOFF_TX_RING = 0x80000000
const XDP_UMEM_PGOFF_FILL_RING = 0x100000000
const XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000
/** Bind flags. */
export const XDP_COPY = 2
export const XDP_ZEROCOPY = 4
/** struct xdp_desc: addr (u64), len, options: four 32-bit words. */
const DESC_WORDS = 4
const CHUNK_SIZE = 4096
/** What the kernel keeps in front of a frame in copy mode (XDP_PACKET_HEADROOM), besides our RX_HEADROOM. */
const XDP_PACKET_HEADROOM = 256
/** The longest frame a chunk holds after both headrooms. */
export const XDP_MAX_FRAME = CHUNK_SIZE - XDP_PACKET_HEADROOM - RX_HEADROOM
const MAP_PRIVATE_ANONYMOUS = 0x22
/** Kicks per flush at the most (each sends up to 32 frames in copy mode). */
const MAX_KICKS = 64

export interface XdpSocketOptions {
  interfaceName: string
  queue?: number
  /** Entries per ring (a power of two; default 2048); the UMEM holds twice as many chunks. */
  ringSize?: number
  batchSize?: number
  bindFlags?: number
  counters?: Float64Array
  /** Where the socket and its mappings are recorded while open (a packet worker's: native-resources.ts). */
  resources?: NativeResources
}

interface MappedRing {
  pointer: unknown
  length: number
  words: Uint32Array
  producer: number
  consumer: number
  /** Word index of the first descriptor. */
  desc: number
}

export class XdpSocketPort implements FramePort {
  readonly name: string
  readonly fd: number
  readonly batchSize: number
  readonly rxBuffer: Buffer
  readonly rxOffsets: Int32Array
  readonly rxLengths: Int32Array
  readonly counters: Float64Array

  private readonly ringSize: number
  private readonly mask: number
  private readonly umem: unknown
  private readonly umemLength: number
  private readonly rx: MappedRing
  private readonly tx: MappedRing
  private readonly fill: MappedRing
  private readonly completion: MappedRing
  /** Chunks handed out by the last receive(), to go back to the fill ring. */
  private readonly lent: Int32Array
  private lentCount = 0
  /** Send chunks not in flight. */
  private readonly freeTx: Int32Array
  private freeTxCount: number
  private rxConsumer = 0
  private fillProducer: number
  private txProducer = 0
  private completionConsumer = 0
  private txQueued = 0
  private txQueuedBytes = 0
  private closed = false
  private readonly resources: NativeResources | null
  /** The resources' slots of the socket and its mappings. */
  private readonly recorded: number[] = []
  /** The kernel's drop counters (struct xdp_statistics) as last read. */
  private readonly statistics = Buffer.alloc(48)
  private readonly statisticsLength = Buffer.alloc(4)
  private dropsSeen = 0

  constructor(options: XdpSocketOptions) {
    this.name = options.interfaceName
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    this.counters = options.counters ?? ioCounters()
    this.ringSize = options.ringSize ?? 2048
    this.mask = this.ringSize - 1
    if ((this.ringSize & this.mask) !== 0) throw new Error(`AF_XDP ring size ${this.ringSize} is not a power of two`)
    const ifindex = c.interfaceIndex(this.name)
    const fd = c.socket(AF_XDP, c.SOCK_RAW | c.SOCK_CLOEXEC, 0)
    if (fd < 0) throw xdpError('socket(AF_XDP)', this.name)
    this.fd = fd
    this.resources = options.resources ?? null
    if (this.resources !== null) this.recorded.push(this.resources.fd(fd))
    const chunks = this.ringSize * 2
    this.umemLength = chunks * CHUNK_SIZE
    const mapped: { pointer: unknown; length: number }[] = []
    /** A mapping made: unmapped again if the setup fails, and recorded with the resources. */
    const track = (pointer: unknown, length: number): void => {
      mapped.push({ pointer, length })
      if (this.resources !== null) this.recorded.push(this.resources.mapping(c.pointerAddress(pointer), length))
    }
    try {
      this.umem = c.mmap(null, this.umemLength, c.PROT_READ | c.PROT_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0)
      if (c.pointerAddress(this.umem) >= 2 ** 63) throw xdpError('mmap of the UMEM', this.name)
      track(this.umem, this.umemLength)
      const reg = Buffer.alloc(24)
      reg.writeBigUInt64LE(BigInt(c.pointerAddress(this.umem)), 0)
      reg.writeBigUInt64LE(BigInt(this.umemLength), 8)
      reg.writeUInt32LE(CHUNK_SIZE, 16)
      reg.writeUInt32LE(RX_HEADROOM, 20)
      if (c.setsockopt(fd, SOL_XDP, XDP_UMEM_REG, reg, reg.length) < 0) throw xdpError('XDP_UMEM_REG', this.name)
      const size = Buffer.alloc(4)
      size.writeInt32LE(this.ringSize)
      for (const ring of [XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING, XDP_RX_RING, XDP_TX_RING]) {
        if (c.setsockopt(fd, SOL_XDP, ring, size, 4) < 0) throw xdpError(`ring size (${ring})`, this.name)
      }
      const offsets = Buffer.alloc(128)
      const length = Buffer.alloc(4)
      length.writeUInt32LE(offsets.length)
      if (c.getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, offsets, length) < 0) throw xdpError('XDP_MMAP_OFFSETS', this.name)
      const map = (index: number, pageOffset: number, descBytes: number): MappedRing => {
        const at = index * 32
        const producer = Number(offsets.readBigUInt64LE(at))
        const consumer = Number(offsets.readBigUInt64LE(at + 8))
        const desc = Number(offsets.readBigUInt64LE(at + 16))
        const ringLength = desc + this.ringSize * descBytes
        const pointer = c.mmap(null, ringLength, c.PROT_READ | c.PROT_WRITE, c.MAP_SHARED | c.MAP_POPULATE, fd, pageOffset)
        if (c.pointerAddress(pointer) >= 2 ** 63) throw xdpError('mmap of an AF_XDP ring', this.name)
        track(pointer, ringLength)
        return { pointer, length: ringLength, words: new Uint32Array(c.viewOf(pointer, ringLength)), producer: producer >> 2, consumer: consumer >> 2, desc: desc >> 2 }
      }
      this.rx = map(0, XDP_PGOFF_RX_RING, 16)
      this.tx = map(1, XDP_PGOFF_TX_RING, 16)
      this.fill = map(2, XDP_UMEM_PGOFF_FILL_RING, 8)
      this.completion = map(3, XDP_UMEM_PGOFF_COMPLETION_RING, 8)
      const address = Buffer.alloc(16)
      address.writeUInt16LE(AF_XDP, 0)
      address.writeUInt16LE(options.bindFlags ?? XDP_COPY, 2)
      address.writeUInt32LE(ifindex, 4)
      address.writeUInt32LE(options.queue ?? 0, 8)
      if (c.bind(fd, address, address.length) < 0) throw xdpError('bind(AF_XDP)', this.name)
    } catch (error) {
      for (const m of mapped.reverse()) c.munmap(m.pointer, m.length)
      c.close(fd)
      this.forgetRecorded()
      throw error
    }
    this.rxBuffer = Buffer.from(c.viewOf(this.umem, this.umemLength))
    this.rxOffsets = new Int32Array(this.batchSize)
    this.rxLengths = new Int32Array(this.batchSize)
    this.lent = new Int32Array(this.batchSize)
    // Chunks 0 … ringSize − 1 to the kernel for receiving, the rest for sending.
    const fillWords = this.fill.words
    for (let i = 0; i < this.ringSize; i++) {
      fillWords[this.fill.desc + i * 2] = i * CHUNK_SIZE
      fillWords[this.fill.desc + i * 2 + 1] = 0
    }
    this.fillProducer = this.ringSize
    Atomics.store(fillWords, this.fill.producer, this.fillProducer)
    this.freeTx = new Int32Array(this.ringSize)
    for (let i = 0; i < this.ringSize; i++) this.freeTx[i] = (this.ringSize + i) * CHUNK_SIZE
    this.freeTxCount = this.ringSize
  }

  receive(): number {
    // The chunks of the last batch go back to the kernel: their frames were processed and sent.
    if (this.lentCount > 0) {
      const fill = this.fill.words
      for (let k = 0; k < this.lentCount; k++) {
        const slot = this.fill.desc + ((this.fillProducer + k) & this.mask) * 2
        fill[slot] = this.lent[k]!
        fill[slot + 1] = 0
      }
      this.fillProducer = (this.fillProducer + this.lentCount) >>> 0
      Atomics.store(fill, this.fill.producer, this.fillProducer)
      this.lentCount = 0
    }
    const words = this.rx.words
    const available = (Atomics.load(words, this.rx.producer) - this.rxConsumer) >>> 0
    const n = available < this.batchSize ? available : this.batchSize
    let bytes = 0
    for (let k = 0; k < n; k++) {
      const d = this.rx.desc + ((this.rxConsumer + k) & this.mask) * DESC_WORDS
      const address = words[d]!
      const length = words[d + 2]!
      this.rxOffsets[k] = address
      this.rxLengths[k] = length
      this.lent[k] = address - (address % CHUNK_SIZE)
      bytes += length
    }
    this.lentCount = n
    this.rxConsumer = (this.rxConsumer + n) >>> 0
    Atomics.store(words, this.rx.consumer, this.rxConsumer)
    this.counters[IO_RX_FRAMES] += n
    this.counters[IO_RX_BYTES] += bytes
    return n
  }

  send(buffer: Buffer, offset: number, length: number): void {
    if (this.freeTxCount === 0) this.reapCompletions()
    if (this.freeTxCount === 0 || length > CHUNK_SIZE) {
      this.counters[IO_TX_ERRORS]++
      return
    }
    const chunk = this.freeTx[--this.freeTxCount]!
    buffer.copy(this.rxBuffer, chunk, offset, offset + length)
    const d = this.tx.desc + ((this.txProducer + this.txQueued) & this.mask) * DESC_WORDS
    const words = this.tx.words
    words[d] = chunk
    words[d + 1] = 0
    words[d + 2] = length
    words[d + 3] = 0
    this.txQueued++
    this.txQueuedBytes += length
  }

  flush(): void {
    if (this.txQueued > 0) {
      this.txProducer = (this.txProducer + this.txQueued) >>> 0
      Atomics.store(this.tx.words, this.tx.producer, this.txProducer)
      this.counters[IO_TX_FRAMES] += this.txQueued
      this.counters[IO_TX_BYTES] += this.txQueuedBytes
      this.txQueued = 0
      this.txQueuedBytes = 0
    }
    // Copy mode sends only when kicked, and at most 32 frames per kick (the kernel's TX_BATCH_SIZE,
    // EAGAIN when more wait): kick until the ring is drained or the kernel stops taking frames.
    for (let kicks = 0; kicks < MAX_KICKS && Atomics.load(this.tx.words, this.tx.consumer) !== this.txProducer; kicks++) {
      if (c.sendto(this.fd, null, 0, c.MSG_DONTWAIT, null, 0) >= 0) continue
      const code = c.errno()
      if (code !== c.ERRNO.EAGAIN && code !== c.ERRNO.EINTR) break
    }
    this.reapCompletions()
  }

  pending(): number {
    return -1
  }

  /**
   * Frames the kernel dropped for this socket since the last call (rx_dropped: no room in the
   * UMEM or fill ring; rx_ring_full: the receive ring was full), added to IO_KERNEL_DROPS.
   */
  collectKernelDrops(): number {
    this.statisticsLength.writeUInt32LE(this.statistics.length)
    if (c.getsockopt(this.fd, SOL_XDP, XDP_STATISTICS, this.statistics, this.statisticsLength) < 0) {
      this.counters[IO_RX_ERRORS]++
      return 0
    }
    const total = Number(this.statistics.readBigUInt64LE(0) + this.statistics.readBigUInt64LE(24))
    const drops = total - this.dropsSeen
    this.dropsSeen = total
    this.counters[IO_KERNEL_DROPS] += drops
    return drops
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.flush()
    for (const ring of [this.rx, this.tx, this.fill, this.completion]) c.munmap(ring.pointer, ring.length)
    c.close(this.fd)
    c.munmap(this.umem, this.umemLength)
    this.forgetRecorded()
  }

  private forgetRecorded(): void {
    for (const slot of this.recorded) this.resources?.released(slot)
    this.recorded.length = 0
  }

  /** Send chunks the kernel is done with return to the free list. */
  private reapCompletions(): void {
    const words = this.completion.words
    const done = (Atomics.load(words, this.completion.producer) - this.completionConsumer) >>> 0
    for (let k = 0; k < done; k++) {
      this.freeTx[this.freeTxCount++] = words[this.completion.desc + ((this.completionConsumer + k) & this.mask) * 2]!
    }
    this.completionConsumer = (this.completionConsumer + done) >>> 0
    Atomics.store(words, this.completion.consumer, this.completionConsumer)
  }
}

function xdpError(what: string, interfaceName: string): Error {
  return new Error(`${what} on ${interfaceName} failed: ${c.strerror(c.errno())}`)
}
