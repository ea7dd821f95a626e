/**
 * The tunnel thread's probe connections (kernel TCP through libc, no event
 * loop) against real servers on loopback: tcp handshakes, HTTP verdicts by
 * status line, refused ports, servers that never answer, answers that are not
 * HTTP, and the request a server sees.
 */
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { parseIPv4 } from '../../lib/packet/address'
import { httpProbeRequest, ProbeConnections, PROBE_HTTP, PROBE_TCP } from '../../lib/health/probe-connections'

interface Outcome {
  ok: boolean
  error: string | null
  latencyMs: number
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

t.test('tcp and http probes on kernel sockets', async (t) => {
  const seen: { url: string; host: string | undefined }[] = []
  const ok = http.createServer((req, res) => {
    seen.push({ url: req.url!, host: req.headers.host })
    res.end('fine')
  })
  const failing = http.createServer((_req, res) => {
    res.statusCode = 503
    res.end('no')
  })
  const redirect = http.createServer((_req, res) => {
    res.writeHead(302, { location: '/' })
    res.end()
  })
  // Probes the verdict is in end with an RST: these servers see ECONNRESET.
  const silent = net.createServer((s) => s.on('error', () => undefined))
  const garbage = net.createServer((s) => s.on('error', () => undefined).end('SSH-2.0-OpenSSH_9.2\r\n'))
  const servers = [ok, failing, redirect, silent, garbage]
  t.teardown(() => {
    for (const s of servers) {
      s.close()
      if (s instanceof http.Server) s.closeAllConnections()
    }
  })
  const [okPort, failingPort, redirectPort, silentPort, garbagePort] = await Promise.all(servers.map(listen))
  // A port nothing listens on: open a server, note its port, close it.
  const gone = net.createServer()
  const refusedPort = await listen(gone)
  await new Promise((r) => gone.close(r))

  const outcomes = new Map<number, Outcome>()
  const connections = new ProbeConnections((id, ok, error, latencyMs) => {
    t.notOk(outcomes.has(id), `probe ${id} reported once`)
    outcomes.set(id, { ok, error, latencyMs })
  })
  const loopback = parseIPv4('127.0.0.1')
  const request = httpProbeRequest('/healthz?x=1', '10.1.6.21')
  const jobs = [
    { id: 1, kind: PROBE_TCP, port: okPort!, request: '', timeoutMs: 2000 },
    { id: 2, kind: PROBE_HTTP, port: okPort!, request, timeoutMs: 2000 },
    { id: 3, kind: PROBE_HTTP, port: failingPort!, request, timeoutMs: 2000 },
    { id: 4, kind: PROBE_HTTP, port: redirectPort!, request, timeoutMs: 2000 },
    { id: 5, kind: PROBE_TCP, port: refusedPort, request: '', timeoutMs: 2000 },
    { id: 6, kind: PROBE_HTTP, port: refusedPort, request, timeoutMs: 2000 },
    { id: 7, kind: PROBE_HTTP, port: silentPort!, request, timeoutMs: 300 },
    { id: 8, kind: PROBE_HTTP, port: garbagePort!, request, timeoutMs: 2000 },
  ]
  for (const job of jobs) connections.start({ ...job, address: loopback })
  const deadline = Date.now() + 10000
  while ((outcomes.size < jobs.length || connections.active > 0) && Date.now() < deadline) {
    connections.step()
    await new Promise((r) => setTimeout(r, 1))
  }
  t.equal(outcomes.size, jobs.length, 'every probe has an outcome')
  t.equal(connections.active, 0, 'every connection closed')
  t.match(outcomes.get(1), { ok: true, error: null })
  t.match(outcomes.get(2), { ok: true, error: null })
  t.match(outcomes.get(3), { ok: false, error: 'HTTP 503' })
  t.match(outcomes.get(4), { ok: true, error: null }, '3xx counts as up')
  t.match(outcomes.get(5), { ok: false, error: 'ECONNREFUSED' })
  t.match(outcomes.get(6), { ok: false, error: 'ECONNREFUSED' })
  t.match(outcomes.get(7), { ok: false, error: 'no answer within 0.3 s' })
  t.match(outcomes.get(8), { ok: false, error: 'the answer is not HTTP' })
  t.ok(outcomes.get(7)!.latencyMs >= 300, 'the timeout is what it says')
  t.same(seen, [{ url: '/healthz?x=1', host: '10.1.6.21' }], 'one GET with the path and Host header')
})

t.test('slots are reused: many probes in a row leave nothing open', async (t) => {
  const server = http.createServer((_req, res) => res.end('ok'))
  t.teardown(() => {
    server.close()
    server.closeAllConnections()
  })
  const port = await listen(server)
  let done = 0
  let failed = 0
  const connections = new ProbeConnections((_id, ok) => {
    done++
    if (!ok) failed++
  })
  const request = httpProbeRequest('/', '127.0.0.1')
  const deadline = Date.now() + 20000
  for (let round = 0; round < 20 && Date.now() < deadline; round++) {
    for (let i = 0; i < 10; i++) connections.start({ id: round * 10 + i, kind: PROBE_HTTP, address: parseIPv4('127.0.0.1'), port, request, timeoutMs: 5000 })
    while (connections.active > 0 && Date.now() < deadline) {
      connections.step()
      await new Promise((r) => setTimeout(r, 1))
    }
  }
  t.equal(done, 200)
  t.equal(failed, 0)
  t.equal(connections.active, 0)
})
