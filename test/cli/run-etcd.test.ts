/**
 * Two `nvlb run --no-dataplane --store etcd://…` processes over a real etcd:
 * a change through one runs on the other, concurrent writes through both get
 * one 412, both list each other in GET /v1/instances and a killed one leaves
 * the list when its lease expires, a bulk import of 20,000 lookup records goes
 * through, and a lost etcd refuses writes (503) while the configuration keeps
 * running, until etcd returns and the instances catch up.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { referenceConfig } from '../api/helpers'
import { cleanEnv, collect, nvlb, startNvlb, waitForLine } from './helpers'
import { startEtcd, waitFor } from '../control/helpers/etcd-server'
import { Etcd3 } from 'etcd3'
import { ErrorCodes } from '../../lib/errors'

const TOKEN = 'etcd-test-token-0123456789'

interface Running {
  child: ChildProcess
  url: string
  exited: ReturnType<typeof collect>
}

async function run(t: { teardown(fn: () => unknown): void }, args: string[]): Promise<Running> {
  const child = startNvlb(['run', '--api-listen', '127.0.0.1:0', '--no-dataplane', ...args], cleanEnv({ NVLB_TOKEN: TOKEN }))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const url = waitForLine(child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string }
      return entry.msg === 'admin API listening' ? entry.url : undefined
    } catch {
      return undefined
    }
  })
  const exited = collect(child)
  return { child, url: await url, exited }
}

async function call(url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, etag: res.headers.get('etag'), total: res.headers.get('x-total-count'), body: json }
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

t.test('two nvlb processes over etcd', async (t) => {
  const etcd = await startEtcd(t)
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-run-etcd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const configs = ['192.168.0.10', '192.168.0.11'].map((pa, i) => {
    const file = join(dir, `nvlb${i + 1}.json`)
    const config = referenceConfig()
    config.node.providerAddress = pa
    writeFileSync(file, JSON.stringify(config))
    return file
  })
  const store = `${etcd.url}/test-run`
  const start = (i: number) =>
    run(t, ['--config', configs[i]!, '--state-dir', join(dir, `state${i + 1}`), '--store', store, '--instance-name', `nvlb${i + 1}`, '--instance-ttl', '2'])
  const one = await start(0)
  // Instance 1 trusts instance 2's PA once it has registered (and logs the peers it trusts).
  const peersOfOne = waitForLine(one.child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; peers?: string[] }
      return entry.msg === 'peer instances trusted' ? entry.peers : undefined
    } catch {
      return undefined
    }
  })
  const two = await start(1)
  t.same(await peersOfOne, ['192.168.0.11'], "instance 1 trusts instance 2's PA")

  const generationOf = async (r: Running) => Number((await call(`${r.url}/v1/config`)).etag?.replace(/"/g, ''))
  await waitFor('the same generation on both', async () => (await generationOf(one)) === (await generationOf(two)))

  await t.test('a change through instance 1 runs on instance 2; its node stays its own', async (t) => {
    const res = await call(`${one.url}/v1/policy/lookup-records/bulk`, 'POST', { add: [record(1)] })
    t.equal(res.status, 200, JSON.stringify(res.body))
    const generation = res.body.generation as number
    await waitFor('instance 2 runs it', async () => (await generationOf(two)) === generation)
    const config = (await call(`${two.url}/v1/config`)).body
    t.ok(config.lookupRecords.some((r: any) => r.customerAddress === record(1).customerAddress))
    t.equal(config.node.providerAddress, '192.168.0.11')
    const stats = (await call(`${two.url}/v1/stats`)).body
    t.equal(stats.generation, generation, "instance 2's engine runs it")
  })

  await t.test('concurrent writes through both instances: exactly one 412', async (t) => {
    const generation = await generationOf(one)
    await waitFor('instance 2 at it', async () => (await generationOf(two)) === generation)
    const answers = await Promise.all(
      [one, two].map((r, i) =>
        call(`${r.url}/v1/policy/lookup-records/bulk`, 'POST', { add: [record(10 + i)] }, { 'if-match': `"${generation}"` }),
      ),
    )
    const statuses = answers.map((a) => a.status).sort()
    t.same(statuses, [200, 412], JSON.stringify(answers.map((a) => a.body)))
    t.equal(answers.find((a) => a.status === 412)?.body.code, ErrorCodes.PRECONDITION_FAILED)
  })

  await t.test('20,000 lookup records through POST /v1/policy/lookup-records/bulk', async (t) => {
    const add = Array.from({ length: 20_000 }, (_, i) => record(1000 + i))
    const res = await call(`${two.url}/v1/policy/lookup-records/bulk`, 'POST', { add })
    t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300))
    t.equal(res.body.added, 20_000)
    await waitFor('instance 1 runs it', async () => (await generationOf(one)) === res.body.generation, 60_000)
    const a = await call(`${one.url}/v1/policy/lookup-records?limit=1`)
    const b = await call(`${two.url}/v1/policy/lookup-records?limit=1`)
    t.equal(Number(a.total), res.body.total, 'instance 1 holds every record')
    t.equal(Number(b.total), res.body.total, 'instance 2 too')
  })

  await t.test('etcd lost: writes 503, reads and the running configuration stay; catch-up when it returns', async (t) => {
    const generation = await generationOf(one)
    await etcd.stop()
    await waitFor('instance 1 degraded', async () => (await call(`${one.url}/readyz`)).body.status === 'degraded')
    const ready = await call(`${one.url}/readyz`)
    t.equal(ready.status, 200, 'still forwarding: /readyz 200')
    t.match(ready.body.store, /^unreachable/)
    const metrics = (await call(`${one.url}/metrics`)).body as string
    t.match(metrics, /^nvlb_store_connected 0$/m)
    const refused = await call(`${one.url}/v1/policy/lookup-records/bulk`, 'POST', { add: [record(50)] })
    t.equal(refused.status, 503)
    t.equal(refused.body.code, ErrorCodes.STORE_UNAVAILABLE)
    t.equal(await generationOf(one), generation, 'reads answer, nothing changed')
    t.equal((await call(`${two.url}/v1/stats`)).body.generation, generation, 'the engine keeps its configuration')

    await etcd.restart()
    await waitFor('instance 1 back', async () => (await call(`${one.url}/readyz`)).body.status === 'ready')
    const res = await call(`${one.url}/v1/policy/lookup-records/bulk`, 'POST', { add: [record(50)] })
    t.equal(res.status, 200, JSON.stringify(res.body))
    await waitFor('instance 2 caught up', async () => (await generationOf(two)) === res.body.generation)
    t.match((await call(`${two.url}/metrics`)).body as string, /^nvlb_store_connected 1$/m)
  })

  await t.test('GET /v1/instances on either lists both; a killed instance leaves when its lease expires', async (t) => {
    await waitFor('both registered', async () => (await call(`${two.url}/v1/instances`)).body.instances?.length === 2)
    const list = (await call(`${one.url}/v1/instances`)).body.instances as any[]
    t.same(
      list.map((i) => [i.name, i.providerAddress, i.apiAddress, i.ready, i.storeConnected]),
      [
        ['nvlb1', '192.168.0.10', one.url, true, true],
        ['nvlb2', '192.168.0.11', two.url, true, true],
      ],
    )
    await waitFor('registered generations current', async () => {
      const g = await generationOf(one)
      return ((await call(`${one.url}/v1/instances`)).body.instances as any[]).every((i) => i.generation === g)
    })
    const cli = await nvlb(['instances', '--api', two.url], cleanEnv({ NVLB_TOKEN: TOKEN }))
    t.equal(cli.code, 0, cli.stderr)
    t.match(cli.stdout, /^NAME\s+PA\s+EXTERNAL\s+API\s+GENERATION\s+READY\s+STORE\s+SEEN/)
    t.match(cli.stdout, /\nnvlb1\s+192\.168\.0\.10\s.*\syes\s+connected\s/)
    t.match(cli.stdout, /\nnvlb2\s+192\.168\.0\.11\s.*\syes\s+connected\s/)
    const cliJson = await nvlb(['instances', '--json', '--api', one.url], cleanEnv({ NVLB_TOKEN: TOKEN }))
    t.same((JSON.parse(cliJson.stdout).instances as any[]).map((i) => i.name), ['nvlb1', 'nvlb2'])
    two.child.kill('SIGKILL')
    await two.exited
    await waitFor('instance 2 gone from the list', async () => {
      const names = ((await call(`${one.url}/v1/instances`)).body.instances as any[]).map((i) => i.name)
      return names.length === 1 && names[0] === 'nvlb1'
    })
    t.pass('lease expired')
  })

  one.child.kill('SIGTERM')
  t.equal((await one.exited).code, 0, 'SIGTERM: clean exit')
  const client = new Etcd3({ hosts: `http://127.0.0.1:${etcd.clientPort}` })
  t.teardown(() => client.close())
  t.same(await client.getAll().prefix('/test-run/instances/').keys(), [], 'a stopped instance removed its entry at once')
  t.ok((await client.getAll().prefix('/test-run/config/res/lookupRecords/').count()) > 20_000, 'one etcd key per lookup record')
})

t.test('--store refused before anything starts: a bad URL, an etcd that does not answer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-run-etcd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const bad = await nvlb(['run', '--store', 'http://127.0.0.1:2379', '--state-dir', join(dir, 's'), '--no-dataplane'], cleanEnv({ NVLB_TOKEN: TOKEN }))
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^nvlb: --store must be etcd:\/\/HOST:PORT\[\/PREFIX\]/)
  const ttl = await nvlb(['run', '--store', 'etcd://127.0.0.1:2379', '--instance-ttl', '1', '--no-dataplane'], cleanEnv({ NVLB_TOKEN: TOKEN }))
  t.equal(ttl.code, 2)
  t.match(ttl.stderr, /--instance-ttl must be seconds 2\.\.3600/)
  // Port 1 on loopback: nothing listens there.
  const absent = await nvlb(
    ['run', '--store', 'etcd://127.0.0.1:1', '--state-dir', join(dir, 's'), '--api-listen', '127.0.0.1:0', '--no-dataplane'],
    cleanEnv({ NVLB_TOKEN: TOKEN }),
  )
  t.equal(absent.code, 2)
  t.match(absent.stderr, /NVLB_ERR_STORE_UNAVAILABLE the configuration store etcd:\/\/127\.0\.0\.1:1 cannot be reached/)
})
