/**
 * Two instances behind the BGP router carrying the reference deployment's traffic
 * (examples/ha/deploy.ts, namespaces `nva12<hex>-*`, removed also on failure): the router
 * spreads the client's connections to the Blue public VIP over both instances, the backends'
 * replies go to the shared provider address, which the router spreads over both instances too,
 * and whichever instance a reply reaches translates it (docs/ha.md, "The return path").
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { StatsReport } from '../../lib/dataplane/stats-report'
import { startLoad } from '../../examples/blue-red/load'
import { deployHa, SHARED_PA } from '../../examples/ha/deploy'

const haveBird = (() => {
  try {
    execFileSync('bird', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : !haveBird ? 'needs BIRD (apt-get install bird2)' : false

t.test('two instances behind the router', { skip }, async (t) => {
  const d = await deployHa({ prefix: `nva${randomBytes(2).toString('hex')}`, instances: 2 })
  t.teardown(() => d.teardown())
  t.same(d.nextHops('203.0.113.10'), ['192.0.2.2', '192.0.2.6'], 'the router learnt the Blue VIP from both instances')
  t.same(d.nextHops(SHARED_PA), ['192.168.6.2', '192.168.6.3'], 'and the shared PA, with each instance\'s own PA as next hop')

  const blue = d.vips.find((v) => v.name === 'blue-public')!
  const stats = (): Promise<StatsReport[]> => Promise.all(d.instances.map(async (i) => (await i.api.get<StatsReport>('/v1/stats')).body))
  const before = await stats()
  const result = await startLoad(blue.fromNamespace, blue.url, { durationSeconds: 2, connections: 16 }).result
  const after = await stats()
  const carried = after.map((s, k) => s.flowsCreated - before[k]!.flowsCreated)
  const flowless = after.map((s, k) => s.repliesWithoutFlow - before[k]!.repliesWithoutFlow)
  t.ok(result.requests > 0, `the Blue VIP answered ${result.requests} requests`)
  t.equal(result.errors + result.non2xx, 0, 'no failed request')
  t.ok(carried.every((n) => n > 0), `both instances carry flows (flows created during the load per instance: ${carried.join(', ')})`)
  t.ok(flowless.some((n) => n > 0), `replies crossed to the instance without the flow and were translated there (per instance: ${flowless.join(', ')})`)
  t.same(d.nextHops('203.0.113.10'), ['192.0.2.2', '192.0.2.6'], 'both instances still announce the Blue VIP (their probes see the backends)')
  const health = await Promise.all(d.instances.map(async (i) => (await i.api.get<{ backends: { state: string }[] }>('/v1/health')).body.backends))
  t.same(health.map((h) => h.filter((b) => b.state === 'down').length), [0, 0], 'no instance sees a backend down')
})
