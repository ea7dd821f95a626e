/**
 * The etcd store with a real etcd on loopback: two control planes (two
 * instances) share one configuration; changes through one run on the other;
 * concurrent writers get one 412; a lost etcd refuses changes (503) and keeps
 * the configuration, and is caught up with when it returns; change sets far
 * over etcd's request limits (20,000 lookup records) commit atomically.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Compiler } from '../../lib/control/compiler'
import { ControlPlane } from '../../lib/control/control-plane'
import { EtcdStore, parseEtcdUrl } from '../../lib/control/etcd-store'
import { jsonEqual } from '../../lib/control/config-diff'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { referenceConfig } from './reference-config'
import { startEtcd, waitFor } from './helpers/etcd-server'

interface Instance {
  control: ControlPlane<Snapshot>
  store: EtcdStore
  stateDir: string
}

async function instance(t: { teardown(fn: () => unknown): void }, url: string, config?: unknown, nodeAddress = '192.168.0.10'): Promise<Instance> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-etcd-store-'))
  const doc = config === undefined ? undefined : (JSON.parse(JSON.stringify(config)) as any)
  // Without --config, the node an instance starts with (the state dir's node.json on later starts).
  const node = { ...(doc ?? referenceConfig()).node, providerAddress: nodeAddress }
  if (doc !== undefined) doc.node = node
  const store = await EtcdStore.open({ url, stateDir, node, probeIntervalMs: 100, timeoutMs: 1000 })
  const compiler = new Compiler()
  const control = await ControlPlane.open<Snapshot>({
    stateDir,
    store,
    logger: pino({ level: 'silent' }),
    compile: (c, g) => compiler.compile(c, g),
    initialConfig: doc,
  })
  t.teardown(async () => {
    await control.close()
    rmSync(stateDir, { recursive: true, force: true })
  })
  return { control, store, stateDir }
}

function record(i: number): any {
  return {
    customerAddress: `10.${30 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    virtualSubnetId: 7001,
    providerAddress: `192.168.6.${4 + (i % 4)}`,
    macAddress: '00-15-5D-07-00-01',
    customerId: 'teal',
  }
}

function shared(config: any): any {
  const { node: _node, ...rest } = config
  return rest
}

t.test('etcd:// URLs', async (t) => {
  t.same(parseEtcdUrl('etcd://127.0.0.1:2379'), { hosts: 'http://127.0.0.1:2379', prefix: '/nvlb' })
  t.same(parseEtcdUrl('etcd://etcd.local:2379/lab/one/'), { hosts: 'http://etcd.local:2379', prefix: '/lab/one' })
  t.throws(() => parseEtcdUrl('http://127.0.0.1:2379'), { code: ErrorCodes.BAD_REQUEST })
  t.throws(() => parseEtcdUrl('etcd://127.0.0.1'), { code: ErrorCodes.BAD_REQUEST })
})

t.test('two instances share one configuration', async (t) => {
  const etcd = await startEtcd(t)
  const one = await instance(t, etcd.url, referenceConfig(), '192.168.0.10')
  const two = await instance(t, etcd.url, referenceConfig(), '192.168.0.11')
  // The second start found the same shared document: its own node only changed (one more revision).
  await waitFor('instance 1 at instance 2 generation', () => one.control.generation === two.control.generation)
  t.ok(jsonEqual(shared(one.control.config), shared(two.control.config)), 'same shared document')
  t.equal(one.control.config.node.providerAddress, '192.168.0.10', 'each keeps its own node')
  t.equal(two.control.config.node.providerAddress, '192.168.0.11')

  await t.test('a change through instance 1 runs on instance 2', async (t) => {
    const applied = await one.control.update((d) => {
      d.pools[0]!.backends[0]!.weight = 7
    })
    await waitFor('instance 2 adopts it', () => two.control.generation === applied.generation)
    t.equal(two.control.config.pools[0]!.backends[0]!.weight, 7)
    t.equal(two.control.snapshot?.generation, applied.generation, 'compiled and published on instance 2')
    t.equal(two.control.config.node.providerAddress, '192.168.0.11', 'its node untouched')
  })

  await t.test('concurrent writers through two instances: exactly one 412', async (t) => {
    const generation = one.control.generation
    const results = await Promise.allSettled([
      one.control.update((d) => void (d.pools[0]!.backends[0]!.weight = 3), generation),
      two.control.update((d) => void (d.pools[0]!.backends[0]!.weight = 4), generation),
    ])
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.equal(won.length, 1, 'one change applied')
    t.equal(lost.length, 1, 'one refused')
    t.equal((lost[0]?.reason as NvlbError).code, ErrorCodes.PRECONDITION_FAILED)
    t.equal((lost[0]?.reason as NvlbError).statusCode, 412)
    await waitFor('both at the winner', () => one.control.generation === generation + 1 && two.control.generation === generation + 1)
    t.equal(one.control.config.pools[0]!.backends[0]!.weight, two.control.config.pools[0]!.backends[0]!.weight)
  })

  await t.test('20,000 lookup records in one change set (over etcd request limits): atomic, same order everywhere', async (t) => {
    const add = Array.from({ length: 20_000 }, (_, i) => record(i))
    const applied = await one.control.update((d) => {
      d.lookupRecords.push(...add)
    })
    await waitFor('instance 2 adopts it', () => two.control.generation === applied.generation, 60_000)
    t.equal(two.control.config.lookupRecords.length, referenceConfig().lookupRecords.length + 20_000)
    // A third instance loads the document from the resource keys.
    const three = await instance(t, etcd.url, undefined, '192.168.0.12')
    t.equal(three.control.generation, applied.generation)
    t.ok(jsonEqual(shared(three.control.config), shared(one.control.config)), 'loaded document equals the written one, in order')
    // Remove them again: a large change set of removals.
    const removed = await two.control.update((d) => {
      d.lookupRecords = d.lookupRecords.filter((r) => r.virtualSubnetId !== 7001 || !r.customerAddress.startsWith('10.30.'))
    })
    await waitFor('instance 1 adopts it', () => one.control.generation === removed.generation, 60_000)
    t.ok(jsonEqual(shared(one.control.config), shared(two.control.config)))
    t.equal(one.control.config.lookupRecords.length, referenceConfig().lookupRecords.length)
  })

  await t.test('a writer that died while materializing a large change set: the next writer finishes it', async (t) => {
    const add = Array.from({ length: 2000 }, (_, i) => record(50_000 + i))
    const applied = await one.control.update((d) => {
      d.lookupRecords.push(...add)
    })
    await waitFor('instance 2 adopts it', () => two.control.generation === applied.generation)
    // As if instance 1 had died before its last materializing transaction.
    await one.store.client.put('/nvlb/config/materialized').value(String(applied.generation - 1))
    const fresh = await instance(t, etcd.url, undefined, '192.168.0.13')
    t.ok(jsonEqual(shared(fresh.control.config), shared(one.control.config)), 'a loader replays the logged change set')
    await one.store.client.put('/nvlb/config/materialized').value(String(applied.generation - 1))
    const next = await two.control.update((d) => void (d.pools[0]!.backends[0]!.weight = 5))
    t.equal(next.generation, applied.generation + 1, 'the next writer commits (after finishing the materialization)')
    t.equal(await one.store.client.get('/nvlb/config/materialized').string(), String(next.generation))
    await waitFor('instance 1 adopts it', () => one.control.generation === next.generation)
  })

  await t.test('logs of large change sets are deleted 64 revisions later', async (t) => {
    const logs = async () => (await one.store.client.getAll().prefix('/nvlb/config/log/').keys()).map((k) => Number(k.split('/')[4]))
    const old = await logs()
    t.ok(old.length > 0, 'the earlier bulk changes left logs')
    for (let i = 0; i < 64; i++) await one.control.update((d) => void (d.pools[0]!.backends[0]!.weight = 1 + (i % 3)))
    const applied = await one.control.update((d) => {
      d.lookupRecords.push(...Array.from({ length: 2000 }, (_, i) => record(60_000 + i)))
    })
    t.same([...new Set(await logs())], [applied.generation], 'only the newest large change set is logged')
    await waitFor('instance 2 adopts it', () => two.control.generation === applied.generation)
  })

  await t.test('a shared change that does not validate on one instance (its node): it keeps running, and adopts the next valid one', async (t) => {
    const url = `${etcd.url}/node-specific`
    const withProbe = referenceConfig()
    withProbe.node.probeAddress = '10.1.6.250'
    const a = await instance(t, url, withProbe, '192.168.0.20')
    const b = await instance(t, url, referenceConfig(), '192.168.0.21')
    await waitFor('same generation', () => a.control.generation === b.control.generation)
    const before = b.control.generation
    const ran: number[] = []
    b.control.subscribe((_snapshot, generation) => ran.push(generation))
    const probed = await a.control.update((d: any) => {
      d.probes = [{ name: 'tcp-80', protocol: 'tcp', intervalSeconds: 5, timeoutSeconds: 2, unhealthyThreshold: 3, healthyThreshold: 2 }]
      d.vips[0].rules[0].probe = 'tcp-80'
    })
    const unprobed = await a.control.update((d: any) => {
      delete d.vips[0].rules[0].probe
    })
    t.equal(unprobed.generation, probed.generation + 1)
    await waitFor('b adopts the valid one', () => b.control.generation === unprobed.generation)
    t.ok(before < probed.generation)
    t.notOk(ran.includes(probed.generation), 'b never ran the change it cannot validate')
    t.ok(jsonEqual(shared(a.control.config), shared(b.control.config)), 'b holds what the store holds (the probes section too)')
    t.equal((b.control.config as any).probes.length, 1)
  })

  await t.test('etcd lost: changes refused (503), configuration kept; caught up when it returns', async (t) => {
    const generation = one.control.generation
    await etcd.stop()
    await waitFor('both notice', () => !one.store.status.connected && !two.store.status.connected)
    const refused = await one.control.update((d) => void (d.pools[0]!.backends[0]!.weight = 9)).catch((e: unknown) => e)
    t.equal((refused as NvlbError).code, ErrorCodes.STORE_UNAVAILABLE)
    t.equal((refused as NvlbError).statusCode, 503)
    t.equal(one.control.generation, generation, 'nothing changed')
    t.ok(one.control.ready && two.control.ready, 'both keep running their configuration')
    t.equal(two.control.snapshot?.generation, generation)

    await etcd.restart()
    await waitFor('instance 1 reconnects', () => one.store.status.connected)
    const applied = await one.control.update((d) => void (d.pools[0]!.backends[0]!.weight = 9))
    await waitFor('instance 2 reconnects and catches up', () => two.store.status.connected && two.control.generation === applied.generation)
    t.equal(two.control.config.pools[0]!.backends[0]!.weight, 9)
  })
})

t.test('instances opening together on an empty etcd all start: the one refused (412) loads the store again', async (t) => {
  const etcd = await startEtcd(t)
  const started = await Promise.all(['192.168.0.20', '192.168.0.21', '192.168.0.22'].map((pa) => instance(t, etcd.url, referenceConfig(), pa)))
  for (const [i, one] of started.entries()) {
    t.ok(one.control.ready, `instance ${i} runs a configuration`)
    t.equal(one.control.config.node.providerAddress, `192.168.0.${20 + i}`, `instance ${i} keeps its own node`)
    t.same(shared(one.control.config), shared(started[0]!.control.config), `instance ${i} runs the shared document`)
  }
})
