/**
 * HNV policy: /v1/policy/lookup-records, /v1/policy/customer-routes and
 * POST /v1/policy/import (the output of
 * `Get-NetVirtualizationLookupRecord | ConvertTo-Json`).
 *
 * A lookup record is named by its (VSID, CA):
 * `/v1/policy/lookup-records/{vsid}/{address}`; a customer route by its
 * routing domain, VSID and prefix:
 * `/v1/policy/customer-routes/{customerId}/{vsid}/{prefixAddress}/{prefixLength}`
 * (e.g. `/v1/policy/customer-routes/blue/5001/0.0.0.0/0`).
 */
import type { FastifyInstance } from 'fastify'
import type { CustomerRoute, LookupRecord, NvlbConfig } from '../control/config-types'
import { importLookupRecordsReport } from '../control/powershell-import'
import { ErrorCodes, NvlbError } from '../errors'
import { canonicalMac, parseIPv4, parsePrefix } from '../packet/address'
import type { AdminControl } from './admin-control'
import { addressParam, alreadyExists, answerCached, etag, ifMatch, location, notFound, sameAddress, vsidParam } from './route-helpers'
import { addressParam as addressParamSchema, arrayOf, errorResponses, nameParam, ref, vsidParam as vsidParamSchema } from './schemas'

interface RecordParams {
  vsid: string
  address: string
}
interface RouteParams {
  customerId: string
  vsid: string
  prefixAddress: string
  prefixLength: string
}

const recordParams = {
  type: 'object',
  required: ['vsid', 'address'],
  properties: { vsid: vsidParamSchema, address: addressParamSchema },
} as const
const routeParams = {
  type: 'object',
  required: ['customerId', 'vsid', 'prefixAddress', 'prefixLength'],
  properties: {
    customerId: nameParam,
    vsid: vsidParamSchema,
    prefixAddress: addressParamSchema,
    prefixLength: { type: 'string', pattern: '^[0-9]{1,2}$' },
  },
} as const

export type ImportMode = 'merge' | 'replace'

export interface ImportCounts {
  added: number
  updated: number
  unchanged: number
  removed: number
}

function recordIndex(records: LookupRecord[], vsid: number, address: number): number {
  return records.findIndex((r) => r.virtualSubnetId === vsid && sameAddress(r.customerAddress, address))
}

function macKey(mac: string): string {
  return canonicalMac(mac) ?? mac
}

/** Same policy, whatever the spelling of addresses and MACs. */
export function sameLookupRecord(a: LookupRecord, b: LookupRecord): boolean {
  return (
    a.virtualSubnetId === b.virtualSubnetId &&
    parseIPv4(a.customerAddress) === parseIPv4(b.customerAddress) &&
    parseIPv4(a.providerAddress) === parseIPv4(b.providerAddress) &&
    macKey(a.macAddress) === macKey(b.macAddress) &&
    (a.customerId ?? '') === (b.customerId ?? '') &&
    (a.rule ?? 'TranslationMethodEncap') === (b.rule ?? 'TranslationMethodEncap')
  )
}

/**
 * Puts imported records into `draft.lookupRecords`: per (VSID, CA) a record
 * replaces the one present; with mode 'replace' records the import does not
 * contain are removed.
 */
export function mergeLookupRecords(draft: NvlbConfig, imported: LookupRecord[], mode: ImportMode): ImportCounts {
  const counts: ImportCounts = { added: 0, updated: 0, unchanged: 0, removed: 0 }
  const before = draft.lookupRecords
  const result = mode === 'merge' ? before.slice() : []
  const seen = new Set<string>()
  for (const record of imported) {
    const address = parseIPv4(record.customerAddress)
    const key = `${record.virtualSubnetId}/${address}`
    const at = recordIndex(result, record.virtualSubnetId, address)
    if (seen.has(key)) {
      // The import names this (VSID, CA) twice: the later one wins.
      result[at] = record
      continue
    }
    seen.add(key)
    const old = before[recordIndex(before, record.virtualSubnetId, address)]
    if (old === undefined) counts.added++
    else if (sameLookupRecord(old, record)) counts.unchanged++
    else counts.updated++
    if (at >= 0) result[at] = record
    else result.push(record)
  }
  if (mode === 'replace') counts.removed = before.length - (counts.updated + counts.unchanged)
  draft.lookupRecords = result
  return counts
}

function sameRoute(r: CustomerRoute, customerId: string, vsid: number, prefix: { address: number; length: number }): boolean {
  if (r.customerId !== customerId || r.virtualSubnetId !== vsid) return false
  const p = parsePrefix(r.destinationPrefix)
  return p !== null && p.address === prefix.address && p.length === prefix.length
}

function routePrefix(destinationPrefix: string, field: string): { address: number; length: number } {
  const prefix = parsePrefix(destinationPrefix)
  if (prefix === null) {
    throw new NvlbError(ErrorCodes.BAD_ADDRESS, `'${destinationPrefix}' is not an IPv4 prefix (a.b.c.d/len)`, field)
  }
  return prefix
}

export function registerPolicyRoutes(app: FastifyInstance, control: AdminControl): void {
  app.get(
    '/v1/policy/lookup-records',
    {
      schema: {
        tags: ['policy'],
        summary: 'Lookup records: (VSID, CA) → (PA, MAC)',
        response: { 200: arrayOf('LookupRecord'), ...errorResponses() },
      },
    },
    async (request, reply) => {
      if (answerCached(request, reply, control.generation)) return reply
      return control.config.lookupRecords ?? []
    },
  )

  app.post<{ Body: LookupRecord }>(
    '/v1/policy/lookup-records',
    {
      schema: {
        tags: ['policy'],
        summary: 'Add a lookup record',
        body: ref('LookupRecord'),
        response: { 201: ref('LookupRecord'), ...errorResponses(400, 409, 412) },
      },
    },
    async (request, reply) => {
      const record = request.body
      const address = addressParam(record.customerAddress, 'customerAddress')
      const applied = await control.update((draft) => {
        if (recordIndex(draft.lookupRecords, record.virtualSubnetId, address) >= 0) {
          throw alreadyExists(`lookup record ${record.virtualSubnetId}/${record.customerAddress}`)
        }
        draft.lookupRecords.push(record)
      }, ifMatch(request))
      const added = applied.config.lookupRecords[recordIndex(applied.config.lookupRecords, record.virtualSubnetId, address)]
      reply
        .code(201)
        .header('etag', etag(applied.generation))
        .header('location', location('/v1/policy/lookup-records', record.virtualSubnetId, added?.customerAddress ?? record.customerAddress))
      return added
    },
  )

  app.get<{ Params: RecordParams }>(
    '/v1/policy/lookup-records/:vsid/:address',
    {
      schema: {
        tags: ['policy'],
        summary: 'One lookup record',
        params: recordParams,
        response: { 200: ref('LookupRecord'), ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const generation = control.generation
      const { vsid, address } = request.params
      const records = control.config.lookupRecords ?? []
      const record = records[recordIndex(records, vsidParam(vsid), addressParam(address))]
      if (record === undefined) throw notFound(`lookup record ${vsid}/${address}`)
      if (answerCached(request, reply, generation)) return reply
      return record
    },
  )

  app.put<{ Params: RecordParams; Body: LookupRecord }>(
    '/v1/policy/lookup-records/:vsid/:address',
    {
      schema: {
        tags: ['policy'],
        summary: 'Replace a lookup record (same VSID and CA)',
        params: recordParams,
        body: ref('LookupRecord'),
        response: { 200: ref('LookupRecord'), ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const { vsid, address } = request.params
      const key = addressParam(address)
      const record = request.body
      if (record.virtualSubnetId !== vsidParam(vsid) || !sameAddress(record.customerAddress, key)) {
        throw new NvlbError(
          ErrorCodes.BAD_REQUEST,
          `the body is the record of ${record.virtualSubnetId}/${record.customerAddress}, the URL names ${vsid}/${address}`,
          'customerAddress',
        )
      }
      const applied = await control.update((draft) => {
        const index = recordIndex(draft.lookupRecords, vsidParam(vsid), key)
        if (index < 0) throw notFound(`lookup record ${vsid}/${address}`)
        draft.lookupRecords[index] = record
      }, ifMatch(request))
      reply.header('etag', etag(applied.generation))
      return applied.config.lookupRecords[recordIndex(applied.config.lookupRecords, vsidParam(vsid), key)]
    },
  )

  app.delete<{ Params: RecordParams }>(
    '/v1/policy/lookup-records/:vsid/:address',
    {
      schema: {
        tags: ['policy'],
        summary: 'Remove a lookup record (refused while a pool backend needs it)',
        params: recordParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const { vsid, address } = request.params
      const key = addressParam(address)
      const applied = await control.update((draft) => {
        const index = recordIndex(draft.lookupRecords, vsidParam(vsid), key)
        if (index < 0) throw notFound(`lookup record ${vsid}/${address}`)
        draft.lookupRecords.splice(index, 1)
      }, ifMatch(request))
      reply.code(204).header('etag', etag(applied.generation)).send()
      return reply
    },
  )

  app.post<{ Body: unknown; Querystring: { mode?: ImportMode; skipUnsupported?: 'true' | 'false' } }>(
    '/v1/policy/import',
    {
      schema: {
        tags: ['policy'],
        summary: 'Import `Get-NetVirtualizationLookupRecord | ConvertTo-Json` output as lookup records',
        description:
          'One object or an array, PascalCase, Rule by name or number, MAC in any of the three spellings. ' +
          'mode=merge (default): each record replaces the one with the same (VSID, CA) or is added. ' +
          'mode=replace: the lookup records become exactly the imported ones. ' +
          'skipUnsupported=true leaves out records nvlb cannot use (IPv6, wildcard, TranslationMethodNat, TranslationMethodNone) instead of refusing the import.',
        querystring: {
          type: 'object',
          properties: {
            mode: { type: 'string', enum: ['merge', 'replace'] },
            skipUnsupported: { type: 'string', enum: ['true', 'false'] },
          },
          additionalProperties: false,
        },
        body: { type: ['object', 'array'] },
        response: { 200: ref('ImportResult'), ...errorResponses(400, 412) },
      },
    },
    async (request, reply) => {
      const mode = request.query.mode ?? 'merge'
      const { records: imported, skipped } = importLookupRecordsReport(request.body, {
        skipUnsupported: request.query.skipUnsupported === 'true',
      })
      let counts: ImportCounts = { added: 0, updated: 0, unchanged: 0, removed: 0 }
      const applied = await control.update((draft) => {
        counts = mergeLookupRecords(draft, imported, mode)
      }, ifMatch(request))
      reply.header('etag', etag(applied.generation))
      return { ...counts, skipped, total: applied.config.lookupRecords.length, generation: applied.generation }
    },
  )

  app.get(
    '/v1/policy/customer-routes',
    {
      schema: {
        tags: ['policy'],
        summary: 'Customer routes: (routing domain, VSID, prefix) → next hop',
        response: { 200: arrayOf('CustomerRoute'), ...errorResponses() },
      },
    },
    async (request, reply) => {
      if (answerCached(request, reply, control.generation)) return reply
      return control.config.customerRoutes ?? []
    },
  )

  app.post<{ Body: CustomerRoute }>(
    '/v1/policy/customer-routes',
    {
      schema: {
        tags: ['policy'],
        summary: 'Add a customer route',
        body: ref('CustomerRoute'),
        response: { 201: ref('CustomerRoute'), ...errorResponses(400, 409, 412) },
      },
    },
    async (request, reply) => {
      const route = request.body
      const prefix = routePrefix(route.destinationPrefix, 'destinationPrefix')
      const find = (routes: CustomerRoute[]) =>
        routes.findIndex((r) => sameRoute(r, route.customerId, route.virtualSubnetId, prefix))
      const applied = await control.update((draft) => {
        if (find(draft.customerRoutes) >= 0) {
          throw alreadyExists(`customer route ${route.customerId} ${route.virtualSubnetId} ${route.destinationPrefix}`)
        }
        draft.customerRoutes.push(route)
      }, ifMatch(request))
      const added = applied.config.customerRoutes[find(applied.config.customerRoutes)]
      reply
        .code(201)
        .header('etag', etag(applied.generation))
        .header(
          'location',
          `${location('/v1/policy/customer-routes', route.customerId, route.virtualSubnetId)}/${(added?.destinationPrefix ?? route.destinationPrefix)}`,
        )
      return added
    },
  )

  const routeOf = (params: RouteParams) => {
    const text = `${params.prefixAddress}/${params.prefixLength}`
    return {
      vsid: vsidParam(params.vsid),
      prefix: routePrefix(text, 'destinationPrefix'),
      label: `customer route ${params.customerId} ${params.vsid} ${text}`,
    }
  }

  app.get<{ Params: RouteParams }>(
    '/v1/policy/customer-routes/:customerId/:vsid/:prefixAddress/:prefixLength',
    {
      schema: {
        tags: ['policy'],
        summary: 'One customer route',
        params: routeParams,
        response: { 200: ref('CustomerRoute'), ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const generation = control.generation
      const id = routeOf(request.params)
      const route = (control.config.customerRoutes ?? []).find((r) =>
        sameRoute(r, request.params.customerId, id.vsid, id.prefix),
      )
      if (route === undefined) throw notFound(id.label)
      if (answerCached(request, reply, generation)) return reply
      return route
    },
  )

  app.delete<{ Params: RouteParams }>(
    '/v1/policy/customer-routes/:customerId/:vsid/:prefixAddress/:prefixLength',
    {
      schema: {
        tags: ['policy'],
        summary: 'Remove a customer route',
        params: routeParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const id = routeOf(request.params)
      const applied = await control.update((draft) => {
        const index = draft.customerRoutes.findIndex((r) => sameRoute(r, request.params.customerId, id.vsid, id.prefix))
        if (index < 0) throw notFound(id.label)
        draft.customerRoutes.splice(index, 1)
      }, ifMatch(request))
      reply.code(204).header('etag', etag(applied.generation)).send()
      return reply
    },
  )
}
