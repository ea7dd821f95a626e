/**
 * Two instances behind the BGP router carrying the reference deployment's traffic
 * (examples/ha/deploy.ts, namespaces `nva12<hex>-*`, removed also on failure): the router
 * spreads the client's connections to the Blue public VIP over both instances, the backends'
 * replies go to the shared provider address, which the router spreads over both instances too,
 * and whichever instance a reply reaches translates it (docs/ha.md, "The return path").
 * Then 32 keep-alive connections through the Blue VIP live through kill -9 of the instance carrying
 * most of them, its rejoin, and a SIGTERM of the other one: none is reset, every one is answered again.
 */
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { StatsReport } from '../../lib/dataplane/stats-report'
import { startLoad } from '../../examples/blue-red/load'
import { deployHa, SHARED_PA, type HaDeployment } from '../../examples/ha/deploy'
import { startKeepalive } from '../../examples/ha/keepalive-driver'

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

  await failoverCases(t, d)
})

/** Wait (bounded) until the router routes the Blue VIP and the shared PA over exactly `hops` (external, provider). */
async function routed(d: HaDeployment, external: readonly string[], provider: readonly string[]): Promise<void> {
  const deadline = Date.now() + 20000
  while (JSON.stringify([d.nextHops('203.0.113.10'), d.nextHops(SHARED_PA)]) !== JSON.stringify([external, provider])) {
    if (Date.now() > deadline) throw new Error(`router: Blue VIP via ${d.nextHops('203.0.113.10').join('+')}, shared PA via ${d.nextHops(SHARED_PA).join('+')}; wanted ${external.join('+')} / ${provider.join('+')}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function failoverCases(t: Test, d: HaDeployment): Promise<void> {
  const client = await startKeepalive(d.topology.client.namespace, '203.0.113.10', 32)
  t.teardown(() => client.stop())
  const all = { external: ['192.0.2.2', '192.0.2.6'], provider: ['192.168.6.2', '192.168.6.3'] }
  const active = await Promise.all(d.instances.map(async (i) => (await i.api.get<StatsReport>('/v1/stats')).body.activeFlows))
  const victim = d.instances[active.indexOf(Math.max(...active))]!
  const other = d.instances.find((i) => i !== victim)!
  const only = (i: typeof victim) => [[i.node.externalAddress!], [i.node.providerAddress]] as const

  const kill = await client.phase(async () => {
    victim.process.child.kill('SIGKILL')
    await routed(d, ...only(other))
  }, 15000)
  t.equal(kill.broken, 0, `kill -9 of nvlb${victim.index} (active flows per instance: ${active.join(', ')}): no connection reset`)
  t.equal(kill.recovered, 32, 'every connection answered again')

  const rejoin = await client.phase(async () => {
    await d.restart(victim.index)
    await routed(d, all.external, all.provider)
  }, 15000)
  const after = await client.phase(async () => undefined, 15000)
  t.equal(rejoin.broken + after.broken, 0, `nvlb${victim.index} rejoins: no connection reset`)
  t.equal(after.recovered, 32, 'every connection answered after the router spread them again')

  const term = await client.phase(async () => {
    await other.process.stop(10000)
    await routed(d, ...only(d.instances.find((i) => i.index === victim.index)!))
  }, 15000)
  t.equal(term.broken, 0, `SIGTERM of nvlb${other.index}: no connection reset`)
  t.equal(term.recovered, 32, 'every connection answered again')
}
