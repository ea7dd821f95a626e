import type { FramePort } from './frame-port'
import { IO_BATCHES } from './io-counters'

/** Hands frames that another worker owns to it (lib/io/worker-handoff's WorkerHandoff). */
export interface FrameRouter extends FramePort {
  setNow(nowSeconds: number): void
  /** True: the frame went to another worker (do not process it here). */
  route(buf: Buffer, off: number, len: number): boolean
  /** After a batch: wake the workers that were handed frames. */
  wake(): void
}

/** What the loop needs from an engine (lib/dataplane/engine's Engine has it). */
export interface PacketEngine {
  outOffset: number
  outLength: number
  outSide: number
  readonly extra: {
    count: number
    readonly buffer: Buffer
    readonly offsets: Int32Array
    readonly lengths: Int32Array
    readonly sides: Uint8Array
    clear(): void
  }
  tick(nowSeconds: number): void
  /** Optional hint before a batch (lib/dataplane/engine warms its flow table). */
  prefetch?(buf: Buffer, offsets: Int32Array, lengths: Int32Array, count: number): void
  /** `side`: which interface the frame came in on (SIDE_PROVIDER / SIDE_EXTERNAL), SIDE_ANY when one carries both or it is not known. */
  process(buf: Buffer, off: number, len: number, side?: number): number
}

/** Engine verdicts (lib/dataplane/engine Verdict). */
export const VERDICT_TX = 1

/** Engine sides (lib/dataplane/engine Side). */
export const SIDE_PROVIDER = 0
export const SIDE_EXTERNAL = 1
export const SIDE_ANY = -1

/**
 * One batch at a time: receive from each port, run every frame through the
 * engine, queue what it sends on the port of its side, send the engine's
 * extra frames, flush. Frames sent in place point into the receive slots, so
 * every port is flushed before it receives again.
 */
export class ForwardingLoop {
  readonly engine: PacketEngine
  /** Distinct ports, in poll order: provider, external (when another), listeners, the router's inbox. */
  readonly ports: readonly FramePort[]
  private readonly router: FrameRouter | null
  /** ports[0 … routed) are the fanout members, whose frames the router checks. */
  private readonly routed: number
  private readonly providerPort: FramePort
  private readonly externalPort: FramePort
  private readonly counters: Float64Array | null
  private readonly twoInterfaces: boolean
  /** The side of each port's frames (by index in `ports`). */
  private readonly sides: Int8Array

  /**
   * `listeners` are ports only received from (every worker's ARP-reply socket, or an
   * AF_XDP worker's ARP sockets), their frames' sides in `listenerSides` (default: SIDE_ANY);
   * what the engine sends goes out on the provider or external port. With a
   * `router` (several workers), frames from the provider and external ports
   * that another worker owns go there; the router's inbox is polled last.
   */
  constructor(
    engine: PacketEngine,
    providerPort: FramePort,
    externalPort: FramePort = providerPort,
    counters: Float64Array | null = null,
    listeners: readonly FramePort[] = [],
    router: FrameRouter | null = null,
    listenerSides: readonly number[] = [],
  ) {
    this.engine = engine
    this.providerPort = providerPort
    this.externalPort = externalPort
    this.twoInterfaces = providerPort !== externalPort
    const members = providerPort === externalPort ? [providerPort] : [providerPort, externalPort]
    this.ports = [...members, ...listeners, ...(router === null ? [] : [router])]
    this.router = router
    this.routed = router === null ? 0 : members.length
    this.counters = counters
    this.sides = new Int8Array(this.ports.length).fill(SIDE_ANY)
    // With two interfaces, each side's traffic is accepted only on its own (ports[0] provider, ports[1] external).
    if (this.twoInterfaces) {
      this.sides[0] = SIDE_PROVIDER
      this.sides[1] = SIDE_EXTERNAL
    }
    for (let i = 0; i < listeners.length; i++) this.sides[members.length + i] = listenerSides[i] ?? SIDE_ANY
  }

  /**
   * Receives from the ports whose bit is set in `readyMask` (bit i = ports[i])
   * and forwards everything; returns the largest count one port delivered
   * (equal to that port's batchSize: more is probably waiting).
   */
  runBatch(nowSeconds: number, readyMask: number): number {
    const engine = this.engine
    const router = this.router
    engine.tick(nowSeconds)
    if (router !== null) router.setNow(nowSeconds)
    let most = 0
    for (let p = 0; p < this.ports.length; p++) {
      if ((readyMask & (1 << p)) === 0) continue
      const port = this.ports[p]!
      const n = port.receive()
      if (n > most) most = n
      if (n === 0) continue
      const buf = port.rxBuffer
      const offsets = port.rxOffsets
      const lengths = port.rxLengths
      engine.prefetch?.(buf, offsets, lengths, n)
      const check = p < this.routed
      const side = this.sides[p]!
      for (let i = 0; i < n; i++) {
        if (check && router!.route(buf, offsets[i]!, lengths[i]!)) continue
        if (engine.process(buf, offsets[i]!, lengths[i]!, side) === VERDICT_TX) {
          const out = engine.outSide === SIDE_EXTERNAL ? this.externalPort : this.providerPort
          out.send(buf, engine.outOffset, engine.outLength)
        }
      }
      this.sendExtra()
      this.flushAll()
    }
    // ARP requests and other frames the engine queued outside process() (ageing in tick).
    if (engine.extra.count > 0) {
      this.sendExtra()
      this.flushAll()
    }
    if (router !== null) router.wake()
    if (this.counters !== null) this.counters[IO_BATCHES]++
    return most
  }

  private sendExtra(): void {
    const q = this.engine.extra
    for (let i = 0; i < q.count; i++) {
      const out = q.sides[i] === SIDE_EXTERNAL ? this.externalPort : this.providerPort
      out.send(q.buffer, q.offsets[i]!, q.lengths[i]!)
    }
  }

  private flushAll(): void {
    for (let p = 0; p < this.ports.length; p++) this.ports[p]!.flush()
    // Sent (copied into kernel skbs): the extra slots can be reused.
    this.engine.extra.clear()
  }
}
