import { ErrorCodes, NvlbError } from '../errors'
import { DEFAULT_BATCH_SIZE, DEFAULT_SLOT_SIZE, FramePort, RX_HEADROOM } from './frame-port'
import { IO_KERNEL_DROPS, IO_RX_BYTES, IO_RX_ERRORS, IO_RX_FRAMES, IO_RX_TRUNCATED, IO_TX_BYTES, IO_TX_ERRORS, IO_TX_FRAMES, ioCounters } from './io-counters'
import * as c from './libc'
import { MmsgSender } from './mmsg-sender'

/**
 * AF_PACKET memory-mapped rings (TPACKET_V2, Documentation/networking/packet_mmap.rst):
 * a frame-based receive ring and a frame-based send ring, mapped once. Offsets below are
 * those of the kernel's structs on LP64 (linux/if_packet.h).
 *
 * Why V2 and not V3: a TPACKET_V3 receive ring hands frames over a block at a time, and
 * wakes the reader only when a block is full or its retire timer (at least 1 ms) fires,
 * so at ordinary rates every pass through nvlb waited up to a millisecond (measured on a
 * veth: one frame, send → received, p50 1,034 µs with V3 against 23 µs with recvmmsg).
 * V2 marks each frame as it is written and wakes the reader at once; frames are still
 * read in place and handed back in batches.
 */

/** struct tpacket2_hdr */
const FRAME_STATUS = 0
const FRAME_LEN = 4
const FRAME_SNAPLEN = 8
const FRAME_MAC = 12
/** TPACKET2_HDRLEN − sizeof(struct sockaddr_ll): where a send frame's bytes start (no PACKET_TX_HAS_OFF). */
const TX_DATA_OFFSET = 32
/** Where the kernel puts a received frame's network header: TPACKET_ALIGN(TPACKET2_HDRLEN + 16), before PACKET_RESERVED. */
const RX_NETWORK_OFFSET = 80

/** Receive-ring status bits (tp_status). */
const TP_STATUS_KERNEL = 0
const TP_STATUS_USER = 1
/** The frame was longer than the space the ring had for it (snaplen < len). */
const TP_STATUS_COPY = 2
/** Send-ring status values. */
const TP_STATUS_AVAILABLE = 0
const TP_STATUS_SEND_REQUEST = 1
const TP_STATUS_WRONG_FORMAT = 4

const PAGE_SIZE = 4096
const FRAME_ALIGN = 16

/** Where a port's position in its rings lives, so a worker's replacement continues where it stopped. */
const RING_STATE_RX_NEXT = 0
/** Frames read by the last receive() that may still be in use: from, count. */
const RING_STATE_RX_RELEASE_FROM = 1
const RING_STATE_RX_RELEASING = 2
const RING_STATE_TX_FRAME = 3
const RING_STATE_WORDS = 4

export interface PacketRingOptions {
  /** Receive ring frames (default 4096); each holds one frame of up to slotSize bytes. */
  rxFrames?: number
  /** Bytes per receive block, a multiple of the page size (default 64 KiB); frames do not cross blocks. */
  rxBlockSize?: number
  /** Send ring frames (default 512). */
  txFrames?: number
  /**
   * Send through a TX ring too (default false: sendmmsg straight from where the frame lies,
   * which bench io-micro and bench wire measured cheaper on veth; see PacketRingPort).
   */
  sendRing?: boolean
  /** Largest frame either way (as the recvmmsg port's slot, RX_HEADROOM included). */
  slotSize?: number
}

/** The shape of a socket's rings, as set up by setupPacketRings (structured-clonable: handed to workers). */
export interface PacketRingLayout {
  rxFrameSize: number
  rxBlockSize: number
  rxBlocks: number
  rxFrames: number
  txFrameSize: number
  txBlockSize: number
  txFrames: number
  /** Frames longer than this are dropped and counted (IO_RX_TRUNCATED), as by the recvmmsg port. */
  maxFrame: number
  mapLength: number
  /** RING_STATE_* words (Int32Array over a SharedArrayBuffer). */
  state: SharedArrayBuffer
}

/** Frame i of a ring of `frameSize` frames in blocks of `blockSize` bytes starting at `base` (frames do not cross blocks). */
function frameOffsets(base: number, blockSize: number, frameSize: number, frames: number): Int32Array {
  const perBlock = Math.floor(blockSize / frameSize)
  const at = new Int32Array(frames)
  for (let i = 0; i < frames; i++) at[i] = base + Math.floor(i / perBlock) * blockSize + (i % perBlock) * frameSize
  return at
}

function ringShape(blockSize: number, frameSize: number, wanted: number): { blocks: number; frames: number } {
  const perBlock = Math.floor(blockSize / frameSize)
  const blocks = Math.max(1, Math.ceil(wanted / perBlock))
  return { blocks, frames: blocks * perBlock }
}

/**
 * Puts a bound AF_PACKET socket on TPACKET_V2 with a receive and a send ring (before it joins a
 * fanout group: setting up a ring re-registers the socket, which would move it in the group).
 * Throws when the kernel refuses (the caller falls back to recvmmsg/sendmmsg); the socket
 * then has no ring.
 */
export function setupPacketRings(fd: number, interfaceName: string, options: PacketRingOptions = {}): PacketRingLayout {
  const slotSize = options.slotSize ?? DEFAULT_SLOT_SIZE
  const maxFrame = slotSize - RX_HEADROOM
  const rxFrameSize = Math.ceil((RX_NETWORK_OFFSET + RX_HEADROOM + maxFrame) / FRAME_ALIGN) * FRAME_ALIGN
  const rxBlockSize = options.rxBlockSize ?? Math.max(64 * 1024, Math.ceil(rxFrameSize / PAGE_SIZE) * PAGE_SIZE)
  if (rxBlockSize % PAGE_SIZE !== 0 || rxBlockSize < rxFrameSize) {
    throw new NvlbError(ErrorCodes.SOCKET_SETUP, `receive block size ${rxBlockSize} must be a multiple of ${PAGE_SIZE} and hold a ${rxFrameSize}-byte frame`)
  }
  const rx = ringShape(rxBlockSize, rxFrameSize, options.rxFrames ?? 4096)
  const sendRing = options.sendRing ?? false
  const txFrameSize = sendRing ? Math.ceil((TX_DATA_OFFSET + slotSize) / FRAME_ALIGN) * FRAME_ALIGN : 0
  const txBlockSize = sendRing ? Math.ceil((txFrameSize * 16) / PAGE_SIZE) * PAGE_SIZE : 0
  const tx = sendRing ? ringShape(txBlockSize, txFrameSize, options.txFrames ?? 512) : { blocks: 0, frames: 0 }

  setInt(fd, c.PACKET_VERSION, c.TPACKET_V2, 'PACKET_VERSION (TPACKET_V2)', interfaceName)
  // Room in front of every received frame for the headers the engine prepends.
  setInt(fd, c.PACKET_RESERVED, RX_HEADROOM, 'PACKET_RESERVED', interfaceName)
  // A malformed send frame is marked TP_STATUS_WRONG_FORMAT and skipped instead of stopping the ring.
  setInt(fd, c.PACKET_LOSS, 1, 'PACKET_LOSS', interfaceName)
  // Sends are charged to the send buffer until the peer lets go of them: room for a whole ring's worth.
  const sndbuf = Buffer.alloc(4)
  sndbuf.writeInt32LE(Math.max(8 << 20, tx.frames * 16 * 1024))
  if (c.setsockopt(fd, c.SOL_SOCKET, c.SO_SNDBUFFORCE, sndbuf, 4) < 0) c.setsockopt(fd, c.SOL_SOCKET, c.SO_SNDBUF, sndbuf, 4)
  const rxRequest = request(rxBlockSize, rx.blocks, rxFrameSize, rx.frames)
  if (c.setsockopt(fd, c.SOL_PACKET, c.PACKET_RX_RING, rxRequest, rxRequest.length) < 0) throw ringError('PACKET_RX_RING', interfaceName)
  const txRequest = request(txBlockSize, tx.blocks, txFrameSize, tx.frames)
  if (sendRing && c.setsockopt(fd, c.SOL_PACKET, c.PACKET_TX_RING, txRequest, txRequest.length) < 0) {
    const error = ringError('PACKET_TX_RING', interfaceName)
    // Asked for both and the send ring refused: no receive ring either (the fallback is recvmmsg/sendmmsg).
    const none = request(0, 0, 0, 0)
    c.setsockopt(fd, c.SOL_PACKET, c.PACKET_RX_RING, none, none.length)
    throw error
  }
  return {
    rxFrameSize,
    rxBlockSize,
    rxBlocks: rx.blocks,
    rxFrames: rx.frames,
    txFrameSize,
    txBlockSize,
    txFrames: tx.frames,
    maxFrame,
    mapLength: rxBlockSize * rx.blocks + txBlockSize * tx.blocks,
    state: newRingState(),
  }
}

export interface PacketRingPortOptions {
  interfaceName: string
  /** The socket (bound, rings set up by setupPacketRings); close() leaves it open unless `ownsSocket`. */
  fd: number
  layout: PacketRingLayout
  batchSize?: number
  counters?: Float64Array
  ownsSocket?: boolean
}

/**
 * A FramePort on the rings of one AF_PACKET socket. Receive: the ring is mapped once and
 * `rxBuffer` is a view of it (koffi.view), so frames are handed to the engine where the
 * kernel wrote them (behind PACKET_RESERVED bytes of headroom); the frames of a batch go
 * back to the kernel on the next receive() (their outputs were sent by then).
 * Send, by default: sendmmsg with iovecs pointing where each frame lies (mostly in the
 * receive ring, encapsulated in place), one call per batch, no copy in user space. With
 * `sendRing`: each frame is copied once into the next free frame of the send ring and
 * marked; flush() kicks the kernel with one sendto() for the whole batch; a full send ring
 * drops and counts (IO_TX_ERRORS), as does a frame the kernel rejected
 * (TP_STATUS_WRONG_FORMAT). On veth the kernel builds one skb per frame either way, and
 * from the send ring it is a paged skb that the bridge and the receiving socket pull and
 * copy again: sendmmsg measured cheaper (bench io-micro, bench wire).
 * Receive-ring overruns are the kernel's drops (PACKET_STATISTICS, IO_KERNEL_DROPS).
 * Per batch: no allocation and one FFI call to send (none when idle).
 */
export class PacketRingPort implements FramePort {
  readonly name: string
  readonly fd: number
  readonly batchSize: number
  readonly rxBuffer: Buffer
  readonly rxOffsets: Int32Array
  readonly rxLengths: Int32Array
  readonly counters: Float64Array
  readonly layout: PacketRingLayout

  private readonly map: unknown
  private readonly words: Int32Array
  private readonly state: Int32Array
  private readonly ownsSocket: boolean
  /** Where each receive and send frame starts in the mapping. */
  private readonly rxFrameAt: Int32Array
  private readonly txFrameAt: Int32Array
  /** Receive: the next frame to look at. */
  private rxNext: number
  /** Frames releaseFrom … releaseFrom + releasing − 1 were read; the next receive() releases them. */
  private releaseFrom: number
  private releasing: number
  private txHead: number
  private txQueued = 0
  private txQueuedBytes = 0
  private closed = false
  /** Without a send ring: sendmmsg from where the frames lie (the mapped receive ring, mostly). */
  private readonly sender: MmsgSender | null

  constructor(options: PacketRingPortOptions) {
    this.name = options.interfaceName
    this.fd = options.fd
    this.layout = options.layout
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    this.counters = options.counters ?? ioCounters()
    this.ownsSocket = options.ownsSocket ?? false
    const length = this.layout.mapLength
    const map = c.mmap(null, length, c.PROT_READ | c.PROT_WRITE, c.MAP_SHARED | c.MAP_POPULATE, this.fd, 0)
    // MAP_FAILED is (void *) −1.
    if (map === null || c.pointerAddress(map) >= 2 ** 63) {
      throw ringError('mmap of the packet rings', this.name)
    }
    this.map = map
    const memory = c.viewOf(map, length)
    this.rxBuffer = Buffer.from(memory, 0, length)
    this.words = new Int32Array(memory, 0, length >> 2)
    this.state = new Int32Array(this.layout.state)
    const layout = this.layout
    this.rxFrameAt = frameOffsets(0, layout.rxBlockSize, layout.rxFrameSize, layout.rxFrames)
    this.txFrameAt = frameOffsets(layout.rxBlockSize * layout.rxBlocks, layout.txBlockSize, layout.txFrameSize, layout.txFrames)
    // Where the previous port on this socket (a worker that died) stopped.
    this.rxNext = Atomics.load(this.state, RING_STATE_RX_NEXT)
    this.releaseFrom = Atomics.load(this.state, RING_STATE_RX_RELEASE_FROM)
    this.releasing = Atomics.load(this.state, RING_STATE_RX_RELEASING)
    this.txHead = Atomics.load(this.state, RING_STATE_TX_FRAME)
    this.rxOffsets = new Int32Array(this.batchSize)
    this.rxLengths = new Int32Array(this.batchSize)
    this.sender = layout.txFrames === 0 ? new MmsgSender(this.fd, this.batchSize, this.counters, this.rxBuffer, c.pointerAddress(map)) : null
  }

  receive(): number {
    const words = this.words
    const frames = this.layout.rxFrames
    const frameAt = this.rxFrameAt
    // The frames the last receive() handed out were processed and sent (copied into the
    // send ring) by now, so the kernel may refill them.
    for (let k = 0; k < this.releasing; k++) {
      const i = this.releaseFrom + k
      Atomics.store(words, (frameAt[i < frames ? i : i - frames]! + FRAME_STATUS) >> 2, TP_STATUS_KERNEL)
    }
    this.releasing = 0
    this.releaseFrom = this.rxNext
    const maxFrame = this.layout.maxFrame
    let kept = 0
    let bytes = 0
    let truncated = 0
    // Never past the frames already handed out in this batch: they stay the user's until the next receive().
    const most = this.batchSize < frames ? this.batchSize : frames
    while (this.releasing < most) {
      const frame = frameAt[this.rxNext]!
      const w = frame >> 2
      const status = Atomics.load(words, w + (FRAME_STATUS >> 2))
      if ((status & TP_STATUS_USER) === 0) break
      const snaplen = words[w + (FRAME_SNAPLEN >> 2)]!
      if ((status & TP_STATUS_COPY) !== 0 || snaplen > maxFrame || words[w + (FRAME_LEN >> 2)]! !== snaplen) {
        truncated++
      } else {
        this.rxOffsets[kept] = frame + (words[w + (FRAME_MAC >> 2)]! & 0xffff)
        this.rxLengths[kept] = snaplen
        bytes += snaplen
        kept++
      }
      this.releasing++
      this.rxNext = this.rxNext + 1 === frames ? 0 : this.rxNext + 1
    }
    if (truncated > 0) this.counters[IO_RX_TRUNCATED] += truncated
    this.counters[IO_RX_FRAMES] += kept
    this.counters[IO_RX_BYTES] += bytes
    return kept
  }

  send(buffer: Buffer, offset: number, length: number): void {
    if (this.sender !== null) {
      this.sender.send(buffer, offset, length)
      return
    }
    const frameSize = this.layout.txFrameSize
    if (length > frameSize - TX_DATA_OFFSET) {
      this.counters[IO_TX_ERRORS]++
      return
    }
    const frame = this.txFrameAt[this.txHead]!
    const statusWord = (frame + FRAME_STATUS) >> 2
    let status = Atomics.load(this.words, statusWord)
    if (status !== TP_STATUS_AVAILABLE && status !== TP_STATUS_WRONG_FORMAT) {
      // The ring is full of frames the kernel has not sent yet: push them, look again.
      this.flush()
      status = Atomics.load(this.words, statusWord)
      if (status !== TP_STATUS_AVAILABLE && status !== TP_STATUS_WRONG_FORMAT) {
        this.counters[IO_TX_ERRORS]++
        return
      }
    }
    // A frame the kernel refused earlier: counted when its slot comes round again.
    if (status === TP_STATUS_WRONG_FORMAT) this.counters[IO_TX_ERRORS]++
    buffer.copy(this.rxBuffer, frame + TX_DATA_OFFSET, offset, offset + length)
    const w = frame >> 2
    this.words[w + (FRAME_LEN >> 2)] = length
    this.words[w + (FRAME_SNAPLEN >> 2)] = length
    Atomics.store(this.words, statusWord, TP_STATUS_SEND_REQUEST)
    this.txHead = this.txHead + 1 === this.layout.txFrames ? 0 : this.txHead + 1
    this.txQueued++
    this.txQueuedBytes += length
  }

  flush(): void {
    this.saveState()
    if (this.sender !== null) {
      this.sender.flush()
      return
    }
    const count = this.txQueued
    if (count === 0) return
    this.txQueued = 0
    const bytes = this.txQueuedBytes
    this.txQueuedBytes = 0
    for (;;) {
      const n = c.sendto(this.fd, null, 0, c.MSG_DONTWAIT, null, 0)
      if (n >= 0) break
      const code = c.errno()
      if (code === c.ERRNO.EINTR) continue
      // EAGAIN/ENOBUFS: the frames stay queued in the ring and go with the next kick.
      if (code === c.ERRNO.EAGAIN || code === c.ERRNO.ENOBUFS) break
      this.counters[IO_TX_ERRORS] += count
      return
    }
    this.counters[IO_TX_FRAMES] += count
    this.counters[IO_TX_BYTES] += bytes
  }

  pending(): number {
    return -1
  }

  /** Adds the kernel's drops since the last call (a full receive ring) to the counters (PACKET_STATISTICS). */
  collectKernelDrops(): number {
    const drops = c.packetDropsSinceLastRead(this.fd)
    if (drops < 0) {
      this.counters[IO_RX_ERRORS]++
      return 0
    }
    this.counters[IO_KERNEL_DROPS] += drops
    return drops
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.flush()
    c.munmap(this.map, this.layout.mapLength)
    if (this.ownsSocket) c.close(this.fd)
  }

  /** After each batch: the rings' positions, for a port that takes over this socket. */
  private saveState(): void {
    const state = this.state
    state[RING_STATE_RX_NEXT] = this.rxNext
    state[RING_STATE_RX_RELEASE_FROM] = this.releaseFrom
    state[RING_STATE_RX_RELEASING] = this.releasing
    Atomics.store(state, RING_STATE_TX_FRAME, this.txHead)
  }

}

function newRingState(): SharedArrayBuffer {
  return new SharedArrayBuffer(RING_STATE_WORDS * 4)
}

function request(blockSize: number, blocks: number, frameSize: number, frames: number): Buffer {
  // struct tpacket_req
  const b = Buffer.alloc(16)
  b.writeUInt32LE(blockSize, 0)
  b.writeUInt32LE(blocks, 4)
  b.writeUInt32LE(frameSize, 8)
  b.writeUInt32LE(frames, 12)
  return b
}

function setInt(fd: number, name: number, value: number, what: string, interfaceName: string): void {
  const b = Buffer.alloc(4)
  b.writeInt32LE(value)
  if (c.setsockopt(fd, c.SOL_PACKET, name, b, 4) < 0) throw ringError(what, interfaceName)
}

function ringError(what: string, interfaceName: string): NvlbError {
  const code = c.errno()
  return new NvlbError(ErrorCodes.SOCKET_SETUP, `${what} on ${interfaceName} failed: ${c.strerror(code)}`, undefined, 500)
}
