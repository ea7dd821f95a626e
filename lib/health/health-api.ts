/**
 * Backend health in the admin API: GET /v1/health (every probed backend), and
 * the `health` object GET /v1/pools/NAME adds to each backend.
 */
import type { FastifyInstance } from 'fastify'
import type { Pool } from '../control/config-types'
import type { HealthSource } from './health-service'

export const healthViewSchema = {
  type: 'object',
  properties: {
    state: { type: 'string', enum: ['unknown', 'up', 'down'] },
    probe: { type: 'string', description: 'the probe(s) that judge the backend' },
    since: { type: 'string', description: 'when the backend entered this state (ISO 8601)' },
    lastCheck: { type: ['string', 'null'], description: 'when the last probe ended' },
    lastError: { type: ['string', 'null'], description: 'why the last failed probe failed, or why the backend is held down' },
    latencyMs: { type: ['number', 'null'], description: 'duration of the last successful probe' },
  },
} as const

const entrySchema = {
  type: 'object',
  properties: {
    pool: { type: 'string' },
    backend: { type: 'string', description: '<vsid>/<address>:<port>' },
    virtualSubnetId: { type: 'integer' },
    address: { type: 'string' },
    port: { type: 'integer' },
    ...healthViewSchema.properties,
  },
} as const

/** A pool with `health` on every probed backend (backends no probe judges have none). */
export function poolWithHealth(pool: Pool, health: HealthSource): Pool {
  return {
    ...pool,
    backends: pool.backends.map((b) => {
      const h = health.backendHealth(pool.name, b.virtualSubnetId, b.address)
      return h === undefined ? b : { ...b, health: h }
    }),
  }
}

export function registerHealthApi(app: FastifyInstance, health: HealthSource): void {
  app.get(
    '/v1/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Every probed backend: health state, since when, last check, last error, latency; probe tunnel counters',
        response: {
          200: {
            type: 'object',
            properties: {
              backends: { type: 'array', items: entrySchema },
              tunnel: { type: 'object', additionalProperties: { type: 'number' } },
              applied: {
                type: 'boolean',
                description:
                  'true once every packet worker runs a snapshot built with the health shown (false for the moment between a change of health and its adoption)',
              },
              epoch: { type: 'integer', description: 'epoch of the last snapshot handed to the packet path (-1 before the first)' },
              notProbing: {
                type: ['string', 'null'],
                description: 'why rules name probes but none run (nvlb run --no-dataplane, or the probe tunnel could not open); null otherwise',
              },
            },
          },
        },
      },
    },
    async () => ({ backends: health.list(), tunnel: health.tunnelStats(), applied: health.applied(), epoch: health.publishedEpoch(), notProbing: health.notProbing() }),
  )
}
