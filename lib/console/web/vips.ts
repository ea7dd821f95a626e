/** VIPs: address, VSID (tenant), NAT mode, rules, and live packets/s and new flows/s per rule. */
import { describeError, get } from './api.js'
import { fmt, h, notice, replace } from './dom.js'
import { live, rateBetween } from './live.js'
import type { Page } from './page.js'
import { tenantsByVsid, vsidLabel } from './tenants.js'
import type { CustomerRoute, LookupRecord, Vip, VipRuleStats } from './types.js'

const RATE_WINDOW_MS = 10_000

function ruleKey(vip: string, protocol: string, port: number): string {
  return `${vip}/${protocol}/${port}`
}

export const vipsPage: Page = (main) => {
  const body = h('div', { id: 'vips' }, h('p', { class: 'muted' }, 'Loading…'))
  const status = h('div', {})
  replace(main, h('h1', {}, 'VIPs'), status, body)
  let vips: Vip[] = []
  let tenants = new Map<number, string>()

  const load = async () => {
    try {
      const [v, r, c] = await Promise.all([
        get<Vip[]>('/v1/vips'),
        get<LookupRecord[]>('/v1/policy/lookup-records'),
        get<CustomerRoute[]>('/v1/policy/customer-routes'),
      ])
      vips = v.body
      tenants = tenantsByVsid(r.body, c.body)
      replace(status)
    } catch (err) {
      replace(status, notice('error', describeError(err)))
    }
    draw()
  }

  const draw = () => {
    const s = live.latest
    const then = live.before(RATE_WINDOW_MS)
    const latestAt = live.samples[live.samples.length - 1]?.at ?? 0
    const now = new Map<string, VipRuleStats>()
    const before = new Map<string, VipRuleStats>()
    for (const r of s?.vips ?? []) now.set(ruleKey(r.vip, r.protocol, r.frontendPort), r)
    for (const r of then?.stats.vips ?? []) before.set(ruleKey(r.vip, r.protocol, r.frontendPort), r)
    const ms = then === undefined ? 0 : latestAt - then.at
    if (vips.length === 0) {
      replace(body, h('p', { class: 'muted' }, 'No VIP is configured.'))
      return
    }
    replace(
      body,
      h(
        'table',
        { class: 'grid' },
        h(
          'thead',
          {},
          h('tr', {}, ...['VIP', 'address', 'VSID (tenant)', 'NAT', 'rule', 'pool', 'distribution', 'packets/s', 'new flows/s', 'packets', 'flows created'].map((c) => h('th', {}, c))),
        ),
        h(
          'tbody',
          {},
          vips.flatMap((vip) =>
            vip.rules.map((rule, i) => {
              const key = ruleKey(vip.name, rule.protocol, rule.frontendPort)
              const cur = now.get(key)
              const old = before.get(key)
              const pps = cur && old ? rateBetween(cur.packets, old.packets, ms) : 0
              const fps = cur && old ? rateBetween(cur.flowsCreated, old.flowsCreated, ms) : 0
              return h(
                'tr',
                { 'data-vip': vip.name, 'data-rule': `${rule.protocol}/${rule.frontendPort}` },
                i === 0 ? h('td', { rowspan: vip.rules.length, class: 'name' }, vip.name) : null,
                i === 0 ? h('td', { rowspan: vip.rules.length }, vip.address) : null,
                i === 0 ? h('td', { rowspan: vip.rules.length }, vsidLabel(vip.virtualSubnetId, tenants)) : null,
                i === 0 ? h('td', { rowspan: vip.rules.length }, vip.natMode ?? (vip.virtualSubnetId === 0 ? 'dnat' : 'fullnat')) : null,
                h('td', {}, `${rule.protocol} ${rule.frontendPort} → ${rule.backendPort ?? rule.frontendPort}`),
                h('td', {}, h('a', { href: `#/pools/${encodeURIComponent(rule.pool)}` }, rule.pool)),
                h('td', {}, rule.distribution ?? '5-tuple'),
                h('td', { class: 'num pps' }, fmt(pps, 1)),
                h('td', { class: 'num fps' }, fmt(fps, 1)),
                h('td', { class: 'num' }, fmt(cur?.packets ?? 0)),
                h('td', { class: 'num' }, fmt(cur?.flowsCreated ?? 0)),
              )
            }),
          ),
        ),
      ),
      h('p', { class: 'muted small' }, 'Rates over the last 10 seconds; counters since nvlb started.'),
    )
  }

  void load()
  let generation = -1
  return live.subscribe(() => {
    const g = live.latest?.generation ?? generation
    if (g !== generation) {
      generation = g
      void load()
    } else draw()
  })
}
