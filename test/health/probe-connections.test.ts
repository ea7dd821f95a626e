/**
 * The tunnel thread's probe connections (kernel TCP through libc, no event
 * loop) against real servers on loopback: tcp handshakes, HTTP verdicts by
 * status line, refused ports, servers that never answer, answers that are not
 * HTTP, and the request a server sees.
 */
import http from 'node:http'
import net from 'node:net'
import t, { type Test } from 'tap'
import { parseIPv4 } from '../../lib/packet/address'
import { httpProbeRequest, IDLE_SWEEP_MS, KEEP_MAX_AGE_MS, ProbeConnections, PROBE_HTTP, PROBE_TCP } from '../../lib/health/probe-connections'

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

/** Steps `connections` until `until()` holds (bounded). */
async function stepUntil(connections: ProbeConnections, until: () => boolean, what: string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms
  while (!until()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    connections.step()
    await new Promise((r) => setTimeout(r, 1))
  }
}

/** One probe at a time: its outcome once its connection is idle again or closed. */
function prober(t: Test, port: number, options: { keepMs?: number; timeoutMs?: number; now?: () => number } = {}) {
  const outcomes = new Map<number, Outcome>()
  const connections = new ProbeConnections((id, ok, error, latencyMs) => {
    t.notOk(outcomes.has(id), `probe ${id} reported once`)
    outcomes.set(id, { ok, error, latencyMs })
  }, options.now)
  t.teardown(() => connections.closeAll())
  const request = httpProbeRequest('/', '10.1.6.21', (options.keepMs ?? 5000) > 0)
  let next = 1
  const probe = async (): Promise<Outcome> => {
    const id = next++
    connections.start({ id, kind: PROBE_HTTP, address: parseIPv4('127.0.0.1'), port, request, timeoutMs: options.timeoutMs ?? 2000, keepMs: options.keepMs ?? 5000 })
    await stepUntil(connections, () => outcomes.has(id) && connections.active === 0, `probe ${id}`)
    return outcomes.get(id)!
  }
  return { connections, probe }
}

/** An HTTP server that counts the connections it accepted and the requests it answered. */
async function countingServer(t: Test, handler: http.RequestListener = (_req, res) => res.end('ok')) {
  const server = http.createServer(handler)
  const seen = { connections: 0, requests: 0, closed: 0 }
  server.on('connection', (s: net.Socket) => {
    seen.connections++
    s.on('close', () => seen.closed++)
  })
  server.on('request', () => seen.requests++)
  t.teardown(() => {
    server.close()
    server.closeAllConnections()
  })
  const port = await listen(server)
  return { server, port, seen }
}

t.test('keep-alive: one connection carries a backend\'s probes until the server closes it', async (t) => {
  const { server, port, seen } = await countingServer(t)
  const { connections, probe } = prober(t, port)
  for (let i = 0; i < 5; i++) t.match(await probe(), { ok: true, error: null })
  t.same({ connections: seen.connections, requests: seen.requests }, { connections: 1, requests: 5 }, 'five GETs on one connection')
  t.equal(connections.kept, 1, 'kept for the next probe')
  t.equal(connections.connects, 1)

  // The server ends its idle keep-alive connections (its keep-alive timeout) but still listens: the
  // next probe goes on a new connection, and succeeds.
  server.closeAllConnections()
  t.match(await probe(), { ok: true, error: null }, 'the probe after the server closed the kept connection succeeds')
  t.equal(seen.connections, 2, 'on a new connection')

  // The server stops: the kept connection ends with it and the next probe is refused at once.
  server.close()
  server.closeAllConnections()
  t.match(await probe(), { ok: false, error: 'ECONNREFUSED' }, 'a stopped server fails the next probe')
  t.equal(connections.kept, 0)
})

t.test('keep-alive: a request the server drops unanswered on a kept connection is sent once more on a new one', async (t) => {
  // The server's keep-alive timeout crossing the request: each connection answers one request and
  // drops the next without a word.
  let accepted = 0
  const server = net.createServer((s) => {
    accepted++
    let answered = false
    s.on('error', () => undefined)
    s.on('data', () => {
      if (answered) return void s.destroy()
      answered = true
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
  })
  t.teardown(() => server.close())
  const port = await listen(server)
  const { connections, probe } = prober(t, port)
  t.match(await probe(), { ok: true })
  t.match(await probe(), { ok: true }, 'retried on a new connection')
  t.equal(accepted, 2)
  t.equal(connections.connects, 2)
  t.match(await probe(), { ok: true })
  t.equal(accepted, 3, 'one retry per dropped request, never a failure')
})

t.test('keep-alive: answers are framed (Content-Length in pieces, chunked, 1xx first) and only good ones keep their connection', async (t) => {
  // Scripted answers, one per request, each connection counted.
  const answers = [
    ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 10\r\n\r\n01234', '56789'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', '2\r\nde\r\n0\r\n\r\n'],
    ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 204 No Content\r\n\r\n'],
    ['HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ]
  let accepted = 0
  let request = 0
  const server = net.createServer((s) => {
    const connection = ++accepted
    s.on('error', () => undefined)
    s.on('data', async () => {
      const parts = answers[request++]!
      for (const part of parts) {
        s.write(part)
        await new Promise((r) => setTimeout(r, 5))
      }
      if (parts[0]!.includes('Connection: close')) s.end()
      void connection
    })
  })
  t.teardown(() => server.close())
  const port = await listen(server)
  const { connections, probe } = prober(t, port)
  t.match(await probe(), { ok: true }, 'Content-Length, split')
  t.match(await probe(), { ok: true }, 'chunked, on the same connection')
  t.match(await probe(), { ok: true }, '100 Continue, then 204')
  t.equal(accepted, 1, 'three answers on one connection')
  t.match(await probe(), { ok: false, error: 'HTTP 503' })
  t.equal(connections.kept, 0, 'a failed probe does not keep its connection')
  t.match(await probe(), { ok: true }, 'Connection: close')
  t.equal(accepted, 2, 'after the failure, a new connection')
  t.equal(connections.kept, 0, 'the server closed it')
  t.match(await probe(), { ok: true }, 'an answer followed by bytes nobody asked for')
  t.equal(connections.kept, 0, 'that connection is not used again')
  t.match(await probe(), { ok: true })
  t.equal(accepted, 4)
})

t.test('keep-alive: a connection is not reused past its maximum age, nor kept idle past keepMs', async (t) => {
  const { seen, port } = await countingServer(t)
  let skew = 0
  const { connections, probe } = prober(t, port, { keepMs: 1500, now: () => performance.now() + skew })
  t.match(await probe(), { ok: true })
  t.match(await probe(), { ok: true })
  t.equal(seen.connections, 1)
  skew += KEEP_MAX_AGE_MS
  t.match(await probe(), { ok: true })
  t.equal(seen.connections, 2, `older than ${KEEP_MAX_AGE_MS} ms: a new connection`)
  t.equal(connections.kept, 1)
  skew += 1500 + IDLE_SWEEP_MS
  await stepUntil(connections, () => connections.kept === 0, 'the idle connection closed after keepMs')
  await stepUntil(connections, () => seen.closed === 2, 'the server saw both close')
  t.pass('closed')
})

t.test('keep-alive: tcp probes and probes without keepMs never keep a connection', async (t) => {
  const { seen, port } = await countingServer(t)
  const done = new Map<number, boolean>()
  const connections = new ProbeConnections((id, ok) => done.set(id, ok))
  t.teardown(() => connections.closeAll())
  const address = parseIPv4('127.0.0.1')
  connections.start({ id: 1, kind: PROBE_TCP, address, port, request: '', timeoutMs: 2000, keepMs: 5000 })
  connections.start({ id: 2, kind: PROBE_HTTP, address, port, request: httpProbeRequest('/', 'x'), timeoutMs: 2000 })
  await stepUntil(connections, () => done.size === 2 && connections.active === 0, 'both probes')
  t.same([...done].sort(), [[1, true], [2, true]])
  t.equal(connections.kept, 0)
  await stepUntil(connections, () => seen.closed === seen.connections && seen.connections === 2, 'the server saw both connections close')
  t.pass('closed')
})
