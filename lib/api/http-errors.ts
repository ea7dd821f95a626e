/**
 * Every failure of the admin API leaves as
 * `{ statusCode, code: "NVLB_ERR_…", error, message, field? }`:
 * NvlbErrors keep their code and status, fastify's own schema and body
 * errors are given an NVLB_ERR_* code and the JSON path of the field.
 */
import { STATUS_CODES } from 'node:http'
import { unsupportedRuleReason } from '../control/lookup-rules'
import { ErrorCodes, NvlbError, type ErrorCode } from '../errors'

export interface ApiErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
  field?: string
}

interface AjvError {
  keyword: string
  instancePath: string
  message?: string
  params: Record<string, unknown>
  /** The value at fault (the request validator runs ajv with `verbose`). */
  data?: unknown
}

interface FastifyLikeError {
  statusCode?: number
  code?: string
  message: string
  validation?: AjvError[]
  validationContext?: string
}

export function errorBody(statusCode: number, code: ErrorCode, message: string, field?: string): ApiErrorBody {
  const body: ApiErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
  if (field !== undefined) body.field = field
  return body
}

/** `/rules/0/pool` → `rules[0].pool`. */
export function jsonPath(instancePath: string, property?: string): string {
  const parts = instancePath.split('/').slice(1)
  if (property !== undefined) parts.push(property)
  let out = ''
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(part)) out += `[${part}]`
    else out += out === '' ? part : `.${part}`
  }
  return out
}

function fromValidation(error: FastifyLikeError): ApiErrorBody {
  const first = error.validation![0]!
  const property =
    (first.params.missingProperty as string | undefined) ?? (first.params.additionalProperty as string | undefined)
  const path = jsonPath(first.instancePath, property)
  const context = error.validationContext ?? 'body'
  let reason: string
  if (first.keyword === 'required') reason = 'is required'
  else if (first.keyword === 'additionalProperties') reason = 'is not a known field'
  else if (first.keyword === 'enum') {
    const why = path === 'rule' || path.endsWith('.rule') ? unsupportedRuleReason(first.data) : undefined
    reason = `${why === undefined ? '' : `${why}; `}must be one of ${(first.params.allowedValues as unknown[]).join(', ')}`
  }
  else reason = first.message ?? 'is invalid'
  const where = path === '' ? context : path
  const code = context === 'body' ? ErrorCodes.INVALID_FIELD : ErrorCodes.BAD_REQUEST
  return errorBody(400, code, `${where}: ${reason}`, where)
}

/** Any error a route or fastify throws → the status and body to send. */
export function toErrorBody(err: unknown): ApiErrorBody {
  if (err instanceof NvlbError) return errorBody(err.statusCode, err.code, err.message, err.field)
  const error = err as FastifyLikeError
  if (error !== null && typeof error === 'object' && Array.isArray(error.validation) && error.validation.length > 0) {
    return fromValidation(error)
  }
  const status = typeof error?.statusCode === 'number' ? error.statusCode : 500
  if (status >= 400 && status < 500) {
    // Fastify's own request errors: unparsable JSON, empty body, wrong content type, too large.
    return errorBody(status, ErrorCodes.BAD_REQUEST, `request body: ${error.message}`)
  }
  return {
    statusCode: status,
    code: ErrorCodes.INTERNAL,
    error: STATUS_CODES[status] ?? 'Error',
    message: error?.message ?? String(err),
  }
}
