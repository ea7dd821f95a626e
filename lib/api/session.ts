/**
 * Browser sessions of the management console: the login page trades the API
 * token for a random session id in a cookie (HttpOnly, SameSite=Strict,
 * Secure over TLS, with an expiry). Writes made with the cookie must carry the
 * session's CSRF token in the X-NVLB-CSRF header. Failed logins are counted per
 * source address and slowed down. Sessions live in memory: a restart logs
 * every browser out (the bearer token of the CLI is unaffected).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes } from '../errors'
import { bearerAuth } from './auth'
import { errorBody } from './http-errors'

export const SESSION_COOKIE = 'nvlb_session'
export const CSRF_HEADER = 'x-nvlb-csrf'
/** Eight hours: a working day, then log in again. */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000
const MAX_SESSIONS = 1000

export interface Session {
  id: string
  csrfToken: string
  created: number
  expires: number
}

export interface SessionOptions {
  ttlMs?: number
  maxSessions?: number
  now?: () => number
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  if (x.length !== y.length) {
    timingSafeEqual(x, x)
    return false
  }
  return timingSafeEqual(x, y)
}

export class SessionStore {
  readonly ttlMs: number
  private readonly maxSessions: number
  private readonly now: () => number
  private readonly sessions = new Map<string, Session>()

  constructor(options: SessionOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS
    this.maxSessions = options.maxSessions ?? MAX_SESSIONS
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.sessions.size
  }

  create(): Session {
    const now = this.now()
    for (const [id, s] of this.sessions) if (s.expires <= now) this.sessions.delete(id)
    // Full: the oldest session (first in insertion order) makes room.
    while (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!)
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      csrfToken: randomBytes(32).toString('base64url'),
      created: now,
      expires: now + this.ttlMs,
    }
    this.sessions.set(session.id, session)
    return session
  }

  /** The live session with this id; an expired one is forgotten. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id === '') return undefined
    const session = this.sessions.get(id)
    if (session === undefined) return undefined
    if (session.expires <= this.now()) {
      this.sessions.delete(id)
      return undefined
    }
    return session
  }

  delete(id: string): boolean {
    return this.sessions.delete(id)
  }
}

export interface ThrottleOptions {
  /** Failures after which each attempt must wait. Default 3. */
  freeFailures?: number
  /** First wait; each further failure doubles it. Default 1 s. */
  baseDelayMs?: number
  /** Longest wait. Default 60 s. */
  maxDelayMs?: number
  /** Failures are forgotten this long after the last one. Default 15 min. */
  forgetMs?: number
  maxAddresses?: number
  now?: () => number
}

interface Failures {
  count: number
  last: number
  blockedUntil: number
}

/**
 * Failed logins per source address: after `freeFailures` failures every
 * further attempt must wait (1 s, 2 s, 4 s … up to a minute); an attempt made
 * while waiting is refused without looking at the token.
 */
export class LoginThrottle {
  private readonly free: number
  private readonly base: number
  private readonly max: number
  private readonly forget: number
  private readonly maxAddresses: number
  private readonly now: () => number
  private readonly failures = new Map<string, Failures>()

  constructor(options: ThrottleOptions = {}) {
    this.free = options.freeFailures ?? 3
    this.base = options.baseDelayMs ?? 1000
    this.max = options.maxDelayMs ?? 60_000
    this.forget = options.forgetMs ?? 15 * 60_000
    this.maxAddresses = options.maxAddresses ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** Milliseconds this address must still wait before it may try again (0: it may). */
  waitMs(address: string): number {
    const entry = this.failures.get(address)
    if (entry === undefined) return 0
    const now = this.now()
    if (now - entry.last > this.forget) {
      this.failures.delete(address)
      return 0
    }
    return Math.max(0, entry.blockedUntil - now)
  }

  fail(address: string): void {
    const now = this.now()
    let entry = this.failures.get(address)
    if (entry === undefined || now - entry.last > this.forget) {
      this.failures.delete(address)
      while (this.failures.size >= this.maxAddresses) this.failures.delete(this.failures.keys().next().value!)
      entry = { count: 0, last: now, blockedUntil: 0 }
      this.failures.set(address, entry)
    }
    entry.count++
    entry.last = now
    const over = entry.count - this.free + 1
    if (over > 0) entry.blockedUntil = now + Math.min(this.max, this.base * 2 ** Math.min(over - 1, 30))
  }

  succeed(address: string): void {
    this.failures.delete(address)
  }
}

/** The value of the session cookie in a Cookie header (ids are base64url: nothing to decode). */
export function sessionCookieValue(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function cookieSession(sessions: SessionStore, request: FastifyRequest): Session | undefined {
  return sessions.get(sessionCookieValue(request.headers.cookie))
}

/** Set-Cookie for a new session, or (session undefined) one that clears it. */
export function sessionCookie(request: FastifyRequest, session: Session | undefined, ttlMs: number): string {
  const parts = [`${SESSION_COOKIE}=${session?.id ?? ''}`, 'Path=/', 'HttpOnly', 'SameSite=Strict']
  if (session === undefined) parts.push('Max-Age=0', `Expires=${new Date(0).toUTCString()}`)
  else parts.push(`Max-Age=${Math.floor(ttlMs / 1000)}`, `Expires=${new Date(session.expires).toUTCString()}`)
  if (request.protocol === 'https') parts.push('Secure')
  return parts.join('; ')
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
export const CONSOLE_PREFIX = '/console'
export const LOGIN_PATH = '/v1/session'

/** The console's static files and the login itself need no credentials (they hold no data). */
function isPublic(method: string, path: string): boolean {
  if (method === 'GET' || method === 'HEAD') {
    return path === '/' || path === CONSOLE_PREFIX || path.startsWith(`${CONSOLE_PREFIX}/`)
  }
  return method === 'POST' && path === LOGIN_PATH
}

/** The Origin of a cookie-authenticated write, when the browser sent one, names this server. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin
  if (origin === undefined) return true
  try {
    // Both through URL, so that a default port (":80") compares equal to none.
    return new URL(origin).host === new URL(`${request.protocol}://${request.headers.host}`).host
  } catch {
    return false
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session the request came with (undefined for bearer-token requests). */
    consoleSession?: Session
  }
}

/**
 * The API's onRequest hook: the bearer token as before; without an
 * Authorization header, a valid session cookie (plus the CSRF header on
 * writes); the console's own files and the login are open.
 */
export function sessionOrBearerAuth(token: string, sessions: SessionStore) {
  const bearer = bearerAuth(token)
  return function checkSessionOrBearer(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    if (request.headers.authorization !== undefined) return bearer(request, reply, done)
    const q = request.url.indexOf('?')
    const path = q < 0 ? request.url : request.url.slice(0, q)
    if (isPublic(request.method, path)) return done()
    const session = cookieSession(sessions, request)
    if (session === undefined) {
      // A browser opening the API documentation without a session is sent to the login first.
      if (request.method === 'GET' && path.startsWith('/docs') && (request.headers.accept ?? '').includes('text/html')) {
        reply.redirect(`${CONSOLE_PREFIX}/?next=${encodeURIComponent(request.url)}`, 302)
        return
      }
      return bearer(request, reply, done)
    }
    if (!SAFE_METHODS.has(request.method)) {
      const presented = request.headers[CSRF_HEADER]
      if (typeof presented !== 'string' || !sameSecret(session.csrfToken, presented) || !sameOrigin(request)) {
        reply
          .code(403)
          .send(
            errorBody(
              403,
              ErrorCodes.CSRF_REJECTED,
              `a change made with a console session needs the session's ${CSRF_HEADER} header from this origin ` +
                '(the console sends it; scripts use Authorization: Bearer <token>)',
            ),
          )
        return
      }
    }
    request.consoleSession = session
    done()
  }
}

/**
 * Script added to the Swagger UI page (/docs): "Try it out" requests made in
 * a console session carry the session's CSRF token, so that changes work
 * there as they do from the console (with "Authorize" the bearer token is
 * used instead and this does nothing).
 */
export const SWAGGER_SESSION_SCRIPT = {
  filename: 'nvlb-session.js',
  content: `(function () {
  var csrf;
  var ready = fetch('${LOGIN_PATH}', { credentials: 'same-origin' })
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (s) { csrf = s.csrfToken; }, function () {});
  var original = window.fetch.bind(window);
  window.fetch = function (input, init) {
    init = init || {};
    var method = (init.method || (input && input.method) || 'GET').toUpperCase();
    if (method === 'GET' || method === 'HEAD') return original(input, init);
    return ready.then(function () {
      var headers = new Headers(init.headers || (input && input.headers) || {});
      if (csrf && !headers.has('authorization')) headers.set('${CSRF_HEADER}', csrf);
      init.headers = headers;
      return original(input, init);
    });
  };
})();`,
}
