/**
 * Engine.process driven the way a port drives it (frame at HEADROOM in its slot, the frame
 * rewritten in place plus the transmit queue), with every emitted frame checked against the
 * invariants. A fuzz input is a short sequence of frames, each with a control byte:
 *
 *   [control][length, 16 bits big-endian][frame bytes] ...   (at most MAX_FRAMES frames)
 *
 * control bit 7 set: the clock moves (control & 0x7f) × 2 seconds (and the engine ticks)
 * before the frame. Bit 6 of the first frame's control: the frames go in as one receive batch
 * (prefetch() first, as a port does), the clock stepping once before it. Bit 6 of any other
 * frame's control (outside batch mode): the engine adopts the other snapshot before the frame,
 * switching between the reference configuration and variantConfig() of it, with its flows live. A session starts with the same warm-up frames every time (flows of both
 * tenants through public and CA VIPs), so single frames can hit existing flows.
 *
 * The engine class is a parameter: the fuzzer passes its instrumented copy, the regression
 * tests the ordinary one.
 */
import type { Engine as EngineType } from '../lib/dataplane/engine'
import type { Snapshot } from '../lib/dataplane/snapshot'
import type { NvlbConfig } from '../lib/control/config-types'
import { Invariants, type InputContext, type Violation } from './invariants'
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

/** A finding that needs several inputs, in order, each run as an input of its own: "NVFZ" then [length 32 bits][input]… */
const SESSION_MAGIC = 0x4e56465a

export function encodeSession(inputs: readonly Uint8Array[]): Uint8Array {
  let n = 4
  for (const i of inputs) n += 4 + i.length
  const out = new Uint8Array(n)
  const v = new DataView(out.buffer)
  v.setUint32(0, SESSION_MAGIC)
  let p = 4
  for (const i of inputs) {
    v.setUint32(p, i.length)
    out.set(i, p + 4)
    p += 4 + i.length
  }
  return out
}

/** The inputs of a session file, or the input itself as the one input. */
export function decodeSession(bytes: Uint8Array): Uint8Array[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 4 || v.getUint32(0) !== SESSION_MAGIC) return [bytes]
  const out: Uint8Array[] = []
  for (let p = 4; p + 4 <= bytes.length; ) {
    const n = Math.min(v.getUint32(p), bytes.length - p - 4)
    out.push(bytes.subarray(p + 4, p + 4 + n))
    p += 4 + n
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

/** The loop-iteration budget of instrumented code (fuzz/instrument.ts), when it is loaded. */
function resetSteps(): void {
  const steps = (globalThis as Record<string, unknown>).__nvlbFuzzSteps as Int32Array | undefined
  if (steps === undefined) return
  steps[0] = 0
  steps[1] = 1
}

function disarmSteps(): void {
  const steps = (globalThis as Record<string, unknown>).__nvlbFuzzSteps as Int32Array | undefined
  if (steps !== undefined) steps[1] = 0
}

function exception(err: unknown): Violation {
  const error = err as Error
  const at = (error.stack ?? '').split('\n').find((l) => l.includes('/lib/'))?.trim() ?? ''
  return { kind: 'exception', detail: `${error.name}: ${error.message} ${at.replace(/\(.*\/(lib\/[^)]*)\)/, '($1)')}` }
}

/**
 * The reference configuration changed the way an operator might change it under traffic: MSS
 * clamping on, one Blue web VM disabled and one draining, the Red public VIP balancing by
 * 3-tuple and the Blue CA VIP by 2-tuple, host2's static neighbour entry gone (ARP needed).
 */
export function variantConfig(reference: NvlbConfig): NvlbConfig {
  const c = structuredClone(reference)
  c.node.mssClamp = true
  for (const p of c.pools) {
    for (const b of p.backends) {
      if (p.name === 'blue-web' && b.address === '10.1.6.21') b.state = 'disabled'
      if (p.name === 'blue-web' && b.address === '10.1.6.22') b.state = 'draining'
    }
  }
  for (const v of c.vips) {
    if (v.name === 'red-public') for (const r of v.rules) r.distribution = '3-tuple'
    if (v.name === 'blue-ca') for (const r of v.rules) r.distribution = '2-tuple'
  }
  c.neighbors = (c.neighbors ?? []).filter((n) => n.address !== '192.168.6.5')
  // A peer instance: NVGRE from its PA passes the trust check whatever it carries.
  c.node.peerProviderAddresses = ['192.168.6.3']
  return c
}

type EngineClass = new (options: { maxFlows?: number; extraSlots?: number }) => EngineType

export class EngineSession {
  readonly engine: EngineType
  private readonly slot = new Uint8Array(SLOT)
  private now = 1000
  /** Frames processed since the session started (warm-up included). */
  frames = 0

  private current: Snapshot
  constructor(
    EngineCtor: EngineClass,
    private readonly snapshot: Snapshot,
    private readonly invariants: Invariants,
    private readonly alternate: Snapshot | null = null,
  ) {
    this.current = snapshot
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
    const stepped = this.step(control)
    if (stepped !== null) return stepped
    const len = Math.min(frame.length, SLOT - HEADROOM)
    const ctx = this.invariants.context(frame)
    // The slot ends where the frame ends: reading past it is reading nothing.
    const buf = this.slot.subarray(0, HEADROOM + len)
    buf.fill(0, 0, HEADROOM)
    buf.set(frame.subarray(0, len), HEADROOM)
    return this.processAt(buf, HEADROOM, len, ctx, 0, buf.length)
  }

  private step(control: number): Violation | null {
    if ((control & 0x80) !== 0) {
      this.now += (control & 0x7f) * 2
      resetSteps()
      try {
        this.engine.tick(this.now)
      } catch (err) {
        return exception(err)
      } finally {
        disarmSteps()
      }
    }
    return null
  }

  private batch = new Uint8Array(SLOT * MAX_FRAMES)
  private readonly offsets = new Int32Array(MAX_FRAMES)
  private readonly lengths = new Int32Array(MAX_FRAMES)

  /**
   * Frames as one receive batch, the way a port's loop does it: prefetch() over the batch,
   * then process() for each frame in order (the clock steps once, before the batch).
   */
  feedBatch(records: readonly FrameRecord[]): Violation | null {
    const n = Math.min(records.length, MAX_FRAMES)
    if (n === 0) return null
    const stepped = this.step(records[0]!.control)
    if (stepped !== null) return stepped
    const buf = this.batch
    const contexts = []
    for (let i = 0; i < n; i++) {
      const frame = records[i]!.frame
      const len = Math.min(frame.length, SLOT - HEADROOM)
      buf.fill(0, i * SLOT, i * SLOT + HEADROOM)
      buf.set(frame.subarray(0, len), i * SLOT + HEADROOM)
      this.offsets[i] = i * SLOT + HEADROOM
      this.lengths[i] = len
      contexts.push(this.invariants.context(frame))
    }
    resetSteps()
    try {
      this.engine.prefetch(buf, this.offsets, this.lengths, n)
    } catch (err) {
      return exception(err)
    } finally {
      disarmSteps()
    }
    for (let i = 0; i < n; i++) {
      const v = this.processAt(buf, this.offsets[i]!, this.lengths[i]!, contexts[i]!, i * SLOT, (i + 1) * SLOT)
      if (v !== null) return v
    }
    return null
  }

  private processAt(buf: Uint8Array, off: number, len: number, ctx: InputContext, slotStart: number, slotEnd: number): Violation | null {
    const e = this.engine
    this.frames++
    this.lastOut = null
    let verdict: number
    resetSteps()
    try {
      verdict = e.process(buf, off, len)
    } catch (err) {
      e.extra.clear()
      return exception(err)
    } finally {
      disarmSteps()
    }
    let violation: Violation | null = null
    if (verdict !== VERDICT_DROP && verdict !== VERDICT_TX && verdict !== VERDICT_CONSUMED) violation = { kind: 'verdict', detail: `verdict ${verdict}` }
    if (violation === null && verdict === VERDICT_TX) {
      if (e.outOffset < slotStart || e.outLength <= 0 || e.outOffset + e.outLength > slotEnd) {
        violation = { kind: 'output_range', detail: `TX of [${e.outOffset - slotStart}, +${e.outLength}) outside the frame's ${slotEnd - slotStart}-byte slot` }
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

  /** Inputs one after the other (a session file's), stopping at the first violation. */
  replay(inputs: readonly Uint8Array[]): Violation | null {
    for (const input of inputs) {
      const v = this.run(decodeFrames(input))
      if (v !== null) return v
    }
    return null
  }

  /**
   * All frames of an input, stopping at the first violation; as one batch (feedBatch) when
   * bit 6 of the first frame's control byte is set.
   */
  run(records: readonly FrameRecord[]): Violation | null {
    if (records.length > 0 && (records[0]!.control & 0x40) !== 0) {
      for (let i = 0; i < records.length; i += MAX_FRAMES) {
        const v = this.feedBatch(records.slice(i, i + MAX_FRAMES))
        if (v !== null) return v
      }
      return null
    }
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      if (i > 0 && (r.control & 0x40) !== 0 && this.alternate !== null) {
        this.current = this.current === this.snapshot ? this.alternate : this.snapshot
        this.engine.adopt(this.current)
      }
      const v = this.feed(r.control, r.frame)
      if (v !== null) return v
    }
    return null
  }
}
