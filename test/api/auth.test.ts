/**
 * Every route but GET /healthz needs the bearer token; a refused request
 * changes nothing. The token comes from NVLB_TOKEN or the state dir.
 */
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bearerToken } from '../../lib/api/auth'
import { readTokenFile, resolveServerToken } from '../../lib/api/token'
import { TOKEN, referenceConfig, startApi } from './helpers'

const SAMPLE_PARAMS: Record<string, string> = {
  name: 'blue-web',
  vsid: '5001',
  address: '10.1.6.21',
  customerId: 'blue',
  prefixAddress: '0.0.0.0',
  prefixLength: '0',
}

t.test('every documented route refuses a missing or wrong token with 401 and changes nothing', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const openapi = JSON.parse((await api.call({ method: 'GET', url: '/docs/json' })).body)
  const routes: Array<{ method: string; url: string }> = [
    { method: 'GET', url: '/docs' },
    { method: 'GET', url: '/docs/json' },
    { method: 'GET', url: '/docs/yaml' },
    { method: 'GET', url: '/no/such/route' },
  ]
  for (const [path, ops] of Object.entries<Record<string, unknown>>(openapi.paths)) {
    const url = path.replace(/\{(\w+)\}/g, (_m, p: string) => SAMPLE_PARAMS[p] ?? 'x')
    for (const method of Object.keys(ops)) routes.push({ method: method.toUpperCase(), url })
  }
  t.ok(routes.length >= 30, `${routes.length} routes`)

  const stateBefore = api.stateText()
  const configBefore = JSON.stringify(api.control.config)
  const badHeaders: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['wrong token', { authorization: `Bearer ${TOKEN.slice(0, -1)}X` }],
    ['token with a suffix', { authorization: `Bearer ${TOKEN}0` }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['basic auth', { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }],
    ['the token without a scheme', { authorization: TOKEN }],
  ]
  for (const route of routes) {
    if (route.method === 'GET' && route.url === '/healthz') continue
    for (const [what, headers] of badHeaders) {
      const res = await api.app.inject({
        method: route.method as 'GET',
        url: route.url,
        headers: { ...headers, 'content-type': 'application/json' },
        payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}',
      })
      if (res.statusCode !== 401) t.fail(`${route.method} ${route.url} with ${what}: ${res.statusCode}`)
      const body = JSON.parse(res.body)
      if (body.code !== 'NVLB_ERR_UNAUTHORIZED') t.fail(`${route.method} ${route.url}: code ${body.code}`)
      if (res.headers['www-authenticate'] !== 'Bearer realm="nvlb"') t.fail(`${route.method} ${route.url}: WWW-Authenticate`)
    }
  }
  t.pass(`${routes.length - 1} routes × ${badHeaders.length} bad credentials → 401 NVLB_ERR_UNAUTHORIZED`)
  t.equal(api.control.generation, 1)
  t.equal(JSON.stringify(api.control.config), configBefore)
  t.equal(api.stateText(), stateBefore)
})

t.test('GET /healthz needs no token; the right token opens the rest', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  t.equal((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 401)
  t.equal(
    (await api.app.inject({ method: 'GET', url: '/v1/vips', headers: { authorization: `bearer ${TOKEN}` } })).statusCode,
    200,
    'the scheme is case-insensitive',
  )
})

t.test('bearerToken parses the Authorization header', async (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc')
  t.equal(bearerToken('BEARER  abc '), 'abc')
  t.equal(bearerToken('Bearer'), undefined)
  t.equal(bearerToken('Basic abc'), undefined)
  t.equal(bearerToken(undefined), undefined)
})

t.test('the server token: NVLB_TOKEN, else the state dir, else generated there with mode 0600', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const stateDir = join(dir, 'state')

  const fromEnv = resolveServerToken(stateDir, { NVLB_TOKEN: 'from-env' })
  t.same(fromEnv, { token: 'from-env', path: undefined, generated: false })
  t.equal(readTokenFile(stateDir), undefined, 'nothing written when NVLB_TOKEN is set')

  const first = resolveServerToken(stateDir, {})
  t.equal(first.generated, true)
  t.equal(first.path, join(stateDir, 'token'))
  t.ok(first.token.length >= 32, 'a long random token')
  t.equal(statSync(first.path!).mode & 0o777, 0o600)
  t.equal(readFileSync(first.path!, 'utf8').trim(), first.token)

  const second = resolveServerToken(stateDir, {})
  t.same(second, { token: first.token, path: first.path, generated: false }, 'the stored token is reused')
  t.not(resolveServerToken(mkdtempSync(join(dir, 'other-')), {}).token, first.token, 'tokens are random')

  writeFileSync(join(stateDir, 'token'), '  spaced-token \n')
  t.equal(readTokenFile(stateDir), 'spaced-token')
})
