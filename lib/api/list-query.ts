/**
 * Filtered, paginated lists: `GET /v1/<things>?<filter>=…&limit=N&cursor=C`.
 *
 * Without `limit` and `cursor` a list is the whole (filtered) list in document
 * order, as before. With them it is a page of at most `limit` items in the
 * order of their identity (VSID and address, name, …), and the answer's `Link`
 * header names the next page (`<…&cursor=…>; rel="next"`) while there is one.
 * The cursor is the identity of the last item returned, so a page sequence
 * returns every item that exists throughout exactly once, even when other items
 * are added or removed between the pages. `X-Total-Count` is the number of
 * items the filters match. The body stays a JSON array either way.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, NvlbError } from '../errors'

export const MAX_PAGE = 10000

/** A sort key: numbers and strings compared in order. */
export type SortKey = Array<number | string>

export interface PageQuery {
  limit?: string
  cursor?: string
}

/** OpenAPI/JSON schema properties of limit and cursor. */
export const pageQueryProperties = {
  limit: { type: 'string', pattern: '^[0-9]{1,5}$', description: `Page size, 1..${MAX_PAGE}; the answer's Link header (rel="next") names the next page` },
  cursor: { type: 'string', maxLength: 1024, description: 'From the Link header of the previous page' },
} as const

function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x === y) continue
    return x < y ? -1 : 1
  }
  return a.length - b.length
}

const sortedCache = new WeakMap<readonly unknown[], Array<{ key: SortKey; item: unknown }>>()

/** The list sorted by identity, computed once per list (lists are immutable per generation). */
function sortedOf<T>(list: readonly T[], keyOf: (item: T) => SortKey): Array<{ key: SortKey; item: T }> {
  let sorted = sortedCache.get(list) as Array<{ key: SortKey; item: T }> | undefined
  if (sorted === undefined) {
    sorted = list.map((item) => ({ key: keyOf(item), item }))
    sorted.sort((a, b) => compareKeys(a.key, b.key))
    sortedCache.set(list, sorted)
  }
  return sorted
}

function decodeCursor(text: string): SortKey {
  try {
    const key = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(key) && key.every((k) => typeof k === 'number' || typeof k === 'string')) return key
  } catch {
    // below
  }
  throw new NvlbError(ErrorCodes.BAD_REQUEST, `cursor '${text}' is not one this API gave out`, 'cursor')
}

/**
 * Answers a list request: applies `match` (the filters), then the page, sets
 * X-Total-Count and Link, and returns the items to send.
 */
export function listPage<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  list: readonly T[],
  match: ((item: T) => boolean) | undefined,
  keyOf: (item: T) => SortKey,
): T[] {
  const query = request.query as PageQuery
  if (query.limit === undefined && query.cursor === undefined) {
    const items = match === undefined ? (list as T[]) : list.filter(match)
    reply.header('x-total-count', String(items.length))
    return items
  }
  const limit = query.limit === undefined ? 100 : Number(query.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new NvlbError(ErrorCodes.BAD_REQUEST, `limit must be 1..${MAX_PAGE}, not '${query.limit}'`, 'limit')
  }
  const sorted = sortedOf(list, keyOf)
  let start = 0
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor)
    // First item whose key is above the cursor.
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (compareKeys(sorted[mid]!.key, after) <= 0) lo = mid + 1
      else hi = mid
    }
    start = lo
  }
  const page: T[] = []
  let total = 0
  let last: SortKey | undefined
  let more = false
  for (let i = 0; i < sorted.length; i++) {
    const { key, item } = sorted[i]!
    if (match !== undefined && !match(item)) continue
    total++
    if (i < start) continue
    if (page.length < limit) {
      page.push(item)
      last = key
    } else more = true
  }
  reply.header('x-total-count', String(total))
  if (more && last !== undefined) {
    const url = new URL(request.url, 'http://nvlb')
    url.searchParams.set('limit', String(limit))
    url.searchParams.set('cursor', Buffer.from(JSON.stringify(last), 'utf8').toString('base64url'))
    reply.header('link', `<${url.pathname}${url.search}>; rel="next"`)
  }
  return page
}
