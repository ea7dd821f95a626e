/**
 * Where the configuration document lives between runs, as resources: the node,
 * each neighbour, lookup record, customer route, pool and VIP is one resource
 * with a key (`node`, `lookupRecords/5001/10.1.6.21`, `pools/blue-web`, …), so a
 * change writes only the resources it changes. The document has a revision
 * (the control plane's generation) that every applied change set raises by one.
 *
 * `ConfigStore` is what the control plane needs from a store. The state dir's
 * store (journal-store.ts) implements it; a store shared by several instances
 * (etcd: one key per resource, the etcd revision as the document's) implements
 * the same: read the whole document with its revision, apply a change set
 * atomically if the revision is still the expected one, and watch the changes
 * others apply.
 */
import { ErrorCodes, NvlbError } from '../errors'
import type { NvlbConfig } from './config-types'
import { jsonEqual } from './config-diff'

export interface StoredDocument {
  revision: number
  config: NvlbConfig
}

/** What one change writes: the resources it adds or replaces, the keys it removes. */
export interface ChangeSet {
  /** New or changed resources, [key, value], in document order. */
  put: Array<[string, unknown]>
  remove: string[]
  /**
   * Sections whose order is not the one the puts and removes leave (existing
   * resources keep their place, new ones go to the end): their full key order.
   */
  order?: Record<string, string[]>
}

export interface AppliedChangeSet {
  revision: number
  changes: ChangeSet
}

export interface ConfigStore {
  /** Where the store is, for messages (a file, a URL). */
  readonly location: string
  /** The stored document and its revision; null when nothing was ever stored. */
  load(): Promise<StoredDocument | null>
  /**
   * Applies `changes` as one atomic step from `expectedRevision` to
   * `expectedRevision + 1`, durably, and resolves with the new revision.
   * NVLB_ERR_PRECONDITION_FAILED (412) when the stored revision is another.
   * `next`: the (validated) document the changes lead to, which a store may keep
   * instead of applying them itself.
   */
  apply(changes: ChangeSet, expectedRevision: number, next?: NvlbConfig): Promise<number>
  /** Calls `listener` with every change set applied from now on, in revision order. */
  watch(listener: (applied: AppliedChangeSet) => void): () => void
  close(): void
}

/** The sections of the document whose items have an identity the validation keeps unique. */
export const SECTIONS = ['node', 'neighbors', 'lookupRecords', 'customerRoutes', 'pools', 'vips'] as const
const ITEMIZED = new Set<string>(['neighbors', 'lookupRecords', 'customerRoutes', 'pools', 'vips'])

type Json = Record<string, unknown>

/** The identity of an item of a section, without the section prefix. */
function itemKey(section: string, item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null) return undefined
  const o = item as Json
  switch (section) {
    case 'neighbors':
      return String(o.address)
    case 'lookupRecords':
      return `${String(o.virtualSubnetId)}/${String(o.customerAddress)}`
    case 'customerRoutes':
      return `${String(o.virtualSubnetId)}/${String(o.destinationPrefix)}`
    default:
      return typeof o.name === 'string' ? o.name : undefined
  }
}

/**
 * One section as resources, [key, value] in document order. A list whose items
 * all have distinct identities is a marker (`<section>` → [], so an empty list
 * survives) and one resource per item (`<section>/<identity>`); anything else
 * (the node, lists without identities) is one resource named after the section.
 */
function sectionResources(section: string, value: unknown): Array<[string, unknown]> {
  if (!Array.isArray(value) || section === 'node') return [[section, value]]
  const out: Array<[string, unknown]> = [[section, []]]
  // Validated documents have distinct identities in the known sections (the validator checks them):
  // only the items of other sections are checked here.
  const itemized = ITEMIZED.has(section)
  const seen = itemized ? undefined : new Set<string>()
  for (const item of value) {
    const id = itemKey(section, item)
    const key = id === undefined ? undefined : `${section}/${id}`
    if (key === undefined || seen?.has(key) === true) {
      if (itemized) throw new Error(`internal: ${section} item without an identity`)
      return [[section, value]]
    }
    seen?.add(key)
    out.push([key, item])
  }
  return out
}

function sectionNames(doc: Json): string[] {
  return [...SECTIONS.filter((s) => doc[s] !== undefined), ...Object.keys(doc).filter((k) => !(SECTIONS as readonly string[]).includes(k) && doc[k] !== undefined)]
}

/** The document as resources, [key, value] in document order. */
export function resourcesOf(config: NvlbConfig | Json): Array<[string, unknown]> {
  const doc = config as Json
  const out: Array<[string, unknown]> = []
  for (const section of sectionNames(doc)) for (const entry of sectionResources(section, doc[section])) out.push(entry)
  return out
}

function sectionOf(key: string): string {
  const slash = key.indexOf('/')
  return slash < 0 ? key : key.slice(0, slash)
}

/** Rebuilds the document from its resources (in their order). */
export function documentOf(resources: Iterable<[string, unknown]>): Json {
  const doc: Json = {}
  for (const [key, value] of resources) {
    const slash = key.indexOf('/')
    if (slash < 0) {
      doc[key] = Array.isArray(value) && value.length === 0 ? [] : value
      continue
    }
    const section = key.slice(0, slash)
    let list = doc[section] as unknown[] | undefined
    if (!Array.isArray(list)) doc[section] = list = []
    list.push(value)
  }
  return doc
}

/**
 * The change set that turns `before` into `after` (before: undefined = nothing
 * stored). Lists of the same length whose items keep their identities at their
 * positions (every edit but adding, removing or reordering) are compared item
 * by item without building keys; only the changed items are keyed.
 */
export function changesBetween(before: NvlbConfig | Json | undefined, after: NvlbConfig | Json): ChangeSet {
  const b = (before ?? {}) as Json
  const a = after as Json
  const put: Array<[string, unknown]> = []
  const remove: string[] = []
  let order: Record<string, string[]> | undefined
  const sections = new Set([...sectionNames(b), ...sectionNames(a)])
  for (const section of sections) {
    const x = b[section]
    const y = a[section]
    if (x === y) continue
    if (x === undefined) {
      // A section that was not stored (a first start): all of it is new, in document order.
      for (const entry of sectionResources(section, y)) put.push(entry)
      continue
    }
    if (ITEMIZED.has(section) && Array.isArray(x) && Array.isArray(y)) {
      if (x.length === y.length && samePositions(section, x, y, put)) continue
      if (appended(section, x, y, put)) continue
      const shared = sharedItemsDiff(section, x, y, put, remove)
      if (shared !== false) {
        if (shared !== undefined) (order ??= {})[section] = shared
        continue
      }
    }
    const sectionOrder = diffSection(sectionResources(section, x === undefined ? undefined : x), x === undefined, sectionResources(section, y), y === undefined, put, remove)
    if (sectionOrder !== undefined) (order ??= {})[section] = sectionOrder
  }
  return order === undefined ? { put, remove } : { put, remove, order }
}

/**
 * `y` is `x` (the same items, by reference) with items after them, as a bulk import of new
 * records leaves the list: puts those, and true; false (nothing put) otherwise. Validated
 * documents have distinct identities, so the new items are new resources.
 */
function appended(section: string, x: unknown[], y: unknown[], put: Array<[string, unknown]>): boolean {
  if (y.length <= x.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  for (let i = x.length; i < y.length; i++) {
    const key = itemKey(section, y[i])
    if (key === undefined) return false
  }
  for (let i = x.length; i < y.length; i++) put.push([`${section}/${itemKey(section, y[i])!}`, y[i]])
  return true
}

/** Same-length lists: puts the changed items if every changed item kept its identity; false (nothing put) otherwise. */
function samePositions(section: string, x: unknown[], y: unknown[], put: Array<[string, unknown]>): boolean {
  const changed: Array<[string, unknown]> = []
  for (let i = 0; i < x.length; i++) {
    if (x[i] === y[i] || jsonEqual(x[i], y[i])) continue
    const key = itemKey(section, y[i])
    if (key === undefined || key !== itemKey(section, x[i])) return false
    changed.push([`${section}/${key}`, y[i]])
  }
  for (const entry of changed) put.push(entry)
  return true
}

/**
 * Diff of two lists of one section that share most items by reference (a change keeps
 * the running items it does not touch, e.g. the records a bulk import leaves): only the
 * items that are not shared are keyed and compared. Returns false (nothing put or
 * removed) when fewer than half of the new list's items are shared, or when an identity
 * repeats; else the section's key order when applying would not leave it (undefined
 * when it does).
 */
function sharedItemsDiff(section: string, x: unknown[], y: unknown[], put: Array<[string, unknown]>, remove: string[]): string[] | undefined | false {
  const oldIndex = new Map<unknown, number>()
  for (let i = 0; i < x.length; i++) oldIndex.set(x[i], i)
  let sharedCount = 0
  for (const item of y) if (oldIndex.has(item)) sharedCount++
  if (sharedCount * 2 < y.length) return false
  const inNew = new Set<unknown>(y)
  // Old items not kept, by key: removed, or replaced by a new item with the same key.
  const gone = new Map<string, number>()
  for (let i = 0; i < x.length; i++) {
    if (inNew.has(x[i])) continue
    const id = itemKey(section, x[i])
    if (id === undefined || gone.has(id)) return false
    gone.set(id, i)
  }
  const puts: Array<[string, unknown]> = []
  const seenNew = new Set<string>()
  // Positions in the old list along the new one (-1: appended), to check the order applying leaves.
  let lastPosition = -1
  let appended = false
  let inOrder = true
  for (const item of y) {
    let position = oldIndex.get(item)
    if (position === undefined) {
      const id = itemKey(section, item)
      if (id === undefined || seenNew.has(id)) return false
      seenNew.add(id)
      position = gone.get(id)
      if (position === undefined || !jsonEqual(x[position], item)) puts.push([`${section}/${id}`, item])
      if (position !== undefined) gone.delete(id)
    }
    if (position === undefined) appended = true
    else {
      if (appended || position < lastPosition) inOrder = false
      lastPosition = position
    }
  }
  for (const entry of puts) put.push(entry)
  for (const id of gone.keys()) remove.push(`${section}/${id}`)
  // The full order starts with the section's own marker, as sectionResources lists it.
  return inOrder ? undefined : [section, ...y.map((item) => `${section}/${itemKey(section, item)!}`)]
}

/** General diff of one section; returns its key order when applying the puts and removes would not leave it. */
function diffSection(
  old: Array<[string, unknown]>,
  oldAbsent: boolean,
  next: Array<[string, unknown]>,
  nextAbsent: boolean,
  put: Array<[string, unknown]>,
  remove: string[],
): string[] | undefined {
  const oldMap = new Map(oldAbsent ? [] : old)
  const nextEntries = nextAbsent ? [] : next
  const nextKeys = new Set<string>()
  for (const [key, value] of nextEntries) {
    nextKeys.add(key)
    if (!oldMap.has(key) || !jsonEqual(oldMap.get(key), value)) put.push([key, value])
  }
  for (const key of oldMap.keys()) if (!nextKeys.has(key)) remove.push(key)
  // Applying leaves: old keys in place, new ones appended.
  const predicted: string[] = []
  for (const key of oldMap.keys()) if (nextKeys.has(key)) predicted.push(key)
  for (const [key] of nextEntries) if (!oldMap.has(key)) predicted.push(key)
  const wanted = nextEntries.map(([key]) => key)
  return predicted.every((key, i) => key === wanted[i]) ? undefined : wanted
}

/**
 * Applies a change set to resources held in a Map (insertion order = document
 * order): puts replace in place or append, removes delete, `order` rearranges
 * the sections it names.
 */
export function applyChangeSet(resources: Map<string, unknown>, changes: ChangeSet): void {
  for (const [key, value] of changes.put) resources.set(key, value)
  for (const key of changes.remove) resources.delete(key)
  if (changes.order === undefined) return
  for (const [section, keys] of Object.entries(changes.order)) {
    const values = new Map<string, unknown>()
    for (const [key, value] of resources) if (sectionOf(key) === section) values.set(key, value)
    for (const key of values.keys()) resources.delete(key)
    for (const key of keys) if (values.has(key)) resources.set(key, values.get(key))
    for (const [key, value] of values) if (!resources.has(key)) resources.set(key, value)
  }
}

export function revisionConflict(expected: number, actual: number): NvlbError {
  return new NvlbError(
    ErrorCodes.PRECONDITION_FAILED,
    `the configuration changed: you have generation ${expected}, the stored one is ${actual}; read it again and retry`,
    undefined,
    412,
  )
}
