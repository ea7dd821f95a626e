/**
 * A line chart in SVG, drawn anew on every update: a few series over time,
 * on a left and a right scale (packets/s and flows differ by orders of magnitude),
 * with the latest value in the legend. Small enough not to need a library.
 */
const NS = 'http://www.w3.org/2000/svg'

export interface Series {
  name: string
  unit: string
  color: string
  axis: 'left' | 'right'
  /** Dashed, so that a line lying on another one stays visible. */
  dashed?: boolean
  values: Array<{ at: number; value: number }>
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

function niceMax(max: number): number {
  if (max <= 0) return 1
  const exp = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 5, 10]) if (max <= m * exp) return m * exp
  return 10 * exp
}

function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`
  return n >= 10 || n === 0 ? n.toFixed(0) : n.toFixed(1)
}

/** Draws `series` over the last `windowMs` into `host` (an element holding one SVG). */
export function drawChart(host: HTMLElement, series: Series[], windowMs: number, now = Date.now()): void {
  const W = 1100
  const H = 260
  const pad = { l: 48, r: 48, t: 12, b: 24 }
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' })
  const x = (at: number) => pad.l + ((at - (now - windowMs)) / windowMs) * (W - pad.l - pad.r)
  root.appendChild(svg('rect', { x: pad.l, y: pad.t, width: W - pad.l - pad.r, height: H - pad.t - pad.b, class: 'plot' }))
  for (let m = 0; m * 60_000 <= windowMs; m++) {
    const gx = x(now - m * 60_000)
    root.appendChild(svg('line', { x1: gx, x2: gx, y1: pad.t, y2: H - pad.b, class: 'grid' }))
    const label = svg('text', { x: gx, y: H - 6, 'text-anchor': 'middle', class: 'axis' })
    label.textContent = m === 0 ? 'now' : `−${m} min`
    root.appendChild(label)
  }
  const maxOf = (axis: 'left' | 'right') =>
    niceMax(Math.max(0, ...series.filter((s) => s.axis === axis).flatMap((s) => s.values.map((v) => v.value))))
  const max = { left: maxOf('left'), right: maxOf('right') }
  for (const axis of ['left', 'right'] as const) {
    const first = series.find((s) => s.axis === axis)
    if (first === undefined) continue
    const label = svg('text', {
      x: axis === 'left' ? pad.l - 6 : W - pad.r + 6,
      y: pad.t + 10,
      'text-anchor': axis === 'left' ? 'end' : 'start',
      class: 'axis',
      fill: first.color,
    })
    label.textContent = short(max[axis])
    root.appendChild(label)
  }
  for (const s of series) {
    const top = max[s.axis]
    const y = (v: number) => H - pad.b - (v / top) * (H - pad.t - pad.b)
    const pts = s.values.filter((v) => v.at >= now - windowMs).map((v) => `${x(v.at).toFixed(1)},${y(v.value).toFixed(1)}`)
    if (pts.length > 0) {
      const line = svg('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-series': s.name })
      if (s.dashed === true) line.setAttribute('stroke-dasharray', '6 4')
      root.appendChild(line)
    }
  }
  host.textContent = ''
  host.appendChild(root)
  const legend = document.createElement('div')
  legend.className = 'legend'
  for (const s of series) {
    const last = s.values[s.values.length - 1]
    const item = document.createElement('span')
    item.className = 'legend-item'
    item.dataset.series = s.name
    item.dataset.value = String(last?.value ?? 0)
    item.style.setProperty('--c', s.color)
    item.textContent = `${s.name}: ${last === undefined ? '–' : short(last.value)} ${s.unit}`
    legend.appendChild(item)
  }
  host.appendChild(legend)
}
