/**
 * EtcdInstanceRegistry over a real etcd: each instance sees the others'
 * provider addresses (its peers) as they register, change and leave.
 */
import t from 'tap'
import pino from 'pino'
import { Etcd3 } from 'etcd3'
import { EtcdInstanceRegistry, type InstanceDescription } from '../../lib/control/instance-registry'
import { startEtcd, waitFor } from './helpers/etcd-server'

function description(name: string, providerAddress: string | undefined): InstanceDescription {
  return {
    name,
    ...(providerAddress === undefined ? {} : { providerAddress }),
    apiAddress: 'http://127.0.0.1:1',
    generation: 1,
    ready: true,
    storeConnected: true,
    startedAt: new Date(0).toISOString(),
  }
}

t.test("watchPeers tells the other instances' PAs as they come, change and go", async (t) => {
  const etcd = await startEtcd(t)
  const client = new Etcd3({ hosts: `http://127.0.0.1:${etcd.clientPort}` })
  t.teardown(() => client.close())
  const logger = pino({ level: 'silent' })
  const prefix = '/nvh8-registry'
  const pa = new Map<string, string | undefined>([
    ['a', '192.168.0.10'],
    ['b', '192.168.0.11'],
    ['c', undefined],
  ])
  const registry = (name: string) => new EtcdInstanceRegistry(client, prefix, 2, () => description(name, pa.get(name)), logger)
  const a = registry('a')
  const b = registry('b')
  const c = registry('c')
  t.teardown(async () => {
    await a.stop()
    await b.stop()
    await c.stop()
  })
  await a.start()
  const told: string[][] = []
  a.watchPeers((peers) => told.push(peers))
  await waitFor('the first (empty) set', () => told.length === 1)
  t.same(told[0], [], 'alone: no peers')

  await b.start()
  await c.start()
  await waitFor("b's PA", () => told.at(-1)?.join() === '192.168.0.11')
  t.same(told.at(-1), ['192.168.0.11'], 'an instance without a PA is no peer; itself neither')

  pa.set('b', '192.168.0.12')
  b.update()
  await waitFor("b's new PA", () => told.at(-1)?.join() === '192.168.0.12')

  pa.set('c', '192.168.0.11')
  c.update()
  await waitFor('c joins', () => told.at(-1)?.join() === '192.168.0.11,192.168.0.12')

  await b.stop()
  await waitFor('b left', () => told.at(-1)?.join() === '192.168.0.11')
  t.same(told, [[], ['192.168.0.11'], ['192.168.0.12'], ['192.168.0.11', '192.168.0.12'], ['192.168.0.11']], 'each set told once, in order')
})
