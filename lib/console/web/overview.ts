/** Overview: this instance, packets/s and flows over the last minutes, drops by reason. */
import { describeError, get } from './api.js'
import { drawChart } from './chart.js'
import { fmt, h, notice, replace } from './dom.js'
import { live, rateBetween } from './live.js'
import type { Page } from './page.js'
import type { Instance } from './types.js'

const WINDOW_MS = 5 * 60 * 1000

export const overviewPage: Page = (main) => {
  const instanceBox = h('div', { id: 'instance', class: 'card' }, h('p', { class: 'muted' }, 'Loading…'))
  const chartBox = h('div', { id: 'traffic-chart', class: 'chart-box' })
  const totals = h('div', { id: 'totals', class: 'totals' })
  const drops = h('div', { id: 'drops' })
  const status = h('div', {})
  replace(
    main,
    h('h1', {}, 'Overview'),
    status,
    h('section', {}, h('h2', {}, 'Instances'), instanceBox),
    h('section', { class: 'card' }, h('h2', {}, 'Traffic, last 5 minutes'), chartBox, totals),
    h('section', { class: 'card' }, h('h2', {}, 'Drops by reason'), drops),
  )

  const update = async () => {
    try {
      const { body: i } = await get<Instance>('/v1/instance')
      replace(
        instanceBox,
        h(
          'table',
          { class: 'grid' },
          h('thead', {}, h('tr', {}, ...['name', 'provider address', 'external address', 'ready', 'generation (config / adopted)', 'up since'].map((c) => h('th', {}, c)))),
          h(
            'tbody',
            {},
            h(
              'tr',
              {},
              h('td', {}, i.name),
              h('td', {}, i.providerAddress ?? '–'),
              h('td', {}, i.externalAddress ?? '–'),
              h('td', {}, h('span', { class: `badge ${i.ready ? 'up' : 'down'}` }, i.ready ? 'ready' : 'not ready')),
              h('td', {}, `${i.configGeneration} / ${i.adoptedGeneration}`),
              h('td', {}, new Date(i.startedAt).toLocaleString()),
            ),
          ),
        ),
      )
    } catch (err) {
      replace(instanceBox, notice('error', describeError(err)))
    }
    const points = live.points
    drawChart(
      chartBox,
      [
        { name: 'received', unit: 'packets/s', color: '#2563eb', axis: 'left', values: points.map((p) => ({ at: p.at, value: p.rxPps })) },
        { name: 'sent', unit: 'packets/s', color: '#16a34a', axis: 'left', dashed: true, values: points.map((p) => ({ at: p.at, value: p.txPps })) },
        { name: 'flows', unit: 'active', color: '#d97706', axis: 'right', values: points.map((p) => ({ at: p.at, value: p.activeFlows })) },
      ],
      WINDOW_MS,
    )
    const s = live.latest
    if (live.error !== undefined) replace(status, notice('error', `Counters: ${describeError(live.error)}`))
    else replace(status)
    if (s === undefined) return
    replace(
      totals,
      ...[
        ['packets received', s.rxPackets],
        ['packets sent', s.txPackets],
        ['active flows', s.activeFlows],
        ['flows created', s.flowsCreated],
        ['flows expired', s.flowsExpired],
        ['flows evicted', s.flowsEvicted],
      ].map(([label, value]) => h('div', { class: 'total' }, h('span', { class: 'value' }, fmt(value as number)), h('span', { class: 'label' }, label as string))),
    )
    const then = live.before(10_000)
    const latestAt = live.samples[live.samples.length - 1]!.at
    const rows = Object.entries(s.drops)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => {
        const rate = then === undefined ? 0 : rateBetween(n, then.stats.drops[reason] ?? 0, latestAt - then.at)
        return h('tr', { 'data-reason': reason }, h('td', {}, reason.replace(/_/g, ' ')), h('td', { class: 'num' }, fmt(n)), h('td', { class: 'num' }, fmt(rate, 1)))
      })
    replace(
      drops,
      rows.length === 0
        ? h('p', { class: 'muted' }, `No packet dropped since start (${Object.keys(s.drops).length} reasons counted).`)
        : h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'reason'), h('th', { class: 'num' }, 'packets'), h('th', { class: 'num' }, 'per second (10 s)'))), h('tbody', {}, rows)),
    )
  }
  void update()
  return live.subscribe(() => void update())
}
