import { ErrorCodes, NvlbError } from '../errors'
import { DEFAULT_BATCH_SIZE, DEFAULT_SLOT_SIZE, FramePort, RX_HEADROOM } from './frame-port'
import { IO_KERNEL_DROPS, IO_RX_BYTES, IO_RX_ERRORS, IO_RX_FRAMES, IO_RX_TRUNCATED, ioCounters } from './io-counters'
import * as c from './libc'
import { MmsgSender, writeAddress } from './mmsg-sender'
import { setupPacketRings, type PacketRingLayout, type PacketRingOptions } from './packet-ring'

export type FanoutMode = 'client-port' | 'hash' | 'lb' | 'cpu'

export interface FanoutOptions {
  /** 16-bit group id, the same for every member on one interface. */
  groupId: number
  mode: FanoutMode
  /** Classic BPF program (struct sock_filter[]) for mode 'client-port'. */
  program?: Buffer
}

export interface AfPacketPortOptions {
  interfaceName: string
  batchSize?: number
  /** Bytes per receive slot; a frame may use slotSize − RX_HEADROOM bytes. */
  slotSize?: number
  /** Receive frames for any destination MAC (default true). */
  promiscuous?: boolean
  fanout?: FanoutOptions
  /** Socket filter (struct sock_filter[]) attached before bind. */
  filter?: Buffer
  /** SO_RCVBUF in bytes (default 8 MiB). */
  receiveBufferBytes?: number
  /** Send straight to the driver, skipping the qdisc (PACKET_QDISC_BYPASS). */
  qdiscBypass?: boolean
  /** Where to count (a worker's I/O counters); a private array otherwise. */
  counters?: Float64Array
  /**
   * A socket opened elsewhere (openPacketSocket, by the main thread: threads
   * share the process's descriptors): used as it is, and close() leaves it open.
   */
  socket?: PacketSocket
  /**
   * openPacketSocket: memory-mapped TPACKET_V2 rings (packet-ring.ts) when the kernel
   * allows them; when it refuses, the socket stays on recvmmsg/sendmmsg and
   * PacketSocket.ringFallback says why. Default off.
   */
  rings?: boolean | PacketRingOptions
}

/** An AF_PACKET socket bound and configured by openPacketSocket(). */
export interface PacketSocket {
  fd: number
  ifindex: number
  ignoresOutgoing: boolean
  /** Its rings (a PacketRingPort reads them); null: recvmmsg/sendmmsg (AfPacketPort). */
  ring: PacketRingLayout | null
  /** Why rings were asked for and not set up. */
  ringFallback?: string
}

/**
 * Opens, configures and binds an AF_PACKET socket (fanout group, filter,
 * promiscuous mode) without the receive and send arrays of a port: the main
 * thread owns a worker's sockets this way, so they (and their place in the
 * fanout group) outlive the worker.
 */
export function openPacketSocket(options: AfPacketPortOptions): PacketSocket {
  const name = options.interfaceName
  const ifindex = c.interfaceIndex(name)
  const fd = c.socket(c.AF_PACKET, c.SOCK_RAW | c.SOCK_CLOEXEC, 0)
  if (fd < 0) throw setupError('socket(AF_PACKET)', name)
  try {
    const ring: { layout: PacketRingLayout | null; fallback?: string } = { layout: null }
    const ignoresOutgoing = configureSocket(fd, ifindex, options, ring)
    return { fd, ifindex, ignoresOutgoing, ring: ring.layout, ...(ring.fallback === undefined ? {} : { ringFallback: ring.fallback }) }
  } catch (error) {
    c.close(fd)
    throw error
  }
}

/** Replaces a socket's filter (SO_ATTACH_FILTER on an open socket swaps it atomically). */
export function setSocketFilter(fd: number, program: Buffer, interfaceName: string): void {
  attachFilter(fd, c.SOL_SOCKET, c.SO_ATTACH_FILTER, program, interfaceName)
}

/** Replaces a fanout group's steering program through any member socket (the kernel swaps it atomically). */
export function setFanoutProgram(fd: number, program: Buffer, interfaceName: string): void {
  attachFilter(fd, c.SOL_PACKET, c.PACKET_FANOUT_DATA, program, interfaceName)
}

const FANOUT_MODES: Record<FanoutMode, number> = {
  'client-port': c.PACKET_FANOUT_CBPF,
  hash: c.PACKET_FANOUT_HASH,
  lb: c.PACKET_FANOUT_LB,
  cpu: c.PACKET_FANOUT_CPU,
}

/**
 * A raw AF_PACKET socket bound to one interface, receiving with recvmmsg
 * into fixed slots and sending with sendmmsg straight from the caller's
 * buffers (iovecs point at the frame bytes: no copies on either side).
 *
 * Memory: every array the kernel reads or writes is a Buffer prepared once
 * (mmsghdr + iovec arrays for both directions); per batch only the iovec
 * base/length of the frames to send change.
 *
 * Limits: a frame longer than slotSize − RX_HEADROOM is dropped and counted
 * (IO_RX_TRUNCATED); slotSizeForMtu() sizes slots for the provider MTU. The
 * kernel strips a received 802.1Q tag into packet metadata before AF_PACKET
 * sees the frame (recvmmsg without PACKET_AUXDATA does not return it), so
 * tagged provider networks need a VLAN sub-interface as providerInterface.
 * Peers whose kernel sends with checksum/segmentation offload need
 * disableOffloads() (see offloads.ts).
 */
export class AfPacketPort implements FramePort {
  readonly name: string
  readonly fd: number
  readonly ifindex: number
  readonly batchSize: number
  readonly slotSize: number
  readonly rxBuffer: Buffer
  readonly rxOffsets: Int32Array
  readonly rxLengths: Int32Array
  readonly counters: Float64Array
  /** Whether outgoing frames are filtered by the kernel (else by the member filter). */
  readonly ignoresOutgoing: boolean

  private readonly rxMessages: Buffer
  private readonly rxMessageWords: Int32Array
  private readonly rxIovecs: Buffer
  private readonly sender: MmsgSender
  private closed = false
  private readonly ownsSocket: boolean

  constructor(options: AfPacketPortOptions) {
    this.name = options.interfaceName
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    this.slotSize = options.slotSize ?? DEFAULT_SLOT_SIZE
    if (this.slotSize < RX_HEADROOM + 64 || this.slotSize % 8 !== 0) {
      throw new NvlbError(ErrorCodes.SOCKET_SETUP, `slot size ${this.slotSize} is too small or not a multiple of 8`)
    }
    this.counters = options.counters ?? ioCounters()

    const socket = options.socket ?? openPacketSocket({ ...options, rings: false })
    if (socket.ring !== null) {
      throw new NvlbError(ErrorCodes.SOCKET_SETUP, `the socket on ${this.name} has rings: read it with a PacketRingPort`)
    }
    this.ownsSocket = options.socket === undefined
    this.fd = socket.fd
    this.ifindex = socket.ifindex
    this.ignoresOutgoing = socket.ignoresOutgoing

    const batch = this.batchSize
    this.rxBuffer = Buffer.alloc(batch * this.slotSize)
    this.rxOffsets = new Int32Array(batch)
    this.rxLengths = new Int32Array(batch)
    this.rxMessages = Buffer.alloc(batch * c.MMSGHDR_SIZE)
    this.rxMessageWords = new Int32Array(this.rxMessages.buffer, this.rxMessages.byteOffset, this.rxMessages.length / 4)
    this.rxIovecs = Buffer.alloc(batch * c.IOVEC_SIZE)
    const rxBase = c.bufferAddress(this.rxBuffer)
    const rxIovBase = c.bufferAddress(this.rxIovecs)
    for (let i = 0; i < batch; i++) {
      writeAddress(this.rxIovecs, i * c.IOVEC_SIZE, rxBase + i * this.slotSize + RX_HEADROOM)
      writeAddress(this.rxIovecs, i * c.IOVEC_SIZE + c.IOV_LEN_OFFSET, this.slotSize - RX_HEADROOM)
      writeAddress(this.rxMessages, i * c.MMSGHDR_SIZE + c.MSG_IOV_OFFSET, rxIovBase + i * c.IOVEC_SIZE)
      writeAddress(this.rxMessages, i * c.MMSGHDR_SIZE + c.MSG_IOVLEN_OFFSET, 1)
    }

    this.sender = new MmsgSender(this.fd, batch, this.counters, this.rxBuffer, rxBase)
  }

  /** Replaces the group's steering program (any member may do it; the kernel swaps it atomically). */
  setFanoutProgram(program: Buffer): void {
    setFanoutProgram(this.fd, program, this.name)
  }

  receive(): number {
    const n = c.recvmmsg(this.fd, this.rxMessages, this.batchSize, c.MSG_DONTWAIT, null)
    if (n <= 0) {
      if (n < 0) {
        const code = c.errno()
        if (code !== c.ERRNO.EAGAIN && code !== c.ERRNO.EINTR) this.counters[IO_RX_ERRORS]++
      }
      return 0
    }
    const words = this.rxMessageWords
    const stride = c.MMSGHDR_SIZE >> 2
    const flagsWord = (c.MSG_FLAGS_OFFSET >> 2)
    const lengthWord = (c.MSG_LEN_OFFSET >> 2)
    let kept = 0
    let bytes = 0
    for (let i = 0; i < n; i++) {
      const flags = words[i * stride + flagsWord]!
      const length = words[i * stride + lengthWord]!
      if ((flags & c.MSG_TRUNC) !== 0) {
        this.counters[IO_RX_TRUNCATED]++
        continue
      }
      this.rxOffsets[kept] = i * this.slotSize + RX_HEADROOM
      this.rxLengths[kept] = length
      bytes += length
      kept++
    }
    this.counters[IO_RX_FRAMES] += kept
    this.counters[IO_RX_BYTES] += bytes
    return kept
  }

  send(buffer: Buffer, offset: number, length: number): void {
    this.sender.send(buffer, offset, length)
  }

  flush(): void {
    this.sender.flush()
  }

  pending(): number {
    return -1
  }

  /** Adds the kernel's receive-queue drops since the last call to the counters (PACKET_STATISTICS). */
  collectKernelDrops(): number {
    const drops = c.packetDropsSinceLastRead(this.fd)
    if (drops < 0) return 0
    this.counters[IO_KERNEL_DROPS] += drops
    return drops
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.ownsSocket) c.close(this.fd)
  }
}

/** Socket options in the order the kernel needs them; returns whether the kernel drops our own sends. */
function configureSocket(
  fd: number,
  ifindex: number,
  options: AfPacketPortOptions,
  ring: { layout: PacketRingLayout | null; fallback?: string },
): boolean {
  const name = options.interfaceName
  const rcvbuf = int32(options.receiveBufferBytes ?? 8 << 20)
  if (c.setsockopt(fd, c.SOL_SOCKET, c.SO_RCVBUFFORCE, rcvbuf, 4) < 0) {
    c.setsockopt(fd, c.SOL_SOCKET, c.SO_RCVBUF, rcvbuf, 4)
  }
  if (options.filter !== undefined) attachFilter(fd, c.SOL_SOCKET, c.SO_ATTACH_FILTER, options.filter, name)

  const address = c.encodeStruct(c.SockaddrLl, {
    sll_family: c.AF_PACKET,
    sll_protocol: htons(c.ETH_P_ALL),
    sll_ifindex: ifindex,
    sll_hatype: 0,
    sll_pkttype: 0,
    sll_halen: 0,
    sll_addr: [0, 0, 0, 0, 0, 0, 0, 0],
  })
  if (c.bind(fd, address, address.length) < 0) throw setupError('bind', name)

  if (options.promiscuous ?? true) {
    const mreq = c.encodeStruct(c.PacketMreq, {
      mr_ifindex: ifindex,
      mr_type: c.PACKET_MR_PROMISC,
      mr_alen: 0,
      mr_address: [0, 0, 0, 0, 0, 0, 0, 0],
    })
    if (c.setsockopt(fd, c.SOL_PACKET, c.PACKET_ADD_MEMBERSHIP, mreq, mreq.length) < 0) {
      throw setupError('PACKET_ADD_MEMBERSHIP (promiscuous)', name)
    }
  }
  let ignoresOutgoing = c.setsockopt(fd, c.SOL_PACKET, c.PACKET_IGNORE_OUTGOING, int32(1), 4) === 0
  if (options.qdiscBypass === true) c.setsockopt(fd, c.SOL_PACKET, c.PACKET_QDISC_BYPASS, int32(1), 4)
  if (options.rings !== undefined && options.rings !== false) {
    // Before the fanout group: setting up a ring re-registers the socket, which would move it in the group.
    try {
      ring.layout = setupPacketRings(fd, name, { slotSize: options.slotSize, ...(options.rings === true ? {} : options.rings) })
    } catch (error) {
      ring.fallback = (error as Error).message
    }
  }

  const fanout = options.fanout
  if (fanout !== undefined) {
    const mode = FANOUT_MODES[fanout.mode]
    const id = fanout.groupId & 0xffff
    // A fanout group has its own receive hook: the per-socket PACKET_IGNORE_OUTGOING
    // does not apply to it, the group flag does (Linux ≥ 6.8).
    if (c.setsockopt(fd, c.SOL_PACKET, c.PACKET_FANOUT, int32(id | ((mode | c.PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16)), 4) === 0) {
      ignoresOutgoing = true
    } else if (c.setsockopt(fd, c.SOL_PACKET, c.PACKET_FANOUT, int32(id | (mode << 16)), 4) === 0) {
      ignoresOutgoing = false
    } else {
      throw setupError(`PACKET_FANOUT (group ${id}, ${fanout.mode})`, name)
    }
    if (fanout.mode === 'client-port') {
      if (fanout.program === undefined) throw new NvlbError(ErrorCodes.SOCKET_SETUP, 'fanout mode client-port needs a program')
      setFanoutProgram(fd, fanout.program, name)
    }
  }
  return ignoresOutgoing
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32LE(value)
  return b
}

function htons(value: number): number {
  return ((value & 0xff) << 8) | ((value >> 8) & 0xff)
}

function attachFilter(fd: number, level: number, name: number, program: Buffer, interfaceName: string): void {
  const fprog = c.encodeStruct(c.SockFprog, { len: program.length / 8, filter: BigInt(c.bufferAddress(program)) })
  if (c.setsockopt(fd, level, name, fprog, fprog.length) < 0) {
    throw setupError(name === c.PACKET_FANOUT_DATA ? 'PACKET_FANOUT_DATA (steering program)' : 'SO_ATTACH_FILTER', interfaceName)
  }
}

function setupError(what: string, interfaceName: string): NvlbError {
  const code = c.errno()
  const hint = code === c.ERRNO.EPERM ? ' (needs root or CAP_NET_RAW)' : ''
  return new NvlbError(ErrorCodes.SOCKET_SETUP, `${what} on ${interfaceName} failed: ${c.strerror(code)}${hint}`, undefined, 500)
}
