/**
 * Bearer-token check for every route except GET /healthz. The comparison is
 * constant-time: both sides are hashed to equal-length digests first.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes } from '../errors'
import { errorBody } from './http-errors'

const OPEN_ROUTES = new Set(['/healthz'])

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function tokenMatches(expectedDigest: Buffer, presented: string): boolean {
  return timingSafeEqual(expectedDigest, digest(presented))
}

/** The presented token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const space = header.indexOf(' ')
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return undefined
  const token = header.slice(space + 1).trim()
  return token === '' ? undefined : token
}

/** An onRequest hook: 401 with NVLB_ERR_UNAUTHORIZED before the body is even read. */
export function bearerAuth(token: string) {
  if (token === '') throw new Error('the admin API token must not be empty')
  const expected = digest(token)
  return function checkBearer(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    if (request.method === 'GET' && OPEN_ROUTES.has(request.routeOptions.url ?? '')) return done()
    const presented = bearerToken(request.headers.authorization)
    if (presented !== undefined && tokenMatches(expected, presented)) return done()
    const message =
      presented === undefined ? 'missing Authorization: Bearer <token> header' : 'the bearer token is not valid'
    reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="nvlb"')
      .send(errorBody(401, ErrorCodes.UNAUTHORIZED, message))
  }
}
