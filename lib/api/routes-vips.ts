/**
 * /v1/vips and /v1/vips/{name}. The list is serialized once per configuration
 * generation: it is the most frequently read resource.
 */
import type { FastifyInstance } from 'fastify'
import type { NvlbConfig, Vip } from '../control/config-types'
import { ErrorCodes, NvlbError } from '../errors'
import type { AdminControl } from './admin-control'
import { addressParam, alreadyExists, answerCached, etag, ifMatch, location, notFound, sameAddress } from './route-helpers'
import { listPage, pageQueryProperties } from './list-query'
import { addressParam as addressParamSchema, arrayOf, errorResponses, nameParam, ref, vsidParam as vsidParamSchema } from './schemas'
import { vipSchema } from '../control/config-schema'

interface NameParams {
  name: string
}

const nameParams = { type: 'object', required: ['name'], properties: { name: nameParam } } as const

const vipPatchSchema = {
  type: 'object',
  minProperties: 1,
  properties: vipSchema.properties,
  additionalProperties: true,
} as const

function findVip(config: NvlbConfig, name: string): Vip | undefined {
  return config.vips.find((v) => v.name === name)
}

function vipIndex(draft: NvlbConfig, name: string): number {
  const index = draft.vips.findIndex((v) => v.name === name)
  if (index < 0) throw notFound(`vip '${name}'`)
  return index
}

function requireSameName(bodyName: unknown, name: string): void {
  if (bodyName !== undefined && bodyName !== name) {
    throw new NvlbError(
      ErrorCodes.BAD_REQUEST,
      `the body names vip '${String(bodyName)}' but the URL names '${name}' (a VIP cannot be renamed; delete and create it)`,
      'name',
    )
  }
}

export function registerVipRoutes(app: FastifyInstance, control: AdminControl): void {
  let listFor: NvlbConfig | undefined
  let listJson = '[]'

  app.get(
    '/v1/vips',
    {
      schema: {
        tags: ['vips'],
        summary: 'Every VIP with its rules',
        description: 'Filter by virtualSubnetId (0: public VIPs) or address; page with limit and cursor (pages are ordered by name).',
        querystring: {
          type: 'object',
          properties: { virtualSubnetId: vsidParamSchema, address: addressParamSchema, ...pageQueryProperties },
          additionalProperties: false,
        },
        response: { 200: arrayOf('Vip'), ...errorResponses(400) },
      },
    },
    (request, reply) => {
      if (answerCached(request, reply, control.generation)) return reply
      const config = control.config
      const q = request.query as { virtualSubnetId?: string; address?: string; limit?: string; cursor?: string }
      if (q.virtualSubnetId !== undefined || q.address !== undefined || q.limit !== undefined || q.cursor !== undefined) {
        const vsid = q.virtualSubnetId === undefined ? undefined : Number(q.virtualSubnetId)
        const address = q.address === undefined ? undefined : addressParam(q.address)
        return reply.send(
          listPage(
            request,
            reply,
            config.vips ?? [],
            vsid === undefined && address === undefined
              ? undefined
              : (v: Vip) => (vsid === undefined || v.virtualSubnetId === vsid) && (address === undefined || sameAddress(v.address, address)),
            (v) => [v.name],
          ),
        )
      }
      reply.header('x-total-count', String((config.vips ?? []).length))
      if (config !== listFor) {
        listJson = JSON.stringify(config.vips ?? [])
        listFor = config
      }
      reply.type('application/json; charset=utf-8').send(listJson)
      return reply
    },
  )

  app.post<{ Body: Vip }>(
    '/v1/vips',
    {
      schema: {
        tags: ['vips'],
        summary: 'Create a VIP',
        body: ref('Vip'),
        response: { 201: ref('Vip'), ...errorResponses(400, 409, 412) },
      },
    },
    async (request, reply) => {
      const vip = request.body
      const applied = await control.update((draft) => {
        if (findVip(draft, vip.name) !== undefined) throw alreadyExists(`vip '${vip.name}'`, 'name')
        draft.vips.push(vip)
      }, ifMatch(request))
      reply.code(201).header('etag', etag(applied.generation)).header('location', location('/v1/vips', vip.name))
      return findVip(applied.config, vip.name)
    },
  )

  app.get<{ Params: NameParams }>(
    '/v1/vips/:name',
    {
      schema: {
        tags: ['vips'],
        summary: 'One VIP',
        params: nameParams,
        response: { 200: ref('Vip'), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const generation = control.generation
      const vip = findVip(control.config, request.params.name)
      if (vip === undefined) throw notFound(`vip '${request.params.name}'`)
      if (answerCached(request, reply, generation)) return reply
      return vip
    },
  )

  app.put<{ Params: NameParams; Body: Vip }>(
    '/v1/vips/:name',
    {
      schema: {
        tags: ['vips'],
        summary: 'Replace a VIP (its name stays)',
        params: nameParams,
        body: ref('Vip'),
        response: { 200: ref('Vip'), ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      requireSameName(request.body.name, name)
      const applied = await control.update((draft) => {
        draft.vips[vipIndex(draft, name)] = request.body
      }, ifMatch(request))
      reply.header('etag', etag(applied.generation))
      return findVip(applied.config, name)
    },
  )

  app.patch<{ Params: NameParams; Body: Partial<Vip> }>(
    '/v1/vips/:name',
    {
      schema: {
        tags: ['vips'],
        summary: 'Change some fields of a VIP; `rules`, when given, replaces all rules',
        params: nameParams,
        body: vipPatchSchema,
        response: { 200: ref('Vip'), ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      requireSameName(request.body.name, name)
      const applied = await control.update((draft) => {
        const index = vipIndex(draft, name)
        draft.vips[index] = { ...draft.vips[index]!, ...request.body, name }
      }, ifMatch(request))
      reply.header('etag', etag(applied.generation))
      return findVip(applied.config, name)
    },
  )

  app.delete<{ Params: NameParams }>(
    '/v1/vips/:name',
    {
      schema: {
        tags: ['vips'],
        summary: 'Delete a VIP',
        params: nameParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...errorResponses(404, 412) },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const applied = await control.update((draft) => {
        draft.vips.splice(vipIndex(draft, name), 1)
      }, ifMatch(request))
      reply.code(204).header('etag', etag(applied.generation)).send()
      return reply
    },
  )
}
