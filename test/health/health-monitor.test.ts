/**
 * The health monitor with real HTTP servers on loopback addresses standing in
 * for the probe tunnel's targets (the namespace test runs it through the
 * overlay): thresholds, two tenants' same CA judged apart, dedupe, changes.
 */
import http from 'node:http'
import pino from 'pino'
import t from 'tap'
import { validateConfig } from '../../lib/control/config-validate'
import type { NvlbConfig } from '../../lib/control/config-types'
import { HealthMonitor, type ProbeTransport } from '../../lib/health/health-monitor'
import { referenceConfig } from '../control/reference-config'

const HOSTS: Record<string, string> = {
  '5001/10.1.6.20': '127.0.0.2',
  '5001/10.1.6.21': '127.0.0.3',
  '5001/10.1.6.22': '127.0.0.4',
  '5001/10.1.6.23': '127.0.0.5',
  '6001/10.1.6.21': '127.0.0.6',
  '6001/10.1.6.22': '127.0.0.7',
}

async function serve(host: string, port: number, status = 200): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.writeHead(status, { connection: 'close' })
    res.end(host)
  })
  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  return server
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

async function until(what: string, condition: () => boolean, timeoutMs = 20000): Promise<number> {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return Date.now() - start
}

function config(port: number): NvlbConfig {
  const doc = referenceConfig()
  doc.node.probeAddress = '198.18.0.1'
  doc.probes = [
    { name: 'web', protocol: 'http', port, requestPath: '/health', intervalSeconds: 1, timeoutSeconds: 1, unhealthyThreshold: 2, healthyThreshold: 2 },
    { name: 'web-again', protocol: 'http', port, requestPath: '/health', intervalSeconds: 1, timeoutSeconds: 1, unhealthyThreshold: 2, healthyThreshold: 2 },
  ]
  for (const v of doc.vips) for (const r of v.rules) if (r.protocol === 'tcp') r.probe = v.name === 'blue-app' ? 'web-again' : 'web'
  return validateConfig(doc)
}

t.test('thresholds, independence of same-CA backends, one check per backend however many rules', async (t) => {
  const port = 18080 + Math.floor(Math.random() * 1000)
  const servers = new Map<string, http.Server>()
  for (const [backend, host] of Object.entries(HOSTS)) servers.set(backend, await serve(host, port))
  t.teardown(async () => {
    for (const s of servers.values()) await close(s).catch(() => undefined)
  })
  const lines: any[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  const transport: ProbeTransport = {
    configure: async () => undefined,
    hostOf: (vsid, address) => HOSTS[`${vsid}/${address}`]!,
  }
  let changes = 0
  const monitor = new HealthMonitor({ logger, transport })
  t.teardown(() => monitor.stop())
  monitor.onChange(() => changes++)
  await monitor.update(config(port))
  t.equal(monitor.checkCount, 6, 'six backends, one check each, although two probes and several rules name them')

  await until('every backend up', () => monitor.list().every((e) => e.state === 'up'))
  t.equal(monitor.backendHealth('blue-web', 5001, '10.1.6.21')!.state, 'up')

  // Stop blue-vm2's server (5001/10.1.6.21): red-vm1 (6001/10.1.6.21) keeps being up.
  await close(servers.get('5001/10.1.6.21')!)
  const tookMs = await until('blue-vm2 down', () => monitor.backendHealth('blue-web', 5001, '10.1.6.21')!.state === 'down')
  t.ok(tookMs <= (1 * 2 + 1) * 1000 + 1500, `down after ${tookMs} ms (interval × threshold + timeout)`)
  t.equal(monitor.backendHealth('red-web', 6001, '10.1.6.21')!.state, 'up', 'the other tenant\'s 10.1.6.21 stays up')
  t.same([...monitor.downSet()].sort(), ['blue-web|5001/10.1.6.21:80'])
  await until('change announced', () => changes > 0)
  const h = monitor.backendHealth('blue-web', 5001, '10.1.6.21')!
  t.match(h, { state: 'down', probe: 'web,web-again', lastError: /ECONNREFUSED/ })
  t.ok(Date.parse(h.since) > 0 && h.lastCheck !== null)
  const line = lines.find((l) => l.to === 'down')
  t.match(line, { pool: 'blue-web', backend: '5001/10.1.6.21:80', from: 'up', to: 'down', reason: /2 consecutive failures/ })

  // Start it again: up after healthyThreshold successes.
  servers.set('5001/10.1.6.21', await serve('127.0.0.3', port))
  await until('blue-vm2 up again', () => monitor.backendHealth('blue-web', 5001, '10.1.6.21')!.state === 'up')
  t.equal(monitor.downSet().size, 0)
  t.ok(lines.some((l) => l.backend === '5001/10.1.6.21:80' && l.from === 'down' && l.to === 'up'))

  // A 500 is a failure for an HTTP probe.
  await close(servers.get('6001/10.1.6.22')!)
  servers.set('6001/10.1.6.22', await serve('127.0.0.7', port, 500))
  await until('red-vm2 down on HTTP 500', () => monitor.backendHealth('red-web', 6001, '10.1.6.22')!.state === 'down')
  t.equal(monitor.backendHealth('red-web', 6001, '10.1.6.22')!.lastError, 'HTTP 500')

  // The operator replaces red-web's failing probe: red-vm2 is unknown (trusted) until the new one
  // judges it, and that change is a log line too.
  const next = config(port) as any
  next.probes.push({ name: 'web-tcp', protocol: 'tcp', port, intervalSeconds: 1, timeoutSeconds: 1, unhealthyThreshold: 2, healthyThreshold: 2 })
  for (const v of next.vips) for (const r of v.rules) if (r.pool === 'red-web' && r.probe !== undefined) r.probe = 'web-tcp'
  const seen = lines.length
  await monitor.update(validateConfig(next))
  t.equal(monitor.backendHealth('red-web', 6001, '10.1.6.22')!.state, 'unknown', 'judged by the new probe only')
  t.match(
    lines.slice(seen).filter((l) => l.backend === '6001/10.1.6.22:80'),
    [{ pool: 'red-web', probe: 'web-tcp', from: 'down', to: 'unknown', reason: /configuration changed/ }],
    'one line for the change the configuration made',
  )
  t.same(monitor.downSet(), new Set(), 'nothing down any more')
  await until('red-vm2 up by the TCP probe', () => monitor.backendHealth('red-web', 6001, '10.1.6.22')!.state === 'up')
})
