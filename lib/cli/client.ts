/**
 * The admin API from the other side: a small HTTP client (global fetch) for
 * the nvlb CLI. Non-2xx answers become ApiError with the server's NVLB_ERR_* code.
 */

export class ApiError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  readonly field: string | undefined

  constructor(message: string, status?: number, code?: string, field?: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = field
  }

  /** The one line the CLI prints: `NVLB_ERR_UNKNOWN_POOL vips[0].rules[0].pool: pool 'x' does not exist`. */
  get line(): string {
    return this.code === undefined ? this.message : `${this.code} ${this.message}`
  }
}

export interface ApiResponse<T> {
  status: number
  /** The configuration generation the answer belongs to (from the ETag), when given. */
  generation: number | undefined
  body: T
}

export interface RequestOptions {
  /** Refuse the write unless the running configuration is still at this generation. */
  ifMatch?: number
  /** Send this text as the JSON body instead of serializing `body`. */
  rawBody?: string
  query?: Record<string, string | undefined>
}

function generationOf(etag: string | null): number | undefined {
  const m = etag === null ? null : /^(?:W\/)?"(\d+)"$/.exec(etag)
  return m === null ? undefined : Number(m[1])
}

export class ApiClient {
  readonly baseUrl: string
  private readonly token: string | undefined

  constructor(baseUrl: string, token: string | undefined) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.token = token
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`
    let payload: string | undefined
    if (options.rawBody !== undefined) payload = options.rawBody
    else if (body !== undefined) payload = JSON.stringify(body)
    if (payload !== undefined) headers['content-type'] = 'application/json'

    let url = this.baseUrl + path
    const query = Object.entries(options.query ?? {}).filter((e): e is [string, string] => e[1] !== undefined)
    if (query.length > 0) url += '?' + new URLSearchParams(query).toString()

    let res: Response
    try {
      res = await fetch(url, { method, headers, body: payload })
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      const why = cause?.code ?? cause?.message ?? (err as Error).message
      throw new ApiError(`cannot reach the admin API at ${this.baseUrl} (${why}); is 'nvlb run' running there?`)
    }
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
      const error = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
        code?: string
        message?: string
        field?: string
      }
      throw new ApiError(
        error.message ?? `${method} ${path}: HTTP ${res.status} ${res.statusText}`,
        res.status,
        error.code,
        error.field,
      )
    }
    return { status: res.status, generation: generationOf(res.headers.get('etag')), body: parsed as T }
  }

  get<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, undefined, options)
  }
  post<T = unknown>(path: string, body: unknown, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, body, options)
  }
  put<T = unknown>(path: string, body: unknown, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>('PUT', path, body, options)
  }
  patch<T = unknown>(path: string, body: unknown, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>('PATCH', path, body, options)
  }
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>('DELETE', path, undefined, options)
  }
}

/** Path segments, URL-encoded: `apiPath('v1', 'vips', name)`. */
export function apiPath(...parts: Array<string | number>): string {
  return '/' + parts.map((p) => encodeURIComponent(String(p))).join('/')
}
