/**
 * The live figures: GET /v1/stats every two seconds, the last five minutes
 * kept, rates computed from the differences of the counters.
 */
import { get } from './api.js'
import type { Stats } from './types.js'

export const POLL_MS = 2000
const KEEP_MS = 5 * 60 * 1000

export interface Sample {
  at: number
  stats: Stats
}

export interface Point {
  at: number
  rxPps: number
  txPps: number
  activeFlows: number
}

type Listener = () => void

class Live {
  samples: Sample[] = []
  points: Point[] = []
  error: unknown = undefined
  private listeners = new Set<Listener>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false

  start(): void {
    if (this.running) return
    this.running = true
    void this.tick()
  }

  stop(): void {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.samples = []
    this.points = []
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  get latest(): Stats | undefined {
    return this.samples[this.samples.length - 1]?.stats
  }

  /** The sample closest to `ms` before the latest one (for rates over a window). */
  before(ms: number): Sample | undefined {
    const last = this.samples[this.samples.length - 1]
    if (last === undefined) return undefined
    for (let i = this.samples.length - 2; i >= 0; i--) {
      if (last.at - this.samples[i]!.at >= ms) return this.samples[i]
    }
    return this.samples.length > 1 ? this.samples[0] : undefined
  }

  private async tick(): Promise<void> {
    try {
      const { body } = await get<Stats>('/v1/stats')
      const at = Date.now()
      const prev = this.samples[this.samples.length - 1]
      this.samples.push({ at, stats: body })
      if (prev !== undefined) {
        const dt = (at - prev.at) / 1000
        const rate = (a: number, b: number) => (a >= b && dt > 0 ? (a - b) / dt : 0)
        this.points.push({
          at,
          rxPps: rate(body.rxPackets, prev.stats.rxPackets),
          txPps: rate(body.txPackets, prev.stats.txPackets),
          activeFlows: body.activeFlows,
        })
      }
      while (this.samples.length > 0 && at - this.samples[0]!.at > KEEP_MS) this.samples.shift()
      while (this.points.length > 0 && at - this.points[0]!.at > KEEP_MS) this.points.shift()
      this.error = undefined
    } catch (err) {
      this.error = err
    }
    for (const fn of this.listeners) fn()
    if (this.running) this.timer = setTimeout(() => void this.tick(), POLL_MS)
  }
}

export const live = new Live()

/** Per-second rate of a counter between two samples. */
export function rateBetween(now: number, then: number, ms: number): number {
  if (ms <= 0 || now < then) return 0
  return ((now - then) * 1000) / ms
}
