/**
 * Changing a running nvlb through its admin API while connections use it:
 * - an established keep-alive connection survives 20 configuration changes;
 * - a `draining` backend keeps its open connections and gets no new ones; `disabled`
 *   takes it out;
 * - SIGTERM to nvlb under load: the packet workers finish their batch and stop, exit 0.
 *
 * One deployment for all three (each subtest leaves the configuration as it found it).
 */
import t from 'tap'
import type { NvlbConfig } from '../../lib/control/config-types'
import { backendPath, type Deployment, type VipTarget } from '../../examples/blue-red/deploy'
import { httpGetInNamespace } from '../../examples/blue-red/topology'
import { deployForTest, KeepaliveClient, needsRoot, waitFor } from './helpers'

const PROBE = { name: 'probe', address: '203.0.113.99' }
let probePort = 20000

/**
 * Resolve once the packet path runs the configuration the API answered last: one more
 * change (the probe VIP moves to a new port) and wait until that port answers.
 * Snapshots are adopted in order, so every earlier change is in use too.
 */
async function dataplaneCaughtUp(d: Deployment): Promise<void> {
  const port = ++probePort
  const vip = {
    name: PROBE.name,
    address: PROBE.address,
    virtualSubnetId: 0,
    natMode: 'dnat',
    rules: [{ protocol: 'tcp', frontendPort: port, backendPort: 80, pool: 'red-web' }],
  }
  const existing = (await d.api.get<Array<{ name: string }>>('/v1/vips')).body.some((v) => v.name === PROBE.name)
  if (existing) await d.api.put(`/v1/vips/${PROBE.name}`, vip)
  else await d.api.post('/v1/vips', vip)
  await waitFor(
    `the probe VIP on port ${port}`,
    () => httpGetInNamespace(d.topology.client.namespace, `http://${PROBE.address}:${port}/`, 1000).then(() => true, () => false),
    15000,
  )
}

function target(d: Deployment, name: string): VipTarget {
  const found = d.vips.find((v) => v.name === name)
  if (found === undefined) throw new Error(`no VIP ${name}`)
  return found
}

t.test('live configuration changes', { skip: needsRoot }, async (t) => {
  const d = await deployForTest(t)
  const generation = async (): Promise<number> => (await d.api.get<NvlbConfig>('/v1/config')).generation!

  await t.test('a keep-alive connection survives 20 configuration changes made while it is in use', async (t) => {
    const clients = [target(d, 'blue-public'), target(d, 'blue-ca')].map((vip) => ({ vip, client: new KeepaliveClient(vip.fromNamespace, vip.url, 1) }))
    t.teardown(() => Promise.all(clients.map((c) => c.client.close())))
    const first = await Promise.all(clients.map((c) => c.client.request().then((answers) => answers[0]!)))
    for (const [i, answer] of first.entries()) {
      t.equal(answer.status, 200, `${clients[i]!.vip.name}: first request answered`)
    }
    const backendOf = first.map((a) => a.body!)
    const portOf = first.map((a) => a.localPort!)
    const blueBackend = d.topology.vms.find((vm) => vm.name === backendOf[0])!
    const otherBlue = d.topology.vms.find((vm) => vm.customerId === 'blue' && vm.virtualSubnetId === 5001 && vm.name !== blueBackend.name)!

    const extraRecord = {
      customerAddress: '10.1.6.30', virtualSubnetId: 5001, providerAddress: '192.168.6.6',
      macAddress: '00-15-5D-01-06-30', customerId: 'blue', rule: 'TranslationMethodEncap',
    }
    const extraVip = {
      name: 'blue-extra', address: '203.0.113.30', virtualSubnetId: 0, natMode: 'dnat',
      rules: [{ protocol: 'tcp', frontendPort: 8080, backendPort: 80, pool: 'blue-web' }],
    }
    const changes: Array<[string, () => Promise<unknown>]> = [
      ['weight of another Blue backend → 2', () => d.api.patch(backendPath('blue-web', 5001, otherBlue.address), { weight: 2 })],
      ['weight of the connection\'s own backend → 3', () => d.api.patch(backendPath('blue-web', 5001, blueBackend.address), { weight: 3 })],
      ['new lookup record 5001/10.1.6.30', () => d.api.post('/v1/policy/lookup-records', extraRecord)],
      ['new backend 10.1.6.30 in blue-web (the Maglev table changes)', () => d.api.post('/v1/pools/blue-web/backends', { virtualSubnetId: 5001, address: '10.1.6.30' })],
      ['Red backend draining', () => d.api.patch(backendPath('red-web', 6001, '10.1.6.22'), { state: 'draining' })],
      ['Red backend active again', () => d.api.patch(backendPath('red-web', 6001, '10.1.6.22'), { state: 'active' })],
      ['new VIP blue-extra', () => d.api.post('/v1/vips', extraVip)],
      ['blue-extra moves to port 8081', () => d.api.patch('/v1/vips/blue-extra', { rules: [{ ...extraVip.rules[0], frontendPort: 8081 }] })],
      ['blue-extra deleted', () => d.api.delete('/v1/vips/blue-extra')],
      ['new pool spare', () => d.api.post('/v1/pools', { name: 'spare', backends: [{ virtualSubnetId: 5001, address: '10.1.6.23' }] })],
      ['pool spare deleted', () => d.api.delete('/v1/pools/spare')],
      ['new customer route blue 5001 10.9.0.0/16', () => d.api.post('/v1/policy/customer-routes', { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '10.9.0.0/16', nextHop: '10.1.6.1' })],
      ['that route deleted', () => d.api.delete('/v1/policy/customer-routes/blue/5001/10.9.0.0/16')],
      ['whole document replaced (PUT /v1/config, MSS clamping on)', async () => {
        const current = await d.api.get<NvlbConfig>('/v1/config')
        return d.api.put('/v1/config', { ...current.body, node: { ...current.body.node, mssClamp: true } }, { ifMatch: current.generation })
      }],
      ['whole document replaced again (MSS clamping off)', async () => {
        const current = await d.api.get<NvlbConfig>('/v1/config')
        return d.api.put('/v1/config', { ...current.body, node: { ...current.body.node, mssClamp: false } }, { ifMatch: current.generation })
      }],
      ['backend 10.1.6.30 removed', () => d.api.delete(backendPath('blue-web', 5001, '10.1.6.30'))],
      ['lookup record 5001/10.1.6.30 removed', () => d.api.delete('/v1/policy/lookup-records/5001/10.1.6.30')],
      ['red-public idle timeout 300 s', () => d.api.patch('/v1/vips/red-public', { rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'red-web', idleTimeoutSeconds: 300 }] })],
      ['weights back to 1', () => d.api.patch(backendPath('blue-web', 5001, otherBlue.address), { weight: 1 })],
      ['own backend\'s weight back to 1', () => d.api.patch(backendPath('blue-web', 5001, blueBackend.address), { weight: 1 })],
    ]
    t.equal(changes.length, 20, 'twenty changes')

    const before = await generation()
    t.same(await clients[0]!.client.send('loop'), { type: 'ok' })
    t.same(await clients[1]!.client.send('loop'), { type: 'ok' })
    const served = async (): Promise<number[]> => Promise.all(clients.map(async (c) => (await c.client.stats())[0]!.requests))
    for (const [what, change] of changes) {
      await change()
      // In use: both connections answer more requests after the change before the next one.
      const now = await served()
      await waitFor(`requests after '${what}'`, async () => (await served()).every((n, i) => n >= now[i]! + 5), 15000)
    }
    t.equal(await generation(), before + 20, 'every change made a new configuration generation')
    await dataplaneCaughtUp(d)
    const afterAll = await served()
    await waitFor('requests under the last configuration', async () => (await served()).every((n, i) => n >= afterAll[i]! + 20), 15000)

    for (const [i, c] of clients.entries()) {
      const [stats] = await c.client.stats('stop')
      t.same(stats!.errors, [], `${c.vip.name}: no error, no reset`)
      t.same(stats!.ports, [portOf[i]], `${c.vip.name}: one connection throughout (local port ${portOf[i]})`)
      t.same(Object.keys(stats!.bodies), [backendOf[i]], `${c.vip.name}: always answered by ${backendOf[i]}`)
      t.ok(stats!.requests > 100, `${c.vip.name}: ${stats!.requests} requests on the connection`)
    }
  })

  await t.test('draining keeps open connections and gets no new ones; disabled takes the backend out', async (t) => {
    const vip = target(d, 'blue-public')
    const client = new KeepaliveClient(vip.fromNamespace, vip.url, 12)
    t.teardown(() => client.close())
    const opened = await client.request()
    t.same(opened.filter((a) => a.status !== 200), [], 'twelve keep-alive connections open')
    const count = new Map<string, number>()
    for (const a of opened) count.set(a.body!, (count.get(a.body!) ?? 0) + 1)
    const victim = [...count.entries()].sort((a, b) => b[1] - a[1])[0]![0]
    const victimVm = d.topology.vms.find((vm) => vm.name === victim)!
    const onVictim = opened.filter((a) => a.body === victim).map((a) => a.conn)
    t.comment(`draining ${victim}, which holds ${onVictim.length} of the 12 connections`)

    await d.api.patch(backendPath('blue-web', 5001, victimVm.address), { state: 'draining' })
    await dataplaneCaughtUp(d)
    const drained = await client.request()
    t.same(
      drained.map((a) => [a.status, a.body, a.localPort]),
      opened.map((a) => [200, a.body, a.localPort]),
      'every open connection, those on the draining backend included, answers as before',
    )
    const fresh = await client.fresh(40)
    t.same(fresh.errors, [], 'new connections succeed')
    t.notOk(victim in fresh.bodies, `no new connection goes to ${victim} (${JSON.stringify(fresh.bodies)})`)
    t.ok(Object.keys(fresh.bodies).length >= 2, 'new connections spread over the other backends')

    await d.api.patch(backendPath('blue-web', 5001, victimVm.address), { state: 'disabled' })
    await dataplaneCaughtUp(d)
    const disabled = await client.request()
    t.same(disabled.filter((a) => a.body === victim), [], `${victim} answers nothing once disabled`)
    t.same(
      disabled.filter((a) => !onVictim.includes(a.conn)).map((a) => [a.status, a.body, a.localPort]),
      opened.filter((a) => !onVictim.includes(a.conn)).map((a) => [200, a.body, a.localPort]),
      'connections on the other backends are undisturbed',
    )
    t.ok(
      disabled.filter((a) => onVictim.includes(a.conn)).every((a) => a.error !== undefined),
      'the disabled backend\'s connections are cut (their next packet is a new flow elsewhere, answered by a reset)',
    )
    const afterDisable = await client.fresh(40)
    t.same(afterDisable.errors, [], 'new connections succeed')
    t.notOk(victim in afterDisable.bodies, `no new connection goes to ${victim}`)

    await d.api.patch(backendPath('blue-web', 5001, victimVm.address), { state: 'active' })
    await dataplaneCaughtUp(d)
  })

  await t.test('SIGTERM to nvlb under load: batch finished, workers stopped, exit 0', async (t) => {
    const vip = target(d, 'red-public')
    const client = new KeepaliveClient(vip.fromNamespace, vip.url, 4)
    t.teardown(() => client.close())
    await client.send('loop')
    await waitFor('load through nvlb', async () => (await client.stats()).every((c) => c.requests >= 20), 15000)
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      d.nvlb.child.once('exit', (code, signal) => resolve([code, signal])),
    )
    d.nvlb.child.kill('SIGTERM')
    const [code, signal] = await exited
    t.equal(signal, null, 'not killed by the signal')
    t.equal(code, 0, 'exit code 0')
    const messages = d.nvlb.output.flatMap((line) => {
      try {
        return [(JSON.parse(line) as { msg?: string }).msg ?? '']
      } catch {
        return []
      }
    })
    const stopping = messages.indexOf('stopping')
    t.ok(stopping >= 0, 'logged "stopping"')
    t.ok(messages.indexOf('packet worker stopped') > stopping, 'the packet worker finished its batch and stopped')
    t.equal(messages[messages.length - 1], 'stopped', 'logged "stopped" last')
    t.notOk(messages.some((m) => /did not stop in time/.test(m)), 'no worker had to be terminated')
    await client.stats('stop')
  })
})
