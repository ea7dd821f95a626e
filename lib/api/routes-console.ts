/**
 * The management console's routes: its static files at /console/ (`/`
 * redirects there), the login that turns the API token into a session cookie
 * (POST/GET/DELETE /v1/session), and GET /v1/instance, the figures of this
 * instance the console's overview shows.
 */
import { hostname } from 'node:os'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { StatsSource } from './metrics'
import { consoleAssetsDir } from '../console/assets'
import { ErrorCodes } from '../errors'
import type { AdminControl } from './admin-control'
import { tokenMatches } from './auth'
import { errorBody } from './http-errors'
import { errorResponses } from './schemas'
import { CONSOLE_PREFIX, LOGIN_PATH, LoginThrottle, SessionStore, cookieSession, sessionCookie } from './session'

export interface ConsoleRouteOptions {
  control: AdminControl<unknown>
  stats: StatsSource
  token: string
  sessions: SessionStore
  throttle: LoginThrottle
  version: string
  /** Where the built console lives; default: the build output next to this file. */
  assetsDir?: string
}

const sessionSchema = {
  type: 'object',
  required: ['authenticated', 'via'],
  properties: {
    authenticated: { type: 'boolean' },
    via: { type: 'string', enum: ['session', 'bearer'] },
    expires: { type: 'string', description: 'when the session ends (ISO 8601)' },
    csrfToken: { type: 'string', description: 'send it as X-NVLB-CSRF with every change made with the session cookie' },
  },
} as const

const instanceSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'host name of the machine nvlb runs on' },
    version: { type: 'string' },
    providerAddress: { type: 'string' },
    externalAddress: { type: 'string' },
    ready: { type: 'boolean', description: 'a valid configuration is loaded and compiled' },
    configGeneration: { type: 'integer', description: 'generation of the running configuration' },
    adoptedGeneration: { type: 'integer', description: 'generation of the snapshot the packet path runs' },
    startedAt: { type: 'string' },
    uptimeSeconds: { type: 'number' },
  },
} as const

/**
 * Content-Security-Policy of the console's pages: scripts, styles and
 * requests only from this origin, no framing.
 */
const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

function sessionBody(session: { expires: number; csrfToken: string }) {
  return { authenticated: true, via: 'session', expires: new Date(session.expires).toISOString(), csrfToken: session.csrfToken }
}

function unauthorized(message: string) {
  return errorBody(401, ErrorCodes.UNAUTHORIZED, message)
}

export async function registerConsoleRoutes(app: FastifyInstance, options: ConsoleRouteOptions): Promise<void> {
  const { sessions, throttle, control } = options
  const expected = Buffer.from(options.token, 'utf8')
  const startedAt = new Date()

  app.post<{ Body: { token?: string } }>(
    LOGIN_PATH,
    {
      schema: {
        tags: ['session'],
        summary: 'Log in to the console: the API token → a session cookie',
        description:
          'Sets the HttpOnly, SameSite=Strict session cookie and returns the CSRF token for changes. ' +
          'Repeated failures from one address are slowed down (429 with Retry-After).',
        security: [],
        body: { type: 'object', properties: { token: { type: 'string' } } },
        response: { 200: sessionSchema, ...errorResponses(401, 429) },
      },
    },
    async (request, reply) => {
      const address = request.ip
      const wait = throttle.waitMs(address)
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000)
        reply.code(429).header('retry-after', String(seconds))
        return errorBody(
          429,
          ErrorCodes.LOGIN_THROTTLED,
          `too many failed logins from this address; try again in ${seconds} s`,
        )
      }
      const presented = request.body?.token
      if (typeof presented !== 'string' || presented === '' || !tokenMatches(expected, presented.trim())) {
        throttle.fail(address)
        request.log.warn({ address }, 'console login refused')
        reply.code(401).header('www-authenticate', 'Bearer realm="nvlb"')
        return unauthorized(presented === undefined || presented === '' ? 'enter the API token' : 'the token is not valid')
      }
      throttle.succeed(address)
      const session = sessions.create()
      request.log.info({ address }, 'console login')
      reply.header('set-cookie', sessionCookie(request, session, sessions.ttlMs)).header('cache-control', 'no-store')
      return sessionBody(session)
    },
  )

  app.get(
    LOGIN_PATH,
    {
      schema: {
        tags: ['session'],
        summary: 'Who is asking: the console session (with its CSRF token) or the bearer token',
        response: { 200: sessionSchema, ...errorResponses(401) },
      },
    },
    async (request: FastifyRequest, reply) => {
      reply.header('cache-control', 'no-store')
      const session = request.consoleSession
      if (session === undefined) return { authenticated: true, via: 'bearer' }
      return sessionBody(session)
    },
  )

  app.delete(
    LOGIN_PATH,
    {
      schema: {
        tags: ['session'],
        summary: 'Log out: end the console session and clear its cookie',
        response: { 204: { type: 'null', description: 'logged out' }, ...errorResponses(401, 403) },
      },
    },
    async (request, reply) => {
      const session = request.consoleSession ?? cookieSession(sessions, request)
      if (session !== undefined) sessions.delete(session.id)
      reply.code(204).header('set-cookie', sessionCookie(request, undefined, 0)).send()
      return reply
    },
  )

  app.get(
    '/v1/instance',
    {
      schema: {
        tags: ['health'],
        summary: 'This instance: name, provider and external address, readiness, adopted generation',
        response: { 200: instanceSchema, ...errorResponses() },
      },
    },
    async () => {
      const node = control.config.node
      return {
        name: hostname(),
        version: options.version,
        providerAddress: node?.providerAddress,
        externalAddress: node?.externalAddress,
        ready: control.ready,
        configGeneration: control.generation,
        adoptedGeneration: options.stats().generation,
        startedAt: startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      }
    },
  )

  const root = options.assetsDir ?? consoleAssetsDir()
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect(`${CONSOLE_PREFIX}/`, 302))
  app.get(CONSOLE_PREFIX, { schema: { hide: true } }, async (_request, reply) => reply.redirect(`${CONSOLE_PREFIX}/`, 302))
  if (!existsSync(join(root, 'index.html'))) {
    app.get(`${CONSOLE_PREFIX}/*`, { schema: { hide: true } }, async (_request, reply) => {
      reply.code(404)
      return errorBody(404, ErrorCodes.NOT_FOUND, `the console is not built (no ${root}); run npm run build`)
    })
    return
  }
  await app.register(fastifyStatic, {
    root,
    prefix: `${CONSOLE_PREFIX}/`,
    decorateReply: false,
    index: 'index.html',
    cacheControl: false,
    setHeaders(res) {
      res.header('cache-control', 'no-cache')
      res.header('content-security-policy', CONSOLE_CSP)
      res.header('x-content-type-options', 'nosniff')
      res.header('referrer-policy', 'no-referrer')
    },
  })
}
