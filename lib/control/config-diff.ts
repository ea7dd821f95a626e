/**
 * A one-line, human-readable summary of what changed between two configuration
 * documents, for the change log: `vips: +blue-public; pools: blue-web changed
 * (backend 5001/10.1.6.21 state active→draining)`. Long lists are cut short.
 */
import type { NvlbConfig } from './config-types'

const MAX_ITEMS_PER_SECTION = 8
const MAX_DETAILS_PER_ITEM = 6

type Obj = Record<string, unknown>

function formatValue(value: unknown): string {
  if (value === undefined) return '(none)'
  if (typeof value === 'string') return value
  const text = JSON.stringify(value)
  return text.length > 40 ? text.slice(0, 39) + '…' : text
}

/** Structural equality of JSON values (key order of objects ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const x = a as Obj
  const y = b as Obj
  let count = 0
  for (const key in x) {
    if (x[key] === undefined) continue
    count++
    if (!jsonEqual(x[key], y[key])) return false
  }
  for (const key in y) if (y[key] !== undefined) count--
  return count === 0
}

const same = jsonEqual

/** `key before→after` for every field that differs, except the skipped ones. */
function fieldChanges(before: Obj, after: Obj, skip: readonly string[] = []): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  const changes: string[] = []
  for (const key of keys) {
    if (skip.includes(key) || same(before[key], after[key])) continue
    changes.push(`${key} ${formatValue(before[key])}→${formatValue(after[key])}`)
  }
  return changes
}

function limit(items: string[], max: number): string[] {
  if (items.length <= max) return items
  return [...items.slice(0, max), `… ${items.length - max} more`]
}

/** Added, removed and changed items of a list whose items have a key. */
function listChanges<T>(
  before: readonly T[],
  after: readonly T[],
  keyOf: (item: T) => string,
  details: (a: T, b: T) => string[],
  prefix = '',
): string[] {
  const describeChange = (key: string, previous: T, item: T): string => {
    const what = limit(details(previous, item), MAX_DETAILS_PER_ITEM)
    return what.length === 0 ? `${prefix}${key} reordered` : `${prefix}${key} ${what.join(', ')}`
  }
  // The same list (a section a change left alone): nothing changed.
  if (before === after) return []
  // Fast path: same length and the changed items keep their keys and positions.
  if (before.length === after.length) {
    const items: string[] = []
    let positional = true
    for (let i = 0; i < before.length; i++) {
      const previous = before[i]!
      const item = after[i]!
      if (same(previous, item)) continue
      const key = keyOf(item)
      if (keyOf(previous) !== key) {
        positional = false
        break
      }
      items.push(describeChange(key, previous, item))
    }
    if (positional) return items
  }
  // Items appended after the same (by reference) items, as a bulk import of new records leaves the list.
  if (after.length > before.length && before.every((item, i) => after[i] === item)) return after.slice(before.length).map((item) => `+${prefix}${keyOf(item)}`)
  // Items both lists hold by reference (a change keeps the running, frozen items it does not touch) are unchanged.
  const inAfter = new Set<T>(after)
  const inBefore = new Set<T>(before)
  const old = new Map(before.filter((item) => !inAfter.has(item)).map((item) => [keyOf(item), item]))
  const now = new Map(after.filter((item) => !inBefore.has(item)).map((item) => [keyOf(item), item]))
  const items: string[] = []
  for (const [key] of now) if (!old.has(key)) items.push(`+${prefix}${key}`)
  for (const [key] of old) if (!now.has(key)) items.push(`-${prefix}${key}`)
  for (const [key, item] of now) {
    const previous = old.get(key)
    if (previous === undefined || same(previous, item)) continue
    items.push(describeChange(key, previous, item))
  }
  if (items.length === 0) items.push('reordered')
  return items
}

function sectionList(config: Partial<NvlbConfig> | undefined, key: keyof NvlbConfig): Obj[] {
  const value = config?.[key]
  return Array.isArray(value) ? (value as unknown as Obj[]) : []
}

/** Summary of the changes from `before` (undefined: nothing configured yet) to `after`. */
export function summarizeChanges(before: Partial<NvlbConfig> | undefined, after: Partial<NvlbConfig>): string {
  if (before === undefined) return `initial configuration: ${describeContents(after)}`
  const sections: string[] = []
  const add = (name: string, items: string[]): void => {
    if (items.length > 0) sections.push(`${name}: ${limit(items, MAX_ITEMS_PER_SECTION).join(', ')}`)
  }

  add('node', fieldChanges((before?.node ?? {}) as unknown as Obj, (after.node ?? {}) as unknown as Obj))
  add(
    'neighbors',
    listChanges(sectionList(before, 'neighbors'), sectionList(after, 'neighbors'), (n) => String(n.address), (a, b) =>
      fieldChanges(a, b, ['address']),
    ),
  )
  add(
    'lookupRecords',
    listChanges(
      sectionList(before, 'lookupRecords'),
      sectionList(after, 'lookupRecords'),
      (r) => `${String(r.virtualSubnetId)}/${String(r.customerAddress)}`,
      (a, b) => fieldChanges(a, b, ['virtualSubnetId', 'customerAddress']),
    ),
  )
  add(
    'customerRoutes',
    listChanges(
      sectionList(before, 'customerRoutes'),
      sectionList(after, 'customerRoutes'),
      (r) => `${String(r.virtualSubnetId)} ${String(r.destinationPrefix)}`,
      (a, b) => fieldChanges(a, b, ['virtualSubnetId', 'destinationPrefix']),
    ),
  )
  add(
    'pools',
    listChanges(
      sectionList(before, 'pools'),
      sectionList(after, 'pools'),
      (p) => String(p.name),
      (a, b) => [
        ...fieldChanges(a, b, ['name', 'backends']),
        ...listChanges(
          (a.backends ?? []) as Obj[],
          (b.backends ?? []) as Obj[],
          (x) => `${String(x.virtualSubnetId)}/${String(x.address)}`,
          (x, y) => fieldChanges(x, y, ['virtualSubnetId', 'address']),
          'backend ',
        ),
      ],
    ).map(wrapDetails),
  )
  add(
    'vips',
    listChanges(
      sectionList(before, 'vips'),
      sectionList(after, 'vips'),
      (v) => String(v.name),
      (a, b) => [
        ...fieldChanges(a, b, ['name', 'rules']),
        ...listChanges(
          (a.rules ?? []) as Obj[],
          (b.rules ?? []) as Obj[],
          (r) => `${String(r.protocol)}/${String(r.frontendPort)}`,
          (x, y) => fieldChanges(x, y, ['protocol', 'frontendPort']),
          'rule ',
        ),
      ],
    ).map(wrapDetails),
  )
  const known = new Set(['node', 'neighbors', 'lookupRecords', 'customerRoutes', 'pools', 'vips'])
  const extra = fieldChanges(
    Object.fromEntries(Object.entries(before ?? {}).filter(([k]) => !known.has(k))),
    Object.fromEntries(Object.entries(after).filter(([k]) => !known.has(k))),
  )
  add('other', extra)
  return sections.length === 0 ? 'no change' : sections.join('; ')
}

/** `blue-web backend +5001/10.1.6.22, …` → `blue-web changed (backend +5001/10.1.6.22, …)`. */
function wrapDetails(item: string): string {
  if (item.startsWith('+') || item.startsWith('-') || item === 'reordered') return item
  const space = item.indexOf(' ')
  if (space < 0 || item.endsWith(' reordered')) return item
  return `${item.slice(0, space)} changed (${item.slice(space + 1)})`
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}

/** `14 lookup records, 8 customer routes, 2 pools (6 backends), 4 VIPs (4 rules)`. */
export function describeContents(config: Partial<NvlbConfig>): string {
  const pools = sectionList(config, 'pools')
  const vips = sectionList(config, 'vips')
  const backends = pools.reduce((n, p) => n + (Array.isArray(p.backends) ? p.backends.length : 0), 0)
  const rules = vips.reduce((n, v) => n + (Array.isArray(v.rules) ? v.rules.length : 0), 0)
  return [
    plural(sectionList(config, 'neighbors').length, 'neighbor'),
    plural(sectionList(config, 'lookupRecords').length, 'lookup record'),
    plural(sectionList(config, 'customerRoutes').length, 'customer route'),
    `${plural(pools.length, 'pool')} (${plural(backends, 'backend')})`,
    `${plural(vips.length, 'VIP')} (${plural(rules, 'rule')})`,
  ].join(', ')
}
