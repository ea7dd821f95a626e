/**
 * /v1/pools, /v1/pools/{name} and the backends of a pool. A backend is named
 * in URLs by its (VSID, CA) inside the pool:
 * `/v1/pools/{name}/backends/{vsid}/{address}`, e.g. `/v1/pools/blue-web/backends/5001/10.1.6.21`.
 */
import type { FastifyInstance } from 'fastify'
import type { NvlbConfig, Pool, PoolBackend } from '../control/config-types'
import { ErrorCodes, NvlbError } from '../errors'
import type { AdminControl } from './admin-control'
import type { DraftFocus } from '../control/control-plane'
import { poolWithHealth } from '../health/health-api'
import type { HealthSource } from '../health/health-service'
import {
  addressParam,
  alreadyExists,
  answerCached,
  etag,
  ifMatch,
  location,
  notFound,
  sameAddress,
  vsidParam,
} from './route-helpers'
import { listPage, pageQueryProperties } from './list-query'
import { addressParam as addressParamSchema, arrayOf, errorResponses, nameParam, ref, vsidParam as vsidParamSchema } from './schemas'

interface PoolParams {
  name: string
}
interface BackendParams extends PoolParams {
  vsid: string
  address: string
}
type BackendPatch = Partial<Pick<PoolBackend, 'state' | 'weight'>>

const poolParams = { type: 'object', required: ['name'], properties: { name: nameParam } } as const
const backendParams = {
  type: 'object',
  required: ['name', 'vsid', 'address'],
  properties: { name: nameParam, vsid: vsidParamSchema, address: addressParamSchema },
} as const

function findPool(config: NvlbConfig, name: string): Pool | undefined {
  return config.pools.find((p) => p.name === name)
}

/** The draft of an edit of pool `name` alone copies that pool only. */
function onePool(name: string): DraftFocus {
  return { section: 'pools', matches: (item) => (item as Pool).name === name }
}

function poolIn(draft: NvlbConfig, name: string): Pool {
  const pool = findPool(draft, name)
  if (pool === undefined) throw notFound(`pool '${name}'`)
  return pool
}

function backendIndex(pool: Pool, vsid: number, address: number): number {
  return pool.backends.findIndex((b) => b.virtualSubnetId === vsid && sameAddress(b.address, address))
}

function backendId(params: BackendParams): { vsid: number; address: number; label: string } {
  return {
    vsid: vsidParam(params.vsid),
    address: addressParam(params.address),
    label: `backend ${params.vsid}/${params.address} of pool '${params.name}'`,
  }
}

function requireSameName(bodyName: unknown, name: string): void {
  if (bodyName !== undefined && bodyName !== name) {
    throw new NvlbError(
      ErrorCodes.BAD_REQUEST,
      `the body names pool '${String(bodyName)}' but the URL names '${name}' (a pool cannot be renamed)`,
      'name',
    )
  }
}

export function registerPoolRoutes(app: FastifyInstance, control: AdminControl, health?: HealthSource): void {
  app.get(
    '/v1/pools',
    {
      schema: {
        tags: ['pools'],
        summary: 'Every pool with its backends',
        description: 'Filter by virtualSubnetId (pools with a backend in that VSID); page with limit and cursor (pages are ordered by name).',
        querystring: {
          type: 'object',
          properties: { virtualSubnetId: vsidParamSchema, ...pageQueryProperties },
          additionalProperties: false,
        },
        response: { 200: arrayOf('Pool'), ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      if (answerCached(request, reply, control.generation)) return reply
      const q = request.query as { virtualSubnetId?: string }
      const vsid = q.virtualSubnetId === undefined ? undefined : Number(q.virtualSubnetId)
      return listPage(
        request,
        reply,
        control.config.pools ?? [],
        vsid === undefined ? undefined : (p: Pool) => p.backends.some((b) => b.virtualSubnetId === vsid),
        (p) => [p.name],
      )
    },
  )

  app.post<{ Body: Pool }>(
    '/v1/pools',
    {
      schema: {
        tags: ['pools'],
        summary: 'Create a pool',
        body: ref('Pool'),
        response: { 201: ref('Pool'), ...errorResponses(400, 409, 412) },
      },
    },
    async (request, reply) => {
      const pool = request.body
      const applied = await control.update((draft) => {
        if (findPool(draft, pool.name) !== undefined) throw alreadyExists(`pool '${pool.name}'`, 'name')
        draft.pools.push(pool)
      }, ifMatch(request))
      reply.code(201).header('etag', etag(applied.generation)).header('location', location('/v1/pools', pool.name))
      return findPool(applied.config, pool.name)
    },
  )

  app.get<{ Params: PoolParams }>(
    '/v1/pools/:name',
    {
      schema: { tags: ['pools'], summary: 'One pool; each probed backend with its `health` (state, probe, since, lastCheck, lastError, latencyMs)', params: poolParams, response: { 200: ref('Pool'), ...errorResponses(404) } },
    },
    async (request, reply) => {
      const generation = control.generation
      const pool = findPool(control.config, request.params.name)
      if (pool === undefined) throw notFound(`pool '${request.params.name}'`)
      // Health changes without a new generation: no 304 once probes judge backends.
      if (health !== undefined) return reply.header('etag', etag(generation)).send(poolWithHealth(pool, health))
      if (answerCached(request, reply, generation)) return reply
      return pool
    },
  )

  app.put<{ Params: PoolParams; Body: Pool }>(
    '/v1/pools/:name',
    {
      schema: {
        tags: ['pools'],
        summary: 'Replace a pool (its name stays; VIP rules keep pointing at it)',
        params: poolParams,
        body: ref('Pool'),
        response: { 200: ref('Pool'), ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      requireSameName(request.body.name, name)
      const applied = await control.update(
        (draft) => {
          const index = draft.pools.indexOf(poolIn(draft, name))
          draft.pools[index] = request.body
        },
        ifMatch(request),
        onePool(name),
      )
      reply.header('etag', etag(applied.generation))
      return findPool(applied.config, name)
    },
  )

  app.delete<{ Params: PoolParams }>(
    '/v1/pools/:name',
    {
      schema: {
        tags: ['pools'],
        summary: 'Delete a pool no VIP rule uses',
        params: poolParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...errorResponses(404, 409, 412) },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const applied = await control.update((draft) => {
        const index = draft.pools.indexOf(poolIn(draft, name))
        const user = draft.vips.find((v) => v.rules.some((r) => r.pool === name))
        if (user !== undefined) {
          throw new NvlbError(
            ErrorCodes.POOL_IN_USE,
            `pool '${name}' is used by vip '${user.name}'; change or delete that VIP first`,
            undefined,
            409,
          )
        }
        draft.pools.splice(index, 1)
      }, ifMatch(request))
      reply.code(204).header('etag', etag(applied.generation)).send()
      return reply
    },
  )

  app.get<{ Params: PoolParams }>(
    '/v1/pools/:name/backends',
    {
      schema: {
        tags: ['backends'],
        summary: "A pool's backends",
        params: poolParams,
        response: { 200: arrayOf('Backend'), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const generation = control.generation
      const pool = findPool(control.config, request.params.name)
      if (pool === undefined) throw notFound(`pool '${request.params.name}'`)
      if (answerCached(request, reply, generation)) return reply
      return pool.backends
    },
  )

  app.post<{ Params: PoolParams; Body: PoolBackend }>(
    '/v1/pools/:name/backends',
    {
      schema: {
        tags: ['backends'],
        summary: 'Add a backend to a pool; its (VSID, CA) needs a lookup record',
        params: poolParams,
        body: ref('Backend'),
        response: { 201: ref('Backend'), ...errorResponses(400, 404, 409, 412) },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const backend = request.body
      const address = addressParam(backend.address, 'address')
      const applied = await control.update(
        (draft) => {
          const pool = poolIn(draft, name)
          if (backendIndex(pool, backend.virtualSubnetId, address) >= 0) {
            throw alreadyExists(`backend ${backend.virtualSubnetId}/${backend.address} of pool '${name}'`)
          }
          pool.backends.push(backend)
        },
        ifMatch(request),
        onePool(name),
      )
      const added = poolIn(applied.config, name).backends.find(
        (b) => b.virtualSubnetId === backend.virtualSubnetId && sameAddress(b.address, address),
      )
      reply
        .code(201)
        .header('etag', etag(applied.generation))
        .header('location', location('/v1/pools', name, 'backends', backend.virtualSubnetId, added?.address ?? backend.address))
      return added
    },
  )

  app.get<{ Params: BackendParams }>(
    '/v1/pools/:name/backends/:vsid/:address',
    {
      schema: {
        tags: ['backends'],
        summary: 'One backend',
        params: backendParams,
        response: { 200: ref('Backend'), ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const generation = control.generation
      const id = backendId(request.params)
      const pool = findPool(control.config, request.params.name)
      if (pool === undefined) throw notFound(`pool '${request.params.name}'`)
      const index = backendIndex(pool, id.vsid, id.address)
      if (index < 0) throw notFound(id.label)
      if (answerCached(request, reply, generation)) return reply
      return pool.backends[index]
    },
  )

  app.patch<{ Params: BackendParams; Body: BackendPatch }>(
    '/v1/pools/:name/backends/:vsid/:address',
    {
      schema: {
        tags: ['backends'],
        summary: "Change a backend's state and/or weight, nothing else",
        description:
          "'draining' keeps the backend's flows and gives it no new ones; 'disabled' takes it out; weight 0 keeps it without new flows.",
        params: backendParams,
        body: ref('BackendPatch'),
        response: { 200: ref('Backend'), ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const id = backendId(request.params)
      const { name } = request.params
      const patch = request.body
      const applied = await control.update(
        (draft) => {
          const pool = poolIn(draft, name)
          const index = backendIndex(pool, id.vsid, id.address)
          if (index < 0) throw notFound(id.label)
          const backend = pool.backends[index]!
          if (patch.state !== undefined) backend.state = patch.state
          if (patch.weight !== undefined) backend.weight = patch.weight
        },
        ifMatch(request),
        onePool(name),
      )
      reply.header('etag', etag(applied.generation))
      const pool = poolIn(applied.config, name)
      return pool.backends[backendIndex(pool, id.vsid, id.address)]
    },
  )

  app.delete<{ Params: BackendParams }>(
    '/v1/pools/:name/backends/:vsid/:address',
    {
      schema: {
        tags: ['backends'],
        summary: 'Remove a backend from a pool (its flows go to the others)',
        params: backendParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      const id = backendId(request.params)
      const { name } = request.params
      const applied = await control.update(
        (draft) => {
          const pool = poolIn(draft, name)
          const index = backendIndex(pool, id.vsid, id.address)
          if (index < 0) throw notFound(id.label)
          pool.backends.splice(index, 1)
        },
        ifMatch(request),
        onePool(name),
      )
      reply.code(204).header('etag', etag(applied.generation)).send()
      return reply
    },
  )
}
