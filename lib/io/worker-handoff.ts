import { hashMod } from '../hash/hash-mod'
import { RX_HEADROOM, type FramePort } from './frame-port'
import { FragmentOwners } from './fragment-owners'
import { HandoffRing } from './handoff-ring'
import { IO_HANDOFF_DROPS, IO_HANDOFFS_IN, IO_HANDOFFS_OUT } from './io-counters'
import * as c from './libc'
import { createWakeFd, drainWakeFd, signalWakeFd } from './wake-fd'
import { STEER_FIRST_FRAGMENT, STEER_KEY, STEER_LATER_FRAGMENT, SteeringKey } from './steering-key'
import type { Frontend } from './fanout-program'

/**
 * The shared part of the handoff between workers, made once by the main
 * thread: ring (i → j) for every ordered pair and one eventfd per worker to
 * wake it. Both outlive a worker, so its replacement takes over its rings.
 */
export interface HandoffShared {
  workerCount: number
  /** rings[from * workerCount + to]; null on the diagonal. */
  rings: (SharedArrayBuffer | null)[]
  slots: number
  frameBytes: number
  /** eventfd of each worker (readable when frames wait in its inbox). */
  wakeFds: number[]
}

/** Ring slots per pair: fewer when there are many workers (memory grows with the square). */
export function handoffSlots(workerCount: number): number {
  return workerCount <= 4 ? 256 : workerCount <= 16 ? 64 : 16
}

export function createHandoffShared(workerCount: number, frameBytes: number): HandoffShared {
  const slots = handoffSlots(workerCount)
  const rings: (SharedArrayBuffer | null)[] = []
  for (let from = 0; from < workerCount; from++) {
    for (let to = 0; to < workerCount; to++) rings.push(from === to ? null : HandoffRing.create(slots, frameBytes))
  }
  const wakeFds: number[] = []
  try {
    for (let i = 0; i < workerCount; i++) wakeFds.push(createWakeFd())
  } catch (error) {
    for (const open of wakeFds) c.close(open)
    throw error
  }
  return { workerCount, rings, slots, frameBytes, wakeFds }
}

export function closeHandoffShared(shared: HandoffShared): void {
  for (const fd of shared.wakeFds) c.close(fd)
  shared.wakeFds.length = 0
}

/**
 * One worker's side of the handoff ("second chance", as GLB's director does
 * it between servers): `route()` decides for each frame the kernel gave this
 * worker whether another worker owns it (steering-key.ts) and, if so, copies
 * it into that worker's ring instead of processing it. The worker's inbox is
 * a receive-only FramePort (its fd is the worker's eventfd) that the
 * forwarding loop polls like its sockets; frames from it are processed
 * without a second check, so a frame moves at most once.
 */
export class WorkerHandoff implements FramePort {
  readonly name = 'handoff'
  readonly fd: number
  readonly batchSize: number
  readonly rxBuffer: Buffer
  readonly rxOffsets: Int32Array
  readonly rxLengths: Int32Array

  readonly steering = new SteeringKey()
  private readonly owners = new FragmentOwners()
  private readonly index: number
  private readonly workerCount: number
  private readonly outgoing: (HandoffRing | null)[]
  private readonly incoming: (HandoffRing | null)[]
  private readonly wakeFds: readonly number[]
  /** pendingWake[i] = 1: frames were handed to worker i since the last wake(). */
  private readonly pendingWake: Uint8Array
  private anyPending = false
  private readonly drained = Buffer.alloc(8)
  private readonly slotSize: number
  private readonly counters: Float64Array
  private now = 0
  private next = 0

  constructor(shared: HandoffShared, index: number, batchSize: number, slotSize: number, counters: Float64Array) {
    this.index = index
    this.workerCount = shared.workerCount
    this.batchSize = batchSize
    this.slotSize = slotSize
    this.counters = counters
    this.fd = shared.wakeFds[index]!
    this.wakeFds = shared.wakeFds
    this.outgoing = []
    this.incoming = []
    for (let other = 0; other < shared.workerCount; other++) {
      const out = shared.rings[index * shared.workerCount + other] ?? null
      const inbound = shared.rings[other * shared.workerCount + index] ?? null
      this.outgoing.push(out === null ? null : new HandoffRing(out, shared.slots, shared.frameBytes))
      this.incoming.push(inbound === null ? null : new HandoffRing(inbound, shared.slots, shared.frameBytes))
    }
    this.rxBuffer = Buffer.alloc(batchSize * slotSize)
    this.rxOffsets = new Int32Array(batchSize)
    this.rxLengths = new Int32Array(batchSize)
    this.pendingWake = new Uint8Array(shared.workerCount)
  }

  /** The frontends of the snapshot this worker runs (see SteeringKey.setFrontends). */
  setFrontends(frontends: readonly Frontend[], withTable: boolean): void {
    this.steering.setFrontends(frontends, withTable)
  }

  /** The batch's clock (fragment owners age by it). */
  setNow(nowSeconds: number): void {
    this.now = nowSeconds
  }

  /**
   * True when the frame belongs to another worker and was handed to it (or
   * dropped and counted because that worker's ring is full); false: process it here.
   */
  route(buf: Buffer, off: number, len: number): boolean {
    const steering = this.steering
    const kind = steering.classify(buf, off, len)
    let owner: number
    if (kind === STEER_KEY) {
      owner = hashMod(steering.key, this.workerCount)
    } else if (kind === STEER_FIRST_FRAGMENT) {
      owner = hashMod(steering.key, this.workerCount)
      this.owners.remember(steering.fragmentScope, steering.fragmentSrc, steering.fragmentDst, steering.fragmentId, owner, this.now)
    } else if (kind === STEER_LATER_FRAGMENT) {
      owner = this.owners.ownerOf(steering.fragmentScope, steering.fragmentSrc, steering.fragmentDst, steering.fragmentId, this.now)
      // A later fragment before its first one: the engine here counts it (no fragment state).
      if (owner < 0) return false
    } else {
      return false
    }
    if (owner === this.index) return false
    if (this.outgoing[owner]!.push(buf, off, len)) {
      this.counters[IO_HANDOFFS_OUT]++
      this.pendingWake[owner] = 1
      this.anyPending = true
    } else {
      this.counters[IO_HANDOFF_DROPS]++
    }
    return true
  }

  /** After a batch: wakes each worker that was handed frames (one eventfd write each). */
  wake(): void {
    if (!this.anyPending) return
    this.anyPending = false
    for (let i = 0; i < this.workerCount; i++) {
      if (this.pendingWake[i] === 0) continue
      this.pendingWake[i] = 0
      signalWakeFd(this.wakeFds[i]!)
    }
  }

  /** The inbox: frames other workers handed over, up to a batch, round robin over the rings. */
  receive(): number {
    drainWakeFd(this.fd, this.drained)
    let count = 0
    const n = this.workerCount
    for (let k = 0; k < n && count < this.batchSize; k++) {
      const from = (this.next + k) % n
      const ring = this.incoming[from]
      if (ring === null || ring === undefined) continue
      while (count < this.batchSize) {
        const at = count * this.slotSize + RX_HEADROOM
        const len = ring.pop(this.rxBuffer, at)
        if (len < 0) break
        this.rxOffsets[count] = at
        this.rxLengths[count] = len
        count++
      }
    }
    this.next = (this.next + 1) % n
    this.counters[IO_HANDOFFS_IN] += count
    return count
  }

  send(): void {
    throw new Error('the handoff inbox only receives')
  }

  flush(): void {}

  pending(): number {
    let total = 0
    for (const ring of this.incoming) if (ring !== null) total += ring.size()
    return total
  }

  /** The eventfd and rings belong to the main thread. */
  close(): void {}
}
