/**
 * `npm run screenshots`: refreshes docs/console-overview.png and
 * docs/console-pool.png from the real thing. Brings up the reference
 * deployment, sends HTTP load through the two public VIPs, drains one Blue
 * backend through the API, and photographs the console in Chromium
 * (playwright-core, Debian's /usr/bin/chromium) once the chart has a minute
 * of traffic. Needs root; everything it starts is stopped at the end, also on
 * failure.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { deploy, type Deployment } from './deploy'
import { startLoad, type LoadRun } from './load'

/** npm runs scripts in the package's directory. */
const DOCS = join(process.cwd(), 'docs')
const TRAFFIC_SECONDS = 90
const CHART_SECONDS = 70

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('screenshots: needs root (it creates network namespaces)\n')
    return 2
  }
  const log = (m: string) => process.stderr.write(`${m}\n`)
  let deployment: Deployment | undefined
  let context: BrowserContext | undefined
  const loads: LoadRun[] = []
  const profile = mkdtempSync(join(tmpdir(), 'nvlb-screenshots-'))
  try {
    deployment = await deploy({ log })
    const d = deployment
    const drain = await fetch(`${d.apiUrl}/v1/pools/blue-web/backends/5001/10.1.6.23`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'draining' }),
    })
    if (!drain.ok) throw new Error(`draining 5001/10.1.6.23: ${drain.status} ${await drain.text()}`)
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    })
    const page = context.pages()[0] ?? (await context.newPage())
    await page.goto(`${d.apiUrl}/console/`)
    await page.locator('#token').fill(d.token)
    await page.locator('#login-button').click()
    await page.locator('#nav').waitFor({ state: 'visible' })
    await page.goto(`${d.apiUrl}/console/#/overview`)
    await sleep(6000)
    for (const vip of d.vips.filter((v) => v.virtualSubnetId === 0)) {
      loads.push(startLoad(vip.fromNamespace, vip.url, { durationSeconds: TRAFFIC_SECONDS, connections: 4 }))
    }
    log(`load through ${loads.length} public VIPs; the chart fills for ${CHART_SECONDS} s`)
    await sleep(CHART_SECONDS * 1000)
    await page.screenshot({ path: join(DOCS, 'console-overview.png'), fullPage: true })
    await page.goto(`${d.apiUrl}/console/#/pools/blue-web`)
    await page.locator('tr[data-backend]').first().waitFor()
    await sleep(5000)
    await page.screenshot({ path: join(DOCS, 'console-pool.png'), fullPage: true })
    log(`wrote ${join(DOCS, 'console-overview.png')} and ${join(DOCS, 'console-pool.png')}`)
    return 0
  } finally {
    for (const l of loads) l.stop()
    await Promise.all(loads.map((l) => l.result.catch(() => undefined)))
    await context?.close().catch(() => undefined)
    rmSync(profile, { recursive: true, force: true })
    await deployment?.teardown()
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`screenshots: ${err.stack ?? err.message}\n`)
      process.exit(1)
    },
  )
}
