/**
 * The console's entry: find out whether this browser has a session (GET
 * /v1/session), show the login or the page named in the URL's #fragment, and
 * keep the live figures running while logged in.
 */
import { describeError, request, setCsrfToken, whenUnauthorized } from './api.js'
import { h, notice, replace } from './dom.js'
import { live } from './live.js'
import { renderLogin, type SessionInfo } from './login.js'
import { nodePage } from './node.js'
import { overviewPage } from './overview.js'
import { showBanner, type Page, type Stop } from './page.js'
import { policyPage } from './policy.js'
import { poolsPage } from './pools.js'
import { simulatePage } from './simulate.js'
import { vipsPage } from './vips.js'

const PAGES: Record<string, Page> = {
  overview: overviewPage,
  vips: vipsPage,
  pools: poolsPage,
  policy: policyPage,
  node: nodePage,
  simulate: simulatePage,
}

const main = document.getElementById('main')!
const nav = document.getElementById('nav')!
const logout = document.getElementById('logout') as HTMLButtonElement
let stop: Stop | undefined
let loggedIn = false

/** Only a path of this server (the API documentation) may be a place to go back to after the login. */
function nextAfterLogin(): string | undefined {
  const next = new URLSearchParams(location.search).get('next')
  return next !== null && /^\/docs(?:[/?#]|$)/.test(next) ? next : undefined
}

async function route(): Promise<void> {
  stop?.()
  stop = undefined
  showBanner(undefined)
  if (!loggedIn) return
  const [name, param] = location.hash.replace(/^#\/?/, '').split('/') as [string, string | undefined]
  const page = PAGES[name] ?? overviewPage
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('current', a.getAttribute('href') === `#/${name || 'overview'}`)
  try {
    stop = await page(main, param === undefined || param === '' ? undefined : decodeURIComponent(param))
  } catch (err) {
    replace(main, notice('error', describeError(err)))
  }
}

function showLogin(message?: string): void {
  loggedIn = false
  stop?.()
  stop = undefined
  live.stop()
  setCsrfToken(undefined)
  nav.hidden = true
  logout.hidden = true
  showBanner(undefined)
  renderLogin(main, started, message)
}

function started(session: SessionInfo): void {
  const next = nextAfterLogin()
  if (next !== undefined) {
    location.assign(next)
    return
  }
  loggedIn = true
  setCsrfToken(session.csrfToken)
  nav.hidden = false
  logout.hidden = session.via !== 'session'
  live.start()
  void route()
}

whenUnauthorized(() => {
  if (loggedIn) showLogin('Your session ended (it expired, you logged out elsewhere, or nvlb restarted). Log in again.')
})

logout.addEventListener('click', async () => {
  try {
    await request('DELETE', '/v1/session')
    history.replaceState(null, '', location.pathname)
    showLogin('Logged out.')
  } catch (err) {
    replace(main, notice('error', `Logging out failed: ${describeError(err)}`), h('p', {}, 'Close the browser to end the session.'))
  }
})

window.addEventListener('hashchange', () => void route())

async function boot(): Promise<void> {
  try {
    const { body } = await request<SessionInfo>('GET', '/v1/session', { quiet401: true })
    started(body)
  } catch {
    showLogin()
  }
}

void boot()
