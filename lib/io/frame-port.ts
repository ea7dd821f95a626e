/**
 * A port moves raw Ethernet frames in batches. Received frames sit in
 * `rxBuffer` at `rxOffsets[i]` (always ≥ HEADROOM inside their slot, so the
 * engine may prepend headers in place), `rxLengths[i]` bytes long, until the
 * next `receive()`. `send()` queues a reference to bytes that must stay
 * unchanged until `flush()` (or until the queue fills and flushes itself).
 */
export interface FramePort {
  readonly name: string
  /** The kernel socket to poll for readability; -1 for ports that are not sockets. */
  readonly fd: number
  readonly batchSize: number
  readonly rxBuffer: Buffer
  readonly rxOffsets: Int32Array
  readonly rxLengths: Int32Array
  /** Receives up to batchSize frames without blocking; returns how many. */
  receive(): number
  send(buffer: Buffer, offset: number, length: number): void
  flush(): void
  /** Frames waiting to be read, when the port can tell (memory ports); -1 for sockets. */
  pending(): number
  close(): void
}

/** Bytes kept free in front of every received frame (engine contract: HEADROOM). */
export const RX_HEADROOM = 64

/** Slot size for frames up to 1984 bytes: a provider MTU of 1500 with room to spare. */
export const DEFAULT_SLOT_SIZE = 2048

export const DEFAULT_BATCH_SIZE = 64

/** The longest busy-polling window a packet worker takes (µs): how long it looks at its ports after the last frame before it sleeps. */
export const MAX_BUSY_POLL_US = 1_000_000

/**
 * Slot size for a provider MTU: headroom + Ethernet header + one 802.1Q tag +
 * the MTU, rounded up to 64 bytes, at least DEFAULT_SLOT_SIZE. (A larger inner
 * frame on the external side than the provider MTU would be truncated anyway.)
 */
export function slotSizeForMtu(mtu: number): number {
  const needed = RX_HEADROOM + 14 + 4 + mtu
  return Math.max(DEFAULT_SLOT_SIZE, Math.ceil(needed / 64) * 64)
}
