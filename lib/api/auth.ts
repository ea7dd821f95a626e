/**
 * Bearer-token check for every route except GET /healthz, in constant time
 * (crypto.timingSafeEqual; a token of another length is compared with itself
 * so that the work done does not depend on where the tokens differ).
 */
import { timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes } from '../errors'
import { errorBody } from './http-errors'

export const OPEN_PATH = '/healthz'

/** GET /healthz (with or without a query string) is the one route open to all. */
function isOpen(request: FastifyRequest): boolean {
  const url = request.url
  return request.method === 'GET' && url.startsWith(OPEN_PATH) && (url.length === OPEN_PATH.length || url[OPEN_PATH.length] === '?')
}

export function tokenMatches(expected: Buffer, presented: string): boolean {
  const given = Buffer.from(presented, 'utf8')
  if (given.length !== expected.length) {
    timingSafeEqual(expected, expected)
    return false
  }
  return timingSafeEqual(expected, given)
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
  const expected = Buffer.from(token, 'utf8')
  return function checkBearer(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    if (isOpen(request)) return done()
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
