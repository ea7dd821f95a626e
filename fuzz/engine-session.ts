/**
 * Engine.process driven the way a port drives it (frame at HEADROOM in its slot, the frame
 * rewritten in place plus the transmit queue), with every emitted frame checked against the
 * invariants. A fuzz input is a short sequence of frames, each with a control byte:
 *
 *   [control][length, 16 bits big-endian][frame bytes] ...   (at most MAX_FRAMES frames)
 *
 * control bit 7 set: the clock moves (control & 0x7f) × 2 seconds (and the engine ticks)
 * before the frame. A session starts with the same warm-up frames every time (flows of both
 * tenants through public and CA VIPs), so single frames can hit existing flows.
 *
 * The engine class is a parameter: the fuzzer passes its instrumented copy, the regression
 * tests the ordinary one.
 */
import type { Engine as EngineType } from '../lib/dataplane/engine'
import type { Snapshot } from '../lib/dataplane/snapshot'
import { Invariants, type Violation } from './invariants'
import { fromAppTier, fromClient, replyTo } from '../test/helpers/engine-harness'

export const MAX_FRAMES = 8
export const HEADROOM = 64
const SLOT = 2048 + HEADROOM
const VERDICT_DROP = 0
const VERDICT_TX = 1
const VERDICT_CONSUMED = 2

export interface FrameRecord {
  control: number
  frame: Uint8Array
}

export function encodeFrames(records: readonly FrameRecord[]): Uint8Array {
  let n = 0
  for (const r of records) n += 3 + r.frame.length
  const out = new Uint8Array(n)
  let p = 0
  for (const r of records) {
    out[p] = r.control & 0xff
    out[p + 1] = (r.frame.length >>> 8) & 0xff
    out[p + 2] = r.frame.length & 0xff
    out.set(r.frame, p + 3)
    p += 3 + r.frame.length
  }
  return out
}

export function decodeFrames(input: Uint8Array, max = MAX_FRAMES): FrameRecord[] {
  const out: FrameRecord[] = []
  let p = 0
  while (p + 3 <= input.length && out.length < max) {
    const control = input[p]!
    const n = Math.min((input[p + 1]! << 8) | input[p + 2]!, input.length - p - 3, SLOT - HEADROOM)
    out.push({ control, frame: input.subarray(p + 3, p + 3 + n) })
    p += 3 + n
  }
  return out
}

/** The warm-up: a flow per VIP of both tenants, with the backend's answer, as properties.test.ts sets them up. */
export function warmUpFrames(send: (frame: Uint8Array) => Uint8Array | null): void {
  const first: [Uint8Array, number | undefined][] = [
    [fromClient({ sport: 61000 }), undefined],
    [fromAppTier({ vsid: 5002, sport: 62000 }), 5002],
    [fromAppTier({ vsid: 6002, sport: 62001, vmMac: '00:15:5d:02:05:20' }), 6002],
    [fromClient({ sport: 61001, vip: '203.0.113.20' }), undefined],
  ]
  for (const [f, vsid] of first) {
    const out = send(f)
    if (out !== null) send(replyTo(Buffer.from(out), vsid === undefined ? {} : { vsid }))
  }
}

type EngineClass = new (options: { maxFlows?: number; extraSlots?: number }) => EngineType

export class EngineSession {
  readonly engine: EngineType
  private readonly slot = new Uint8Array(SLOT)
  private now = 1000
  /** Frames processed since the session started (warm-up included). */
  frames = 0

  constructor(EngineCtor: EngineClass, snapshot: Snapshot, private readonly invariants: Invariants) {
    // A small flow table: eviction is part of what gets exercised.
    this.engine = new EngineCtor({ maxFlows: 512, extraSlots: 16 })
    this.engine.adopt(snapshot)
    this.engine.tick(this.now)
    warmUpFrames((f) => {
      this.feed(0, f)
      return this.lastOut
    })
  }

  private lastOut: Uint8Array | null = null
  /** When set, feed() keeps a copy of every frame emitted (see emitted()). */
  collect = false
  private kept: Uint8Array[] = []

  /** The frames emitted since the last call (with `collect` set). */
  emitted(): Uint8Array[] {
    const out = this.kept
    this.kept = []
    return out
  }

  /** One frame; returns the first invariant it breaks. */
  feed(control: number, frame: Uint8Array): Violation | null {
    const e = this.engine
    this.frames++
    this.lastOut = null
    if ((control & 0x80) !== 0) {
      this.now += (control & 0x7f) * 2
      e.tick(this.now)
    }
    const len = Math.min(frame.length, SLOT - HEADROOM)
    const ctx = this.invariants.context(frame)
    // The slot ends where the frame ends: reading past it is reading nothing.
    const buf = this.slot.subarray(0, HEADROOM + len)
    buf.fill(0, 0, HEADROOM)
    buf.set(frame.subarray(0, len), HEADROOM)
    let verdict: number
    try {
      verdict = e.process(buf, HEADROOM, len)
    } catch (err) {
      e.extra.clear()
      const error = err as Error
      const at = (error.stack ?? '').split('\n').find((l) => l.includes('/lib/'))?.trim() ?? ''
      return { kind: 'exception', detail: `${error.name}: ${error.message} ${at.replace(/^at /, 'at ').replace(/\(.*\/(lib\/[^)]*)\)/, '($1)')}` }
    }
    let violation: Violation | null = null
    if (verdict !== VERDICT_DROP && verdict !== VERDICT_TX && verdict !== VERDICT_CONSUMED) violation = { kind: 'verdict', detail: `verdict ${verdict}` }
    if (violation === null && verdict === VERDICT_TX) {
      if (e.outOffset < 0 || e.outLength <= 0 || e.outOffset + e.outLength > buf.length) {
        violation = { kind: 'output_range', detail: `TX of [${e.outOffset}, +${e.outLength}) outside the ${buf.length}-byte slot` }
      } else {
        const out = buf.subarray(e.outOffset, e.outOffset + e.outLength)
        this.lastOut = out
        if (this.collect) this.kept.push(out.slice())
        violation = this.invariants.check(ctx, out, e.outSide)
      }
    }
    const q = e.extra
    for (let i = 0; i < q.count && violation === null; i++) {
      const out = q.buffer.subarray(q.offsets[i]!, q.offsets[i]! + q.lengths[i]!)
      if (this.lastOut === null && out.length > 0 && out[12] === 0x08 && out[13] === 0x00) this.lastOut = out
      if (this.collect) this.kept.push(out.slice())
      violation = this.invariants.check(ctx, out, q.sides[i]!)
    }
    q.clear()
    return violation
  }

  /** All frames of an input, stopping at the first violation. */
  run(records: readonly FrameRecord[]): Violation | null {
    for (const r of records) {
      const v = this.feed(r.control, r.frame)
      if (v !== null) return v
    }
    return null
  }
}
