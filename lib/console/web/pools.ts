/**
 * Pools: each backend with its admin state, health (when the API reports it),
 * weight and share of flows; drain / disable / activate / weight through
 * PATCH with If-Match, so that a change made meanwhile by someone else is
 * refused (412) instead of overwritten.
 */
import { ApiError, describeError, request, seg } from './api.js'
import { fmt, h, notice, replace } from './dom.js'
import { live, rateBetween } from './live.js'
import { showBanner, type Page } from './page.js'
import type { Backend, BackendStats, Pool } from './types.js'

const RATE_WINDOW_MS = 10_000

function backendKey(pool: string, vsid: number, address: string): string {
  return `${pool}/${vsid}/${address}`
}

/** Per backend of every pool: packets and flows created, summed over its ports. */
function sumByBackend(stats: BackendStats[] | undefined): Map<string, { packets: number; flowsCreated: number }> {
  const out = new Map<string, { packets: number; flowsCreated: number }>()
  for (const b of stats ?? []) {
    const key = backendKey(b.pool, b.virtualSubnetId, b.address)
    const sum = out.get(key) ?? { packets: 0, flowsCreated: 0 }
    sum.packets += b.packets
    sum.flowsCreated += b.flowsCreated
    out.set(key, sum)
  }
  return out
}

export const poolsPage: Page = (main, only) => {
  const status = h('div', { id: 'pool-status' })
  const body = h('div', { id: 'pools' }, h('p', { class: 'muted' }, 'Loading…'))
  replace(main, h('h1', {}, only === undefined ? 'Pools' : `Pool ${only}`), status, body)
  let pools: Pool[] = []
  /** The ETag of what the page shows; every change is sent with it. */
  let etag: string | undefined
  let generation = -1
  let busy = false
  /** Weights typed but not saved yet, by backend: a refused change or a redraw does not lose them. */
  const typedWeights = new Map<string, string>()

  const load = async () => {
    try {
      const path = only === undefined ? '/v1/pools' : `/v1/pools/${seg(only)}`
      const res = await request<Pool[] | Pool>('GET', path)
      pools = Array.isArray(res.body) ? res.body : [res.body]
      etag = res.etag
      generation = Number((etag ?? '"-1"').replace(/\D/g, ''))
      showBanner(undefined)
    } catch (err) {
      replace(status, notice('error', describeError(err)))
    }
    draw()
  }

  const change = async (pool: string, b: Backend, patch: { state?: string; weight?: number }, what: string) => {
    if (busy) return
    busy = true
    replace(status, notice('info', `${what}…`))
    try {
      const res = await request<Backend>('PATCH', `/v1/pools/${seg(pool)}/backends/${seg(b.virtualSubnetId)}/${seg(b.address)}`, {
        body: patch,
        ifMatch: etag,
      })
      etag = res.etag
      generation = Number((etag ?? '"-1"').replace(/\D/g, ''))
      const target = pools.find((p) => p.name === pool)?.backends.find((x) => x.virtualSubnetId === b.virtualSubnetId && x.address === b.address)
      if (target !== undefined) Object.assign(target, res.body)
      if (patch.weight !== undefined) typedWeights.delete(backendKey(pool, b.virtualSubnetId, b.address))
      replace(status, notice('ok', `${what}: done (configuration generation ${generation}).`))
      draw()
    } catch (err) {
      if (err instanceof ApiError && err.changedMeanwhile) {
        replace(status, notice('error', `Changed meanwhile, reload: ${describeError(err)}`))
        showBanner('The configuration changed since this page was loaded.', { label: 'Reload', run: () => void load() })
      } else replace(status, notice('error', `${what}: ${describeError(err)}`))
    } finally {
      busy = false
    }
  }

  const draw = () => {
    const s = live.latest
    const then = live.before(RATE_WINDOW_MS)
    const ms = then === undefined ? 0 : (live.samples[live.samples.length - 1]?.at ?? 0) - then.at
    const now = sumByBackend(s?.backends)
    const before = sumByBackend(then?.stats.backends)
    if (pools.length === 0) {
      replace(body, h('p', { class: 'muted' }, 'No pool is configured.'))
      return
    }
    replace(
      body,
      pools.map((pool) => {
        const showHealth = pool.backends.some((b) => b.health !== undefined)
        const flows = pool.backends.map((b) => now.get(backendKey(pool.name, b.virtualSubnetId, b.address))?.flowsCreated ?? 0)
        const totalFlows = flows.reduce((a, b) => a + b, 0)
        const totalWeight = pool.backends.reduce((a, b) => a + (b.state === 'active' || b.state === undefined ? (b.weight ?? 1) : 0), 0)
        return h(
          'section',
          { class: 'card pool', 'data-pool': pool.name },
          h('h2', {}, only === undefined ? h('a', { href: `#/pools/${encodeURIComponent(pool.name)}` }, pool.name) : pool.name),
          h(
            'table',
            { class: 'grid' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'backend (VSID / CA)'),
                h('th', {}, 'admin state'),
                showHealth ? h('th', {}, 'health') : null,
                h('th', {}, 'weight'),
                h('th', {}, 'share of flows'),
                h('th', { class: 'num' }, 'packets/s'),
                h('th', {}, 'actions'),
              ),
            ),
            h(
              'tbody',
              {},
              pool.backends.map((b, i) => {
                const key = backendKey(pool.name, b.virtualSubnetId, b.address)
                const cur = now.get(key)
                const old = before.get(key)
                const share = totalFlows > 0 ? flows[i]! / totalFlows : 0
                const state = b.state ?? 'active'
                const weight = b.weight ?? 1
                const planned = totalWeight > 0 && state === 'active' ? weight / totalWeight : 0
                const label = `${b.virtualSubnetId}/${b.address}${b.port !== undefined ? `:${b.port}` : ''}`
                const weightInput = h('input', {
                  type: 'number',
                  step: 1,
                  value: typedWeights.get(key) ?? weight,
                  class: 'weight',
                  'aria-label': `weight of ${label}`,
                  oninput: (ev: Event) => typedWeights.set(key, (ev.target as HTMLInputElement).value),
                })
                const act = (next: string, text: string) =>
                  h(
                    'button',
                    {
                      type: 'button',
                      class: `action ${next}`,
                      'data-action': next,
                      disabled: state === next,
                      onclick: () => void change(pool.name, b, { state: next }, `${text} ${label}`),
                    },
                    text,
                  )
                return h(
                  'tr',
                  { 'data-backend': `${b.virtualSubnetId}/${b.address}`, 'data-state': state },
                  h('td', { class: 'name' }, label),
                  h('td', {}, h('span', { class: `badge ${state}` }, state)),
                  showHealth ? h('td', {}, healthCell(b)) : null,
                  h('td', { class: 'num' }, String(weight)),
                  h(
                    'td',
                    { class: 'share', title: `${fmt(flows[i]!)} of ${fmt(totalFlows)} flows created since start; by weight: ${fmt(planned * 100)} %` },
                    h('span', { class: 'bar' }, h('span', { class: 'fill', style: `width: ${(share * 100).toFixed(1)}%` })),
                    h('span', { class: 'pct' }, `${fmt(share * 100)} %`),
                  ),
                  h('td', { class: 'num' }, fmt(cur && old ? rateBetween(cur.packets, old.packets, ms) : 0, 1)),
                  h(
                    'td',
                    { class: 'actions' },
                    act('active', 'Activate'),
                    act('draining', 'Drain'),
                    act('disabled', 'Disable'),
                    h(
                      'form',
                      {
                        class: 'inline',
                        onsubmit: (ev: Event) => {
                          ev.preventDefault()
                          const w = Number(weightInput.value)
                          void change(pool.name, b, { weight: w }, `Set the weight of ${label} to ${w}`)
                        },
                      },
                      weightInput,
                      h('button', { type: 'submit', 'data-action': 'weight' }, 'Set weight'),
                    ),
                  ),
                )
              }),
            ),
          ),
          h('p', { class: 'muted small' }, 'Share of the flows created since nvlb started; draining keeps its flows and gets no new ones.'),
        )
      }),
    )
  }

  void load()
  return live.subscribe(() => {
    const g = live.latest?.generation
    if (g !== undefined && generation >= 0 && g > generation && !busy) {
      showBanner(`The configuration changed since this page was loaded (generation ${generation} → ${g}).`, {
        label: 'Reload',
        run: () => void load(),
      })
    }
    // While a weight is being typed, redrawing would take the input away.
    if (!(document.activeElement instanceof HTMLInputElement)) draw()
  })
}

function healthCell(b: Backend): HTMLElement | string {
  const health = b.health
  if (health === undefined) return '–'
  const title = [health.probe && `probe ${health.probe}`, health.since && `since ${health.since}`, health.lastError].filter(Boolean).join('; ')
  return h('span', { class: `badge ${health.state}`, title }, health.state)
}
