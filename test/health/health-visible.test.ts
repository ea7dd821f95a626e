/**
 * Health as a user sees it, in process: a real control plane, compiler and
 * admin API with the health service (probes to real HTTP servers on loopback
 * addresses instead of the probe tunnel): GET /v1/pools/NAME health per
 * backend, GET /v1/health, /metrics, `nvlb health`, `nvlb pool show` HEALTH,
 * and a new snapshot with the same generation when a backend goes down.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t from 'tap'
import { buildApi } from '../../lib/api/server'
import { Compiler } from '../../lib/control/compiler'
import { ControlPlane } from '../../lib/control/control-plane'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { HealthService } from '../../lib/health/health-service'
import { main as healthMain } from '../../bin/commands/health'
import { main as poolMain } from '../../bin/commands/pool'
import { emptyStats, TOKEN } from '../api/helpers'
import { referenceConfig } from '../control/reference-config'

const HOSTS: Record<string, string> = {
  '5001/10.1.6.20': '127.0.0.12',
  '5001/10.1.6.21': '127.0.0.13',
  '5001/10.1.6.22': '127.0.0.14',
  '5001/10.1.6.23': '127.0.0.15',
  '6001/10.1.6.21': '127.0.0.16',
  '6001/10.1.6.22': '127.0.0.17',
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function capture(run: () => Promise<number>): Promise<{ code: number; out: string }> {
  let out = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  }) as typeof process.stdout.write
  try {
    const code = await run()
    return { code, out }
  } finally {
    process.stdout.write = write
  }
}

t.test('health in the API, the metrics, the CLI, and the snapshot', async (t) => {
  const port = 19080 + Math.floor(Math.random() * 800)
  const servers = new Map<string, http.Server>()
  const serve = async (backend: string) => {
    const server = http.createServer((_req, res) => res.end('ok'))
    await new Promise<void>((resolve) => server.listen(port, HOSTS[backend]!, resolve))
    servers.set(backend, server)
  }
  for (const backend of Object.keys(HOSTS)) await serve(backend)
  t.teardown(() => {
    for (const s of servers.values()) {
      s.close()
      s.closeAllConnections()
    }
  })

  const doc = referenceConfig()
  doc.node.probeAddress = '198.18.0.1'
  doc.probes = [{ name: 'web', protocol: 'http', port, intervalSeconds: 1, timeoutSeconds: 1, unhealthyThreshold: 2, healthyThreshold: 2 }]
  for (const v of doc.vips) for (const r of v.rules) if (r.protocol === 'tcp') r.probe = 'web'

  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-health-'))
  const logger = pino({ level: 'silent' })
  const compiler = new Compiler()
  let health: HealthService | undefined
  const control = await ControlPlane.open<Snapshot>({
    stateDir,
    logger,
    compile: (c, g) => compiler.compile(c, g, health?.compileInput()),
    initialConfig: doc,
  })
  const published: Snapshot[] = []
  // The epoch "every packet worker" runs: moved by hand below, to see `applied` follow it.
  let running = -1
  control.subscribe((s) => {
    published.push(s)
    health?.snapshotPublished(s.epoch)
  })
  health = new HealthService({
    logger,
    republish: () => control.republish(),
    transport: { configure: async () => undefined, hostOf: (vsid, address) => HOSTS[`${vsid}/${address}`]! },
    runningEpoch: () => running,
  })
  health.snapshotPublished(control.snapshot!.epoch)
  running = control.snapshot!.epoch
  await health.update(control.config)
  const app = await buildApi({ control, stats: () => emptyStats(control.generation), simulate: () => ({}) as never, logger, token: TOKEN, processMetrics: false, health })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.teardown(async () => {
    await app.close()
    await health!.stop()
    await control.close()
    rmSync(stateDir, { recursive: true, force: true })
  })
  const get = async (path: string) => {
    const res = await fetch(url + path, { headers: { authorization: `Bearer ${TOKEN}` } })
    return { status: res.status, text: await res.text() }
  }

  await until('all up', () => health!.list().length === 6 && health!.list().every((e) => e.state === 'up'))
  t.equal(health.applied(), true, 'all up: nothing down, and the packet path runs the last snapshot')
  const before = published.length
  servers.get('5001/10.1.6.21')!.close()
  servers.get('5001/10.1.6.21')!.closeAllConnections()
  await until('blue-vm2 down', () => health!.list().some((e) => e.state === 'down'))
  await until('a snapshot without it', () => published.length > before && published[published.length - 1]!.backendDown.some((d) => d === 1))
  const snap = published[published.length - 1]!
  t.equal(snap.generation, control.generation, 'same configuration generation')
  t.ok(snap.epoch > published[before - 1]!.epoch, 'a new epoch')
  t.equal(health.publishedEpoch(), snap.epoch)
  t.equal(health.applied(), false, 'not applied while the workers run the older epoch (same generation)')
  running = snap.epoch
  t.equal(health.applied(), true, 'applied once they run its epoch')
  t.equal(JSON.parse((await get('/v1/health')).text).applied, true)
  t.equal(JSON.parse((await get('/v1/health')).text).notProbing, null)
  const downIds = [...snap.backendDown.keys()].filter((i) => snap.backendDown[i] === 1)
  t.same(downIds.map((i) => `${snap.backendPool[i]} ${snap.backendName[i]}`), ['blue-web 5001/10.1.6.21:80'])
  for (const rule of snap.ruleList) {
    if (rule !== null && rule.pool === 'blue-web') t.notOk(rule.table.includes(downIds[0]!), `${rule.vipName}: no Maglev slot for it`)
  }

  const pool = JSON.parse((await get('/v1/pools/blue-web')).text)
  const vm2 = pool.backends.find((b: any) => b.address === '10.1.6.21')
  t.match(vm2.health, { state: 'down', probe: 'web', since: String, lastCheck: String, lastError: /ECONNREFUSED/ })
  t.equal(pool.backends.find((b: any) => b.address === '10.1.6.20').health.state, 'up')
  const red = JSON.parse((await get('/v1/pools/red-web')).text)
  t.equal(red.backends.find((b: any) => b.address === '10.1.6.21').health.state, 'up', "red's 10.1.6.21 is another backend")

  // The document never stores health: writing back what GET returned keeps it out.
  const put = await fetch(`${url}/v1/pools/blue-web`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(pool),
  })
  t.equal(put.status, 200)
  t.notOk(JSON.stringify(control.config).includes('"health"'), 'health is not part of the configuration')

  const all = JSON.parse((await get('/v1/health')).text)
  t.equal(all.backends.length, 6)
  t.match(all.backends.find((e: any) => e.backend === '5001/10.1.6.21:80'), { pool: 'blue-web', state: 'down', virtualSubnetId: 5001, address: '10.1.6.21', port: 80 })

  const metrics = (await get('/metrics')).text
  t.match(metrics, /nvlb_backend_up\{pool="blue-web",backend="5001\/10\.1\.6\.21:80"\} 0/)
  t.match(metrics, /nvlb_backend_up\{pool="red-web",backend="6001\/10\.1\.6\.21:80"\} 1/)
  t.match(metrics, /nvlb_probe_latency_seconds_bucket\{le="[0-9.]+",probe="web"\} \d+/)
  t.match(metrics, /nvlb_probe_failure_seconds_count\{probe="web"\} [1-9]/)

  const cli = await capture(() => healthMain(['--api', url, '--token', TOKEN]))
  t.equal(cli.code, 0)
  t.match(cli.out, /^POOL\s+BACKEND\s+STATE\s+SINCE\s+PROBE\s+LAST CHECK\s+LATENCY\s+LAST ERROR/)
  t.match(cli.out, /blue-web\s+5001\/10\.1\.6\.21:80\s+down\s+\d+s ago\s+web\s+\d+s ago\s+-\s+ECONNREFUSED/)
  t.match(cli.out, /red-web\s+6001\/10\.1\.6\.21:80\s+up\s+.*ms/)
  const onlyRed = await capture(() => healthMain(['--api', url, '--token', TOKEN, '--pool', 'red-web', '--json']))
  t.same(JSON.parse(onlyRed.out).backends.map((e: any) => e.pool), ['red-web', 'red-web'])

  const show = await capture(() => poolMain(['show', 'blue-web', '--api', url, '--token', TOKEN]))
  t.match(show.out, /VSID\s+ADDRESS\s+WEIGHT\s+STATE\s+HEALTH/)
  t.match(show.out, /5001\s+10\.1\.6\.21\s+1\s+active\s+down/)
  t.match(show.out, /5001\s+10\.1\.6\.20\s+1\s+active\s+up/)
})
