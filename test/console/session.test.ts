/**
 * Console sessions, server side: the API token buys an HttpOnly,
 * SameSite=Strict cookie; changes made with it need the CSRF header; logout
 * and expiry end it; failed logins are slowed down per address; the bearer
 * token works as before.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { FastifyInstance } from 'fastify'
import { Compiler } from '../../lib/control/compiler'
import { ControlPlane } from '../../lib/control/control-plane'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { simulateFlow } from '../../lib/dataplane/simulate'
import { buildApi } from '../../lib/api/server'
import { CSRF_HEADER, LoginThrottle, SESSION_COOKIE, SessionStore, sessionCookie } from '../../lib/api/session'
import { TOKEN, emptyStats, referenceConfig } from '../api/helpers'

interface Clock {
  now: number
}

async function start(t: { teardown(fn: () => unknown): void }, clock: Clock) {
  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-console-'))
  const logger = pino({ level: 'silent' })
  const compiler = new Compiler()
  const control = await ControlPlane.open<Snapshot>({
    stateDir,
    logger,
    compile: (c, g) => compiler.compile(c, g),
    initialConfig: referenceConfig(),
  })
  const app: FastifyInstance = await buildApi({
    control,
    stats: () => emptyStats(control.generation),
    simulate: simulateFlow,
    logger,
    token: TOKEN,
    processMetrics: false,
    sessions: new SessionStore({ ttlMs: 60_000, now: () => clock.now }),
    loginThrottle: new LoginThrottle({ now: () => clock.now }),
  })
  t.teardown(async () => {
    await app.close()
    await control.close()
    rmSync(stateDir, { recursive: true, force: true })
  })
  return { app, control }
}

function cookieOf(setCookie: string | string[] | undefined): string {
  const line = Array.isArray(setCookie) ? setCookie[0]! : setCookie!
  return line.split(';')[0]!
}

async function login(app: FastifyInstance, token = TOKEN, remoteAddress = '127.0.0.1') {
  return app.inject({ method: 'POST', url: '/v1/session', payload: { token }, remoteAddress })
}

const BACKEND = '/v1/pools/blue-web/backends/5001/10.1.6.21'

t.test('the token buys a session cookie that opens the API and /docs; logout ends it', async (t) => {
  const clock = { now: 1_000_000 }
  const { app, control } = await start(t, clock)
  const res = await login(app)
  t.equal(res.statusCode, 200)
  const setCookie = String(res.headers['set-cookie'])
  t.match(setCookie, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{40,};`))
  t.match(setCookie, /; HttpOnly/)
  t.match(setCookie, /; SameSite=Strict/)
  t.match(setCookie, /; Path=\//)
  t.match(setCookie, /; Max-Age=60/)
  t.notMatch(setCookie, /Secure/, 'no Secure flag over plain HTTP')
  const body = JSON.parse(res.body)
  t.equal(body.via, 'session')
  t.equal(body.expires, new Date(clock.now + 60_000).toISOString())
  const cookie = cookieOf(res.headers['set-cookie'])

  t.equal((await app.inject({ method: 'GET', url: '/v1/vips', headers: { cookie } })).statusCode, 200)
  const me = JSON.parse((await app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } })).body)
  t.equal(me.csrfToken, body.csrfToken, 'GET /v1/session gives the page its CSRF token')
  t.equal((await app.inject({ method: 'GET', url: '/docs/json', headers: { cookie } })).statusCode, 200, '/docs in the same session')
  const docs = await app.inject({ method: 'GET', url: '/docs', headers: { cookie, accept: 'text/html' } })
  t.equal(docs.statusCode, 200, 'the Swagger UI page opens with the cookie')
  t.match(docs.body, /swagger/i)

  const out = await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, [CSRF_HEADER]: body.csrfToken } })
  t.equal(out.statusCode, 204)
  t.match(String(out.headers['set-cookie']), /Max-Age=0/, 'logout clears the cookie')
  const after = await app.inject({ method: 'GET', url: '/v1/vips', headers: { cookie } })
  t.equal(after.statusCode, 401, 'the old cookie no longer works')
  t.equal(JSON.parse(after.body).code, 'NVLB_ERR_UNAUTHORIZED')
  t.equal(control.generation, 1)
})

t.test('a change with the cookie needs the CSRF header from this origin; a refused one changes nothing', async (t) => {
  const clock = { now: 5_000_000 }
  const { app, control } = await start(t, clock)
  const res = await login(app)
  const cookie = cookieOf(res.headers['set-cookie'])
  const csrf = JSON.parse(res.body).csrfToken as string
  const patch = { state: 'draining' }
  const before = JSON.stringify(control.config)
  for (const [what, headers] of [
    ['no CSRF header', { cookie }],
    ['a wrong CSRF header', { cookie, [CSRF_HEADER]: csrf.slice(0, -1) + 'x' }],
    ['another origin', { cookie, [CSRF_HEADER]: csrf, origin: 'http://evil.example' }],
  ] as const) {
    const r = await app.inject({ method: 'PATCH', url: BACKEND, headers, payload: patch })
    t.equal(r.statusCode, 403, what)
    t.equal(JSON.parse(r.body).code, 'NVLB_ERR_CSRF_REJECTED', what)
  }
  t.equal(JSON.stringify(control.config), before, 'nothing changed')
  const ok = await app.inject({
    method: 'PATCH',
    url: BACKEND,
    headers: { cookie, [CSRF_HEADER]: csrf, origin: 'http://localhost:80', host: 'localhost:80' },
    payload: patch,
  })
  t.equal(ok.statusCode, 200, ok.body)
  t.equal(JSON.parse(ok.body).state, 'draining')
  const other = await login(app)
  const csrf2 = JSON.parse(other.body).csrfToken as string
  t.not(csrf2, csrf, 'each session has its own CSRF token')
  const crossed = await app.inject({ method: 'PATCH', url: BACKEND, headers: { cookie, [CSRF_HEADER]: csrf2 }, payload: patch })
  t.equal(crossed.statusCode, 403, "another session's CSRF token does not do")
})

t.test('the bearer token works unchanged, with or without a cookie; no CSRF header needed', async (t) => {
  const { app } = await start(t, { now: 0 })
  const r = await app.inject({
    method: 'PATCH',
    url: BACKEND,
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { weight: 3 },
  })
  t.equal(r.statusCode, 200)
  const me = JSON.parse((await app.inject({ method: 'GET', url: '/v1/session', headers: { authorization: `Bearer ${TOKEN}` } })).body)
  t.same(me, { authenticated: true, via: 'bearer' })
  const bad = await app.inject({
    method: 'GET',
    url: '/v1/vips',
    headers: { authorization: 'Bearer nope', cookie: `${SESSION_COOKIE}=whatever` },
  })
  t.equal(bad.statusCode, 401, 'a wrong bearer token is refused even with a cookie')
})

t.test('sessions expire', async (t) => {
  const clock = { now: 10_000 }
  const { app } = await start(t, clock)
  const cookie = cookieOf((await login(app)).headers['set-cookie'])
  clock.now += 59_000
  t.equal((await app.inject({ method: 'GET', url: '/v1/vips', headers: { cookie } })).statusCode, 200)
  clock.now += 1_000
  t.equal((await app.inject({ method: 'GET', url: '/v1/vips', headers: { cookie } })).statusCode, 401, 'expired after its TTL')
})

t.test('a wrong token gets a clear message and no hint; repeated failures are slowed down per address', async (t) => {
  const clock = { now: 100_000 }
  const { app } = await start(t, clock)
  const wrong = await login(app, 'not-the-token', '10.0.0.1')
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.headers['set-cookie'], undefined)
  const body = JSON.parse(wrong.body)
  t.equal(body.code, 'NVLB_ERR_UNAUTHORIZED')
  t.equal(body.message, 'the token is not valid')
  t.equal(JSON.parse((await login(app, TOKEN.slice(0, -1), '10.0.0.1')).body).message, 'the token is not valid', 'a near miss reads the same')
  t.equal(JSON.parse((await login(app, '', '10.0.0.1')).body).message, 'enter the API token')
  // Three failures so far: the next attempt, even with the right token, must wait.
  const blocked = await login(app, TOKEN, '10.0.0.1')
  t.equal(blocked.statusCode, 429)
  t.equal(JSON.parse(blocked.body).code, 'NVLB_ERR_LOGIN_THROTTLED')
  t.equal(blocked.headers['retry-after'], '1')
  t.equal((await login(app, TOKEN, '10.0.0.2')).statusCode, 200, 'another address is not affected')
  clock.now += 1_000
  t.equal((await login(app, 'wrong again', '10.0.0.1')).statusCode, 401)
  const longer = await login(app, TOKEN, '10.0.0.1')
  t.equal(longer.statusCode, 429)
  t.equal(longer.headers['retry-after'], '2', 'each further failure doubles the wait')
  clock.now += 2_000
  t.equal((await login(app, TOKEN, '10.0.0.1')).statusCode, 200, 'the right token after the wait')
  t.equal((await login(app, 'wrong', '10.0.0.1')).statusCode, 401, 'a success forgets the failures')
})

t.test('the cookie is Secure over TLS', async (t) => {
  const store = new SessionStore()
  const session = store.create()
  t.match(sessionCookie({ protocol: 'https' } as never, session, store.ttlMs), /; Secure/)
  t.notMatch(sessionCookie({ protocol: 'http' } as never, session, store.ttlMs), /Secure/)
})

t.test('GET /v1/instance: this instance as the overview shows it', async (t) => {
  const { app } = await start(t, { now: 0 })
  const r = await app.inject({ method: 'GET', url: '/v1/instance', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(r.statusCode, 200)
  const body = JSON.parse(r.body)
  t.equal(body.providerAddress, referenceConfig().node.providerAddress)
  t.equal(body.externalAddress, referenceConfig().node.externalAddress)
  t.equal(body.ready, true)
  t.equal(body.configGeneration, 1)
  t.equal(body.adoptedGeneration, 1)
  t.type(body.name, 'string')
})
