/**
 * The health of one probed backend: what its probes saw, as a small state
 * machine with thresholds and flap damping.
 *
 * - `unknown` (no verdict yet; traffic trusts it) → `down` after
 *   unhealthyThreshold consecutive failures, → `up` after its first success.
 * - `up` → `down` after unhealthyThreshold consecutive failures.
 * - `down` → `up` after healthyThreshold consecutive successes, unless it is
 *   held down for flapping.
 *
 * Flap damping follows BGP route-flap damping (RFC 2439): every transition to
 * `down` adds FLAP_PENALTY to a penalty that halves every
 * FLAP_HALF_LIFE_INTERVALS probe intervals. When a `down` transition pushes
 * the penalty above FLAP_SUPPRESS the backend is held down until the penalty
 * has decayed below FLAP_REUSE (and it has passed healthyThreshold probes).
 * With the default thresholds (3 down, 2 up) the fastest possible flap cycle
 * is 5 intervals, so the third down within about 15 intervals suppresses
 * (penalty 1000 + 707 + 500 ≈ 2207) and holds the backend down for about
 * 10 × log2(2207 / 750) ≈ 16 intervals; a single outage never does.
 */
export type HealthStateName = 'unknown' | 'up' | 'down'

export const FLAP_PENALTY = 1000
export const FLAP_SUPPRESS = 2000
export const FLAP_REUSE = 750
export const FLAP_HALF_LIFE_INTERVALS = 10

export interface Thresholds {
  intervalSeconds: number
  unhealthyThreshold: number
  healthyThreshold: number
}

export interface Transition {
  from: HealthStateName
  to: HealthStateName
  reason: string
}

export class HealthState {
  state: HealthStateName = 'unknown'
  /** When the current state began (ms since the epoch). */
  since: number
  lastCheck: number | null = null
  lastError: string | null = null
  lastLatencyMs: number | null = null
  successes = 0
  failures = 0
  /** Flap penalty at `penaltyAt`. */
  private penalty = 0
  private penaltyAt = 0
  /** True while held down for flapping. */
  suppressed = false

  constructor(
    private readonly thresholds: Thresholds,
    now: number,
  ) {
    this.since = now
  }

  /** The flap penalty decayed to `now`. */
  penaltyAtTime(now: number): number {
    if (this.penalty === 0) return 0
    const halfLifeMs = FLAP_HALF_LIFE_INTERVALS * this.thresholds.intervalSeconds * 1000
    return this.penalty * Math.pow(0.5, (now - this.penaltyAt) / halfLifeMs)
  }

  /** Records one probe result; returns the transition it caused, if any. */
  record(ok: boolean, error: string | null, latencyMs: number | null, now: number): Transition | null {
    this.lastCheck = now
    this.lastLatencyMs = latencyMs
    if (ok) {
      this.successes++
      this.failures = 0
      this.lastError = this.suppressed ? this.lastError : null
    } else {
      this.failures++
      this.successes = 0
      this.lastError = error
    }
    const t = this.thresholds
    const from = this.state
    if (from !== 'down' && !ok && this.failures >= t.unhealthyThreshold) {
      const penalty = this.penaltyAtTime(now) + FLAP_PENALTY
      this.penalty = penalty
      this.penaltyAt = now
      if (penalty > FLAP_SUPPRESS) this.suppressed = true
      return this.move('down', `${this.failures} consecutive failures: ${error ?? 'failed'}`, now)
    }
    if (from === 'unknown' && ok) return this.move('up', 'first probe succeeded', now)
    if (from === 'down' && ok && this.successes >= t.healthyThreshold) {
      if (this.suppressed) {
        const penalty = this.penaltyAtTime(now)
        if (penalty >= FLAP_REUSE) {
          this.lastError = `held down for flapping (penalty ${Math.round(penalty)}, back below ${FLAP_REUSE})`
          return null
        }
        this.suppressed = false
      }
      this.lastError = null
      return this.move('up', `${this.successes} consecutive successes`, now)
    }
    return null
  }

  private move(to: HealthStateName, reason: string, now: number): Transition {
    const from = this.state
    this.state = to
    this.since = now
    return { from, to, reason }
  }
}
