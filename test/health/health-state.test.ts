import t from 'tap'
import { FLAP_REUSE, HealthState } from '../../lib/health/health-state'

const thresholds = { intervalSeconds: 1, unhealthyThreshold: 3, healthyThreshold: 2 }

t.test('thresholds: unknown → up on the first success, down after 3 failures, up after 2 successes', async (t) => {
  const h = new HealthState(thresholds, 0)
  t.equal(h.state, 'unknown')
  t.same(h.record(true, null, 1, 1000), { from: 'unknown', to: 'up', reason: 'first probe succeeded' })
  t.equal(h.record(false, 'ECONNREFUSED', null, 2000), null)
  t.equal(h.record(false, 'ECONNREFUSED', null, 3000), null)
  t.equal(h.record(true, null, 1, 4000), null, 'a success resets the failure count')
  t.equal(h.record(false, 'timeout', null, 5000), null)
  t.equal(h.record(false, 'timeout', null, 6000), null)
  const down = h.record(false, 'timeout', null, 7000)
  t.match(down, { from: 'up', to: 'down', reason: /3 consecutive failures: timeout/ })
  t.equal(h.since, 7000)
  t.equal(h.lastError, 'timeout')
  t.equal(h.record(true, null, 1, 8000), null, 'one success is not enough')
  t.match(h.record(true, null, 1, 9000), { from: 'down', to: 'up' })
  t.equal(h.lastError, null)
})

t.test('unknown → down when the first probes fail', async (t) => {
  const h = new HealthState(thresholds, 0)
  h.record(false, 'x', null, 1)
  h.record(false, 'x', null, 2)
  t.match(h.record(false, 'x', null, 3), { from: 'unknown', to: 'down' })
})

t.test('a single outage is not damped; a flapping backend is held down until its penalty decays', async (t) => {
  const h = new HealthState(thresholds, 0)
  let now = 0
  const step = (ok: boolean) => h.record(ok, ok ? null : 'refused', null, (now += 1000))
  const cycle = () => {
    step(false), step(false), step(false)
    step(true), step(true)
  }
  step(true)
  cycle()
  t.equal(h.state, 'up', 'one outage: back up after healthyThreshold successes')
  t.equal(h.suppressed, false)
  cycle()
  t.equal(h.state, 'up', 'second outage: still back up')
  cycle()
  t.equal(h.state, 'down', 'third outage in quick succession: held down')
  t.equal(h.suppressed, true)
  t.match(h.lastError, /held down for flapping/)
  let held = 0
  while (h.state === 'down' && held < 100) {
    step(true)
    held++
  }
  t.equal(h.state, 'up', 'comes back once the penalty decayed')
  t.ok(held >= 10 && held <= 20, `held down for ${held} more intervals`)
  t.ok(h.penaltyAtTime(now) < FLAP_REUSE)
})
