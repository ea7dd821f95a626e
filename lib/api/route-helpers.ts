/**
 * Small pieces every resource route shares: ETag/If-Match handling, path
 * parameter parsing and the errors for missing or duplicate resources.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, NvlbError } from '../errors'
import { parseIPv4 } from '../packet/address'

export function etag(generation: number): string {
  return `"${generation}"`
}

/**
 * The generation named by `If-Match` (`"7"`, `W/"7"` or `7`); undefined when
 * absent or `*`. Anything else can never match: 412.
 */
export function ifMatch(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match']
  if (header === undefined) return undefined
  const value = header.trim()
  if (value === '*') return undefined
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(value)
  if (m === null) {
    throw new NvlbError(
      ErrorCodes.PRECONDITION_FAILED,
      `If-Match ${value} names no configuration generation (expected an ETag like "7")`,
      undefined,
      412,
    )
  }
  return Number(m[1])
}

/** True when the client's `If-None-Match` already names this generation (answer 304). */
export function notModified(request: FastifyRequest, generation: number): boolean {
  const header = request.headers['if-none-match']
  if (header === undefined) return false
  const tag = etag(generation)
  return header.split(',').some((t) => {
    const v = t.trim()
    return v === '*' || v === tag || v === `W/${tag}`
  })
}

/** Sets the ETag; sends 304 and returns true when the client already has this generation. */
export function answerCached(request: FastifyRequest, reply: FastifyReply, generation: number): boolean {
  reply.header('etag', etag(generation))
  if (!notModified(request, generation)) return false
  reply.code(304).send()
  return true
}

export function notFound(what: string): NvlbError {
  return new NvlbError(ErrorCodes.NOT_FOUND, `${what} does not exist`, undefined, 404)
}

export function alreadyExists(what: string, field?: string): NvlbError {
  return new NvlbError(ErrorCodes.DUPLICATE_NAME, `${what} already exists`, field, 409)
}

/** A path parameter holding an IPv4 address, as the number it spells (400 when it is none). */
export function addressParam(text: string, field = 'address'): number {
  const value = parseIPv4(text)
  if (value < 0) throw new NvlbError(ErrorCodes.BAD_ADDRESS, `'${text}' is not an IPv4 address`, field)
  return value
}

/** Same address, whatever the spelling of either side. */
export function sameAddress(a: string, b: number): boolean {
  return parseIPv4(a) === b
}

export function vsidParam(text: string): number {
  return Number(text)
}

/** `/v1/things/a b` → the URL-encoded location of a created resource. */
export function location(...parts: Array<string | number>): string {
  return parts.map((p, i) => (i === 0 ? String(p) : encodeURIComponent(String(p)))).join('/')
}
