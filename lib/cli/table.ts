/** Plain-text tables for the CLI: padded columns, two spaces apart, a header row. */

export function formatTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((row) => row.map((c) => String(c)))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? '').length)))
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...cells.map(line)].join('\n') + '\n'
}

/** `key: value` lines with the keys aligned. */
export function formatFields(fields: ReadonlyArray<readonly [string, string | number | undefined]>): string {
  const shown = fields.filter(([, v]) => v !== undefined && v !== '')
  const width = Math.max(0, ...shown.map(([k]) => k.length))
  return shown.map(([k, v]) => `${(k + ':').padEnd(width + 1)} ${v}`).join('\n') + '\n'
}

/** 1234567 → "1,234,567": counters are easier to read grouped. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
