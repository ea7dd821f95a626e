/** The console's files: served at /console/ from the build, with a strict Content-Security-Policy. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Compiler } from '../../lib/control/compiler'
import { ControlPlane } from '../../lib/control/control-plane'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { simulateFlow } from '../../lib/dataplane/simulate'
import { buildApi } from '../../lib/api/server'
import { TOKEN, emptyStats, referenceConfig } from '../api/helpers'

async function start(t: { teardown(fn: () => unknown): void }) {
  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-console-'))
  const logger = pino({ level: 'silent' })
  const compiler = new Compiler()
  const control = await ControlPlane.open<Snapshot>({ stateDir, logger, compile: (c, g) => compiler.compile(c, g), initialConfig: referenceConfig() })
  const app = await buildApi({ control, stats: () => emptyStats(control.generation), simulate: simulateFlow, logger, token: TOKEN, processMetrics: false })
  t.teardown(async () => {
    await app.close()
    await control.close()
    rmSync(stateDir, { recursive: true, force: true })
  })
  return { app }
}

t.test('the console is served at /console/, / redirects there; a browser opening /docs logs in first', async (t) => {
  const { app } = await start(t)
  const root = await app.inject({ method: 'GET', url: '/' })
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/console/')
  const page = await app.inject({ method: 'GET', url: '/console/' })
  t.equal(page.statusCode, 200, 'the console is built (npm run build)')
  t.match(String(page.headers['content-type']), /text\/html/)
  t.match(String(page.headers['content-security-policy']), /connect-src 'self'/)
  t.match(page.body, /<script type="module" src="app\.js">/)
  t.equal((await app.inject({ method: 'GET', url: '/console/app.js' })).statusCode, 200)
  const docs = await app.inject({ method: 'GET', url: '/docs', headers: { accept: 'text/html' } })
  t.equal(docs.statusCode, 302)
  t.equal(docs.headers.location, '/console/?next=%2Fdocs')
  t.equal((await app.inject({ method: 'GET', url: '/docs' })).statusCode, 401, 'not a browser: 401')
})

t.test('the console files need no token and hold no data; nothing outside /console/ opens without one', async (t) => {
  const { app } = await start(t)
  for (const file of ['index.html', 'app.js', 'api.js', 'pools.js', 'style.css']) {
    t.equal((await app.inject({ method: 'GET', url: `/console/${file}` })).statusCode, 200, file)
  }
  t.equal((await app.inject({ method: 'GET', url: '/console/../v1/config' })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/consolex' })).statusCode, 401)
})
