/**
 * POST /v1/policy/lookup-records/bulk: add (or replace) and remove thousands of
 * lookup records in one atomic change.
 *
 *   { "add": [ {LookupRecord}, … ], "remove": [ { "virtualSubnetId": 5001, "customerAddress": "10.1.6.21" }, … ] }
 *
 * An added record replaces the one with the same (VSID, CA) or is appended;
 * removes are applied first. Bad input applies nothing: the answer (400) names
 * the first offending items by index and field (`add[3].macAddress`), up to
 * ten of them, in `items`. The answer counts what happened.
 */
import type { FastifyInstance } from 'fastify'
import type { LookupRecord, NvlbConfig } from '../control/config-types'
import { NvlbError } from '../errors'
import { RecordIndex } from '../control/config-cross-check'
import { canonicalMac, parseIPv4 } from '../packet/address'
import { VSID_MAX, VSID_MIN } from '../packet/nvgre'
import type { AdminControl } from './admin-control'
import { BulkError, type ItemProblem } from './http-errors'
import { etag, ifMatch } from './route-helpers'
import { errorResponses } from './schemas'

const MAX_PROBLEMS = 10
const RULES = new Set(['TranslationMethodEncap', 'TranslationMethodNat'])

export interface BulkBody {
  add?: unknown[]
  remove?: unknown[]
}

export interface BulkResult {
  generation: number
  added: number
  updated: number
  unchanged: number
  removed: number
  total: number
}

type Json = Record<string, unknown>

function vsidProblem(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer'
  if (value < VSID_MIN || value > VSID_MAX) return `${value} is outside the valid virtual subnet IDs ${VSID_MIN}..${VSID_MAX}`
  return undefined
}

function addressProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be an IPv4 address (a string)'
  return parseIPv4(value) < 0 && value !== '255.255.255.255' ? `'${value}' is not an IPv4 address` : undefined
}

/** Shape checks of one added record (the whole document is validated after merging). */
function addProblems(item: unknown, path: string, out: ItemProblem[], index: number): void {
  const push = (field: string, message: string) => out.push({ index, field: `${path}.${field}`, message })
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    out.push({ index, field: path, message: 'must be a lookup record object' })
    return
  }
  const r = item as Json
  const vsid = vsidProblem(r.virtualSubnetId)
  if (vsid !== undefined) push('virtualSubnetId', vsid)
  for (const field of ['customerAddress', 'providerAddress']) {
    const problem = addressProblem(r[field])
    if (problem !== undefined) push(field, problem)
  }
  if (typeof r.macAddress !== 'string' || canonicalMac(r.macAddress) === null) {
    push('macAddress', `${JSON.stringify(r.macAddress ?? null)} is not a MAC address (00-15-5D-01-06-21, 00:15:5d:01:06:21 or 00155D010621)`)
  }
  if (r.customerId !== undefined && (typeof r.customerId !== 'string' || r.customerId === '')) push('customerId', 'must be a non-empty string')
  if (r.rule !== undefined && !RULES.has(r.rule as string)) push('rule', `must be one of ${[...RULES].join(', ')}`)
}

function removeProblems(item: unknown, path: string, out: ItemProblem[], index: number): void {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    out.push({ index, field: path, message: 'must be an object with virtualSubnetId and customerAddress' })
    return
  }
  const r = item as Json
  const vsid = vsidProblem(r.virtualSubnetId)
  if (vsid !== undefined) out.push({ index, field: `${path}.virtualSubnetId`, message: vsid })
  const address = addressProblem(r.customerAddress)
  if (address !== undefined) out.push({ index, field: `${path}.customerAddress`, message: address })
}

function fail(problems: ItemProblem[]): never {
  throw new BulkError(problems.slice(0, MAX_PROBLEMS), problems.length)
}

/** Merges a checked bulk body into the draft; returns the counts and where each added record landed. */
export function applyBulk(draft: NvlbConfig, add: LookupRecord[], remove: Array<{ virtualSubnetId: number; customerAddress: string }>) {
  const counts = { added: 0, updated: 0, unchanged: 0, removed: 0 }
  const problems: ItemProblem[] = []
  const records = draft.lookupRecords
  // Positions by (VSID, parsed CA) in typed tables: a cloud has a million records.
  const position = new RecordIndex(records.length + add.length)
  for (let i = 0; i < records.length; i++) position.add(records[i]!.virtualSubnetId, records[i]!.customerAddress, i)
  const dropped = new Set<number>()
  remove.forEach((r, index) => {
    const at = position.get(r.virtualSubnetId, r.customerAddress)
    if (at < 0 || dropped.has(at)) {
      problems.push({ index, field: `remove[${index}]`, message: `lookup record ${r.virtualSubnetId}/${r.customerAddress} does not exist` })
      return
    }
    dropped.add(at)
  })
  if (problems.length > 0) fail(problems)
  let kept: LookupRecord[]
  let keptPosition: RecordIndex
  if (dropped.size === 0) {
    // The draft's list is the edit's own copy of the running one.
    kept = records
    keptPosition = position
  } else {
    kept = []
    keptPosition = new RecordIndex(records.length + add.length)
    for (let i = 0; i < records.length; i++) {
      if (dropped.has(i)) continue
      keptPosition.add(records[i]!.virtualSubnetId, records[i]!.customerAddress, kept.length)
      kept.push(records[i]!)
    }
  }
  counts.removed = dropped.size
  const landedAt: number[] = []
  for (const record of add) {
    const at = keptPosition.add(record.virtualSubnetId, record.customerAddress, kept.length)
    if (at < 0) {
      landedAt.push(kept.length)
      kept.push(record)
      counts.added++
    } else {
      const old = kept[at]!
      const same =
        parseIPv4(old.providerAddress) === parseIPv4(record.providerAddress) &&
        canonicalMac(old.macAddress) === canonicalMac(record.macAddress) &&
        (old.customerId ?? '') === (record.customerId ?? '') &&
        (old.rule ?? 'TranslationMethodEncap') === (record.rule ?? 'TranslationMethodEncap')
      if (same) counts.unchanged++
      else counts.updated++
      kept[at] = record
      landedAt.push(at)
    }
  }
  draft.lookupRecords = kept
  return { counts, landedAt }
}

export function registerLookupBulkRoute(app: FastifyInstance, control: AdminControl): void {
  app.post<{ Body: BulkBody }>(
    '/v1/policy/lookup-records/bulk',
    {
      bodyLimit: 512 * 1024 * 1024,
      schema: {
        tags: ['policy'],
        summary: 'Add, replace and remove many lookup records in one atomic change',
        description:
          'add: records to add; one with the (VSID, CA) of an existing record replaces it. remove: (virtualSubnetId, customerAddress) ' +
          'of records to remove (applied first). Nothing is applied unless everything is valid; a 400 names the first offending ' +
          'items by index and field in `items`.',
        body: {
          type: 'object',
          properties: {
            add: { type: 'array', items: { type: 'object' } },
            remove: { type: 'array', items: { type: 'object' } },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['generation', 'added', 'updated', 'unchanged', 'removed', 'total'],
            properties: {
              generation: { type: 'integer' },
              added: { type: 'integer', description: 'records whose (VSID, CA) was new' },
              updated: { type: 'integer', description: 'records that replaced a different one' },
              unchanged: { type: 'integer', description: 'records equal to the one present' },
              removed: { type: 'integer' },
              total: { type: 'integer', description: 'lookup records after the change' },
            },
          },
          ...errorResponses(400, 412),
        },
      },
    },
    async (request, reply) => {
      const add = request.body.add ?? []
      const remove = request.body.remove ?? []
      const problems: ItemProblem[] = []
      const seen = new RecordIndex(add.length)
      for (let i = 0; i < add.length && problems.length < MAX_PROBLEMS; i++) {
        const before = problems.length
        addProblems(add[i], `add[${i}]`, problems, i)
        if (problems.length > before) continue
        const r = add[i] as LookupRecord
        const first = seen.add(r.virtualSubnetId, r.customerAddress, i)
        if (first >= 0) {
          problems.push({ index: i, field: `add[${i}].customerAddress`, message: `${r.virtualSubnetId}/${r.customerAddress} is already in this request at add[${first}]` })
        }
      }
      for (let i = 0; i < remove.length && problems.length < MAX_PROBLEMS; i++) removeProblems(remove[i], `remove[${i}]`, problems, i)
      if (problems.length > 0) fail(problems)

      let counts = { added: 0, updated: 0, unchanged: 0, removed: 0 }
      let landedAt: number[] = []
      let applied
      try {
        applied = await control.update((draft) => {
          const result = applyBulk(draft, add as LookupRecord[], remove as Array<{ virtualSubnetId: number; customerAddress: string }>)
          counts = result.counts
          landedAt = result.landedAt
        }, ifMatch(request))
      } catch (err) {
        // A validation error in a merged record: name it by its index in the request.
        const m = err instanceof NvlbError && err.field !== undefined ? /^lookupRecords\[(\d+)\](.*)$/.exec(err.field) : null
        const index = m === null ? -1 : landedAt.indexOf(Number(m[1]))
        if (index >= 0) {
          const message = err instanceof NvlbError ? err.message.slice((err.field ?? '').length + 2) : String(err)
          fail([{ index, field: `add[${index}]${m![2]}`, message, code: (err as NvlbError).code }])
        }
        throw err
      }
      reply.header('etag', etag(applied.generation))
      const result: BulkResult = { generation: applied.generation, ...counts, total: applied.config.lookupRecords.length }
      return result
    },
  )
}
