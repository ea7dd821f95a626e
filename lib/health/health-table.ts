/** The health table of `nvlb health` and the demo's report. */
import { formatTable } from '../api/cli-table'
import type { HealthEntry } from './health-monitor'

function ago(iso: string | null, now: number): string {
  if (iso === null) return '-'
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.round(s / 60)}m ago`
  return `${Math.round(s / 3600)}h ago`
}

export function healthTable(entries: readonly HealthEntry[], now = Date.now()): string {
  return formatTable(
    ['POOL', 'BACKEND', 'STATE', 'SINCE', 'PROBE', 'LAST CHECK', 'LATENCY', 'LAST ERROR'],
    entries.map((e) => [
      e.pool,
      e.backend,
      e.state,
      ago(e.since, now),
      e.probe,
      ago(e.lastCheck, now),
      e.latencyMs === null ? '-' : `${e.latencyMs.toFixed(1)} ms`,
      e.lastError ?? '-',
    ]),
  )
}
