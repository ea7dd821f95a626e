/**
 * The console's only way to the server: same-origin requests to the public
 * admin API with the session cookie, the session's CSRF token on every change,
 * and every failure turned into a sentence.
 */

/** The API's error body: `{ statusCode, code: "NVLB_ERR_…", error, message, field? }`. */
export interface ApiErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
  field?: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly field: string | undefined

  constructor(status: number, code: string, message: string, field?: string) {
    super(message)
    this.status = status
    this.code = code
    this.field = field
  }

  /** True for 412: someone changed the configuration since this page read it. */
  get changedMeanwhile(): boolean {
    return this.status === 412
  }
}

export interface Answer<T> {
  status: number
  body: T
  etag: string | undefined
}

let csrfToken: string | undefined
let onUnauthorized: () => void = () => undefined

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token
}

/** What to do when the session ended (expired, logged out elsewhere, server restarted). */
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn
}

/** An API error in words: the server's own message, with what it means for the operator. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 412) return 'The configuration was changed meanwhile (by someone else or another tool). Reload to see the current state, then try again.'
    if (err.status === 401) return `Not logged in: ${err.message}.`
    if (err.status === 403) return `Refused: ${err.message}.`
    if (err.status === 404) return `Not found: ${err.message}.`
    if (err.status === 429) return `Slow down: ${err.message}.`
    if (err.status >= 500) return `nvlb failed to do this (${err.status}): ${err.message}.`
    return `${err.message}.`
  }
  if (err instanceof TypeError) return `The nvlb API did not answer (${err.message}). Is nvlb running?`
  return err instanceof Error ? err.message : String(err)
}

const SAFE = new Set(['GET', 'HEAD'])

export interface RequestOptions {
  body?: unknown
  /** A raw body (e.g. an uploaded file's text), sent as JSON as it is. */
  rawBody?: string
  ifMatch?: string
  /** Do not treat 401 as "the session ended" (the login form itself). */
  quiet401?: boolean
}

export async function request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' }
  let body: string | undefined
  if (options.rawBody !== undefined) body = options.rawBody
  else if (options.body !== undefined) body = JSON.stringify(options.body)
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (!SAFE.has(method) && csrfToken !== undefined) headers['x-nvlb-csrf'] = csrfToken
  if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' })
  const text = await res.text()
  let parsed: unknown = undefined
  if (text !== '') {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = text
    }
  }
  if (!res.ok) {
    const e = parsed as Partial<ApiErrorBody> | undefined
    const message =
      e !== undefined && typeof e === 'object' && typeof e.message === 'string'
        ? e.message
        : `${res.status} ${res.statusText || 'error'}${typeof parsed === 'string' ? `: ${parsed.slice(0, 200)}` : ''}`
    const err = new ApiError(res.status, (e as ApiErrorBody | undefined)?.code ?? 'HTTP_' + res.status, message, e?.field)
    if (res.status === 401 && options.quiet401 !== true) onUnauthorized()
    throw err
  }
  return { status: res.status, body: parsed as T, etag: res.headers.get('etag') ?? undefined }
}

export const get = <T>(path: string) => request<T>('GET', path)

/** A path segment, URL-encoded. */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value))
}
