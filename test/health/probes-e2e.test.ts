/**
 * Health probes end to end, in the reference deployment (real namespaces, real
 * host emulators, real VM HTTP servers, nvlb with its AF_PACKET data plane):
 * probes go through the overlay, a stopped server takes its VM down and no new
 * connection reaches it while connections to the others keep working, a restart
 * brings it back, the two tenants' 10.1.6.21 are judged apart, all down with
 * 'drop' and 'useAll', a draining backend keeps its connections while probes pass.
 */
import t from 'tap'
import { execInNamespace, nodeMainCommand, spawnInNamespace, type NodeProcess } from '../../examples/blue-red/topology'
import { backendPath, type Deployment } from '../../examples/blue-red/deploy'
import type { HealthEntry } from '../../lib/health/health-monitor'
import { KeepaliveClient, deployForTest, needsRoot, waitFor } from '../e2e/helpers'

const INTERVAL = 2
const UNHEALTHY = 2
const HEALTHY = 2
const TIMEOUT = 1

async function health(d: Deployment): Promise<HealthEntry[]> {
  return (await d.api.get<{ backends: HealthEntry[] }>('/v1/health')).body.backends
}

async function stateOf(d: Deployment, pool: string, backend: string): Promise<string | undefined> {
  return (await health(d)).find((e) => e.pool === pool && e.backend === backend)?.state
}

/**
 * Waits until every packet worker runs the health GET /v1/health shows: a change of health is
 * republished with the same configuration generation, so /v1/stats' generation cannot say it.
 */
async function healthApplied(d: Deployment): Promise<void> {
  await waitFor('the packet workers run the current health', async () => (await d.api.get<{ applied: boolean }>('/v1/health')).body.applied, 10000, 50)
}

function stopServer(d: Deployment, vm: string): Promise<void> {
  const p = d.servers.processes.find((s) => s.name === vm)!
  return p.stop(2000)
}

async function startServer(t: { teardown(fn: () => unknown): void }, d: Deployment, vm: string): Promise<NodeProcess> {
  const namespace = `${d.prefix}-${vm}`
  const p = await spawnInNamespace(vm, namespace, nodeMainCommand('examples/blue-red/vm-http-server', ['--name', vm, '--port', '80']), /^listening\b/)
  t.teardown(() => p.stop(2000))
  return p
}

t.setTimeout(900000)
t.test('health probes through the overlay', { skip: needsRoot, timeout: 900000 }, async (t) => {
  const d = await deployForTest(t, { prefix: `hpr${Math.random().toString(16).slice(2, 5)}` })

  await t.test('every backend comes up; the VMs saw probes from node.probeAddress', async (t) => {
    await waitFor('all six backends up (4 blue, 2 red)', async () => {
      const h = await health(d)
      return h.length === 6 && h.every((e) => e.state === 'up')
    }, 60000)
    const h = await health(d)
    t.same([...new Set(h.map((e) => `${e.pool} ${e.backend}`))].sort(), [
      'blue-web 5001/10.1.6.20:80',
      'blue-web 5001/10.1.6.21:80',
      'blue-web 5001/10.1.6.22:80',
      'blue-web 5001/10.1.6.23:80',
      'red-web 6001/10.1.6.21:80',
      'red-web 6001/10.1.6.22:80',
    ])
    const pool = (await d.api.get<any>('/v1/pools/blue-web')).body
    t.match(pool.backends[0].health, { state: 'up', probe: 'web-http', since: String, lastCheck: String, lastError: null })
    // Sockets of the VM's kernel in any state (a probe lasts milliseconds; polled until one is seen).
    let conns = ''
    await waitFor('a probe connection at blue-vm2', () => /198\.18\.0\.1:/.test((conns = execInNamespace(`${d.prefix}-blue-vm2`, ['ss', '-tan']))), 20000, 20)
    t.match(conns, /198\.18\.0\.1:/, 'the VM answered probes from 198.18.0.1, through its default route')
    const metrics = (await d.api.get<string>('/metrics')).body as unknown as string
    t.match(metrics, /nvlb_backend_up\{pool="blue-web",backend="5001\/10.1.6.21:80"\} 1/)
    t.match(metrics, /nvlb_probe_latency_seconds_count\{probe="web-http"\} \d+/)
    const stats = (await d.api.get<any>('/v1/stats')).body
    t.same(Object.values(stats.drops ?? {}).filter((n: any) => n > 0).length >= 0, true)
    // HTTP probes keep their connections: a probe is the request and the ACK of its answer (2 segments
    // from nvlb; a new connection per probe was SYN, request, FIN: 3, and 5 with bare ACKs), counted
    // over 18 probes of every backend up (a few seconds of them), after the start-up.
    const tunnelNow = async () => (await d.api.get<any>('/v1/health')).body.tunnel
    const t0 = await tunnelNow()
    let t1 = t0
    await waitFor('18 more probes', async () => (t1 = await tunnelNow()).probes >= t0.probes + 18, 30000, 200)
    const perProbe = (t1.to_backends - t0.to_backends) / (t1.probes - t0.probes)
    t.ok(perProbe <= 2.5, `segments from nvlb per probe: ${perProbe.toFixed(2)} (${t1.to_backends - t0.to_backends} for ${t1.probes - t0.probes} probes)`)
    t.ok(t1.connections - t0.connections < (t1.probes - t0.probes) / 2, `connections opened for ${t1.probes - t0.probes} probes: ${t1.connections - t0.connections}`)
  })

  await t.test('without static neighbours the probe tunnel resolves the hosts by ARP', async (t) => {
    const config = await d.api.get<any>('/v1/config')
    const neighbors = config.body.neighbors
    await d.api.put('/v1/config', { ...config.body, neighbors: [] }, { ifMatch: config.generation })
    const since = Date.now()
    await waitFor('a successful probe of every backend after the change', async () => {
      const h = await health(d)
      return h.every((e) => e.state === 'up' && e.lastCheck !== null && Date.parse(e.lastCheck) > since + 1500 && e.lastError === null)
    }, 30000, 200)
    const tunnel = (await d.api.get<any>('/v1/health')).body.tunnel
    t.ok(tunnel.dropped_no_neighbor > 0, `the first packets waited for ARP (${tunnel.dropped_no_neighbor})`)
    t.ok((await health(d)).every((e) => e.state === 'up'), 'every backend stays up')
    const back = await d.api.get<any>('/v1/config')
    await d.api.put('/v1/config', { ...back.body, neighbors }, { ifMatch: back.generation })
  })

  await t.test('a stopped server: down in time, no new connection reaches it, others keep theirs, back after restart', async (t) => {
    const client = new KeepaliveClient(`${d.prefix}-client`, 'http://203.0.113.10/', 16)
    t.teardown(() => client.close())
    const first = await client.request()
    const byVm = new Map<number, string>(first.map((a) => [a.conn, a.body ?? '']))
    t.ok([...byVm.values()].includes('blue-vm2'), 'some connections use blue-vm2')

    const stoppedAt = Date.now()
    await stopServer(d, 'blue-vm2')
    await waitFor('blue-vm2 down', async () => (await stateOf(d, 'blue-web', '5001/10.1.6.21:80')) === 'down', 30000, 100)
    await healthApplied(d)
    const took = Date.now() - stoppedAt
    t.ok(took <= (INTERVAL * UNHEALTHY + TIMEOUT) * 1000 + 2000, `down after ${took} ms (≤ interval × threshold + timeout, plus polling)`)
    t.equal(await stateOf(d, 'red-web', '6001/10.1.6.21:80'), 'up', "red-vm1 (the same CA in the other tenant) stays up")
    const pool = (await d.api.get<any>('/v1/pools/blue-web')).body
    t.match(pool.backends.find((b: any) => b.address === '10.1.6.21').health, { state: 'down', lastError: String })

    const fresh = await client.fresh(40)
    t.notOk('blue-vm2' in fresh.bodies, `no new connection reached blue-vm2: ${JSON.stringify(fresh.bodies)}`)
    t.same(fresh.errors, [])
    const again = await client.request()
    for (const a of again) {
      if (byVm.get(a.conn) !== 'blue-vm2') {
        t.equal(a.body, byVm.get(a.conn), `connection ${a.conn} kept its backend`)
        t.equal(a.reused, true, `connection ${a.conn} is the same connection`)
      }
    }

    await startServer(t, d, 'blue-vm2')
    await waitFor('blue-vm2 up again', async () => (await stateOf(d, 'blue-web', '5001/10.1.6.21:80')) === 'up', 30000, 100)
    await healthApplied(d)
    const back = await client.fresh(60)
    t.ok((back.bodies['blue-vm2'] ?? 0) > 0, `new connections reach blue-vm2 again: ${JSON.stringify(back.bodies)}`)
  })

  await t.test('all backends of a pool down: drop, then useAll', async (t) => {
    await stopServer(d, 'red-vm1')
    await stopServer(d, 'red-vm2')
    await waitFor('red down', async () => {
      const h = await health(d)
      return h.filter((e) => e.pool === 'red-web').every((e) => e.state === 'down')
    }, 30000, 100)
    await healthApplied(d)
    const client = new KeepaliveClient(`${d.prefix}-client`, 'http://203.0.113.20/', 1)
    t.teardown(() => client.close())
    const before = (await d.api.get<any>('/v1/stats')).body.drops?.no_backend ?? 0
    const dropped = await client.fresh(3)
    t.equal(dropped.errors.length, 3, 'whenAllDown drop: no connection')
    const after = (await d.api.get<any>('/v1/stats')).body.drops?.no_backend ?? 0
    t.ok(after > before, 'counted as no_backend drops')

    // useAll: balance over all of them as if they were up (here: the servers answer again on a port nobody probes).
    const config = (await d.api.get<any>('/v1/config'))
    for (const v of config.body.vips) for (const r of v.rules) if (r.pool === 'red-web') r.whenAllDown = 'useAll'
    config.body.probes.push({ name: 'red-8080', protocol: 'tcp', port: 8080, intervalSeconds: INTERVAL, timeoutSeconds: TIMEOUT, unhealthyThreshold: UNHEALTHY, healthyThreshold: HEALTHY })
    for (const v of config.body.vips) for (const r of v.rules) if (r.pool === 'red-web') r.probe = 'red-8080'
    await d.api.put('/v1/config', config.body, { ifMatch: config.generation })
    await startServer(t, d, 'red-vm1')
    await startServer(t, d, 'red-vm2')
    await waitFor('red down on 8080', async () => {
      const h = await health(d)
      return h.filter((e) => e.pool === 'red-web').length === 2 && h.filter((e) => e.pool === 'red-web').every((e) => e.state === 'down')
    }, 30000, 100)
    await healthApplied(d)
    const served = await client.fresh(20)
    t.same(served.errors, [], 'useAll: served although every backend is down')
    t.ok((served.bodies['red-vm1'] ?? 0) > 0 && (served.bodies['red-vm2'] ?? 0) > 0, `over all of them: ${JSON.stringify(served.bodies)}`)
  })

  await t.test('a flapping backend is held down', async (t) => {
    const vm = 'blue-vm4'
    const backend = '5001/10.1.6.23:80'
    let server: NodeProcess | undefined
    for (let flap = 1; flap <= 3; flap++) {
      if (server === undefined) await stopServer(d, vm)
      else await server.stop(2000)
      await waitFor(`${vm} down (flap ${flap})`, async () => (await stateOf(d, 'blue-web', backend)) === 'down', 30000, 100)
      server = await startServer(t, d, vm)
      if (flap < 3) await waitFor(`${vm} up (flap ${flap})`, async () => (await stateOf(d, 'blue-web', backend)) === 'up', 30000, 100)
    }
    // The server answers again, but the third outage in quick succession holds it down for a while.
    const until = Date.now() + (INTERVAL * (HEALTHY + 2) + 1) * 1000
    await waitFor('more than healthyThreshold probe intervals', () => Date.now() > until, 30000, 200)
    const h = (await health(d)).find((e) => e.backend === backend)!
    t.equal(h.state, 'down', 'still down although its probes pass')
    t.match(h.lastError, /held down for flapping/)
    await healthApplied(d)
    const fresh = await new KeepaliveClient(`${d.prefix}-client`, 'http://203.0.113.10/', 1)
    t.teardown(() => fresh.close())
    t.notOk(vm in (await fresh.fresh(30)).bodies, 'no new connection reaches it while it is held down')
  })

  await t.test('a draining backend keeps its connections while probes pass', async (t) => {
    const client = new KeepaliveClient(`${d.prefix}-client`, 'http://203.0.113.10/', 16)
    t.teardown(() => client.close())
    const first = await client.request()
    const onVm1 = first.filter((a) => a.body === 'blue-vm1').map((a) => a.conn)
    t.ok(onVm1.length > 0, 'some connections use blue-vm1')
    const patched = await d.api.patch(backendPath('blue-web', 5001, '10.1.6.20'), { state: 'draining' })
    await waitFor('the packet path runs the change', async () => (await d.api.get<any>('/v1/stats')).body.generation >= patched.generation!, 10000, 50)
    const fresh = await client.fresh(30)
    t.notOk('blue-vm1' in fresh.bodies, 'draining: no new connections')
    // Several probe intervals pass; it stays up and keeps its connections.
    const until = Date.now() + (INTERVAL * 3 + 1) * 1000
    await waitFor('three probe intervals', () => Date.now() > until, 20000, 200)
    t.equal(await stateOf(d, 'blue-web', '5001/10.1.6.20:80'), 'up')
    const again = await client.request()
    for (const a of again) if (onVm1.includes(a.conn)) t.match(a, { body: 'blue-vm1', reused: true }, `connection ${a.conn} kept`)
  })
})
