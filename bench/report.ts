/**
 * How every benchmark reports: a readable table, and with --json
 * one JSON object per line:
 * {"name": "<metric>", "value": <number>, "unit": "<unit>", "target": <number>, "better": "higher"|"lower"}
 */
export interface Metric {
  name: string
  value: number
  unit: string
  target: number
  better: 'higher' | 'lower'
}

export function meetsTarget(m: Metric): boolean {
  return m.better === 'higher' ? m.value >= m.target : m.value <= m.target
}

function round(value: number): number {
  if (!Number.isFinite(value)) return value
  const digits = Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 3 : 4
  return Number(value.toFixed(digits))
}

export function printMetrics(metrics: readonly Metric[], json: boolean, out: NodeJS.WritableStream = process.stdout): void {
  if (json) {
    for (const m of metrics) out.write(JSON.stringify({ name: m.name, value: round(m.value), unit: m.unit, target: m.target, better: m.better }) + '\n')
    return
  }
  const rows = metrics.map((m) => [m.name, String(round(m.value)), m.unit, `${m.better === 'higher' ? '≥' : '≤'} ${m.target}`, meetsTarget(m) ? 'yes' : 'NO'])
  const header = ['metric', 'value', 'unit', 'target', 'met']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  out.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n')
}

/** Progress lines go to stderr so that --json output stays clean. */
export function progress(message: string): void {
  process.stderr.write(message + '\n')
}
