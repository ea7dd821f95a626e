/**
 * The pieces of the console's browser tests: an `nvlb run --no-dataplane`
 * with the demo configuration, Debian's Chromium driven by playwright-core,
 * and a record of every request the pages make. Everything started is
 * stopped in the test's teardown, also when the test fails.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { ROOT, cleanEnv, startNvlb, waitForLine } from '../cli/helpers'

export const CHROMIUM = '/usr/bin/chromium'
export const DEMO_CONFIG = join(ROOT, 'examples', 'blue-red', 'config.json')
export const TOKEN = 'console-test-token-0123456789abcdef'

interface Teardownable {
  teardown(fn: () => unknown): void
}

export interface Server {
  url: string
  /** fetch against the API with the bearer token (what the CLI does). */
  api(path: string, init?: RequestInit): Promise<Response>
}

/** `nvlb run --no-dataplane --config examples/blue-red/config.json` on a free loopback port. */
export async function startServer(t: Teardownable, config = DEMO_CONFIG): Promise<Server> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-console-'))
  const child = startNvlb(
    ['run', '--no-dataplane', '--config', config, '--state-dir', stateDir, '--api-listen', '127.0.0.1:0', '--log-level', 'info'],
    cleanEnv({ NVLB_TOKEN: TOKEN }),
  )
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(stateDir, { recursive: true, force: true })
  })
  const url = await waitForLine(child, (line) => {
    if (!line.includes('admin API listening')) return undefined
    return (JSON.parse(line) as { url: string }).url
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n${stderr}`)
  })
  return {
    url,
    api: (path, init = {}) =>
      fetch(url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } }),
  }
}

export interface BrowserPage {
  context: BrowserContext
  page: Page
  /** Every URL a page of this context requested. */
  requests: string[]
  /** Uncaught errors and console errors of the pages. */
  errors: string[]
}

export async function openBrowser(t: Teardownable): Promise<BrowserPage> {
  const profile = mkdtempSync(join(tmpdir(), 'nvlb-chromium-'))
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
  })
  t.teardown(async () => {
    await browser.close().catch(() => undefined)
    rmSync(profile, { recursive: true, force: true })
  })
  const requests: string[] = []
  const errors: string[] = []
  browser.on('request', (r) => requests.push(r.url()))
  const page = browser.pages()[0] ?? (await browser.newPage())
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  return { context: browser, page, requests, errors }
}

/** Logs in through the login page and waits for the overview. */
export async function login(page: Page, url: string, token = TOKEN): Promise<void> {
  await page.goto(url + '/')
  await page.locator('#token').fill(token)
  await page.locator('#login-button').click()
  await page.locator('#nav').waitFor({ state: 'visible' })
}

/**
 * Resolves when `predicate` holds, polled from the test (the console's CSP
 * forbids the eval that page.waitForFunction with a string would need).
 */
export async function pollUntil(what: string, predicate: () => Promise<boolean>, timeoutMs = 30_000, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
