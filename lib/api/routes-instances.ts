/** GET /v1/instances: every nvlb instance sharing this configuration (the etcd store's registry; alone: itself). */
import type { FastifyInstance } from 'fastify'
import type { InstanceRegistry } from '../control/instance-registry'
import { errorResponses } from './schemas'

export const instanceSchema = {
  type: 'object',
  required: ['name', 'apiAddress', 'generation', 'ready', 'storeConnected', 'startedAt', 'updatedAt'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', description: 'the instance name (nvlb run --instance-name)' },
    providerAddress: { type: 'string', description: "its node's provider address (PA)" },
    externalAddress: { type: 'string', description: "its node's external address" },
    apiAddress: { type: 'string', description: 'its admin API, http://HOST:PORT' },
    generation: { type: 'integer', description: 'the configuration generation it runs' },
    ready: { type: 'boolean', description: 'a valid configuration runs' },
    storeConnected: { type: 'boolean', description: 'it reaches the shared configuration store' },
    startedAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time', description: 'when it last wrote its entry' },
  },
} as const

export function registerInstanceRoutes(app: FastifyInstance, instances: InstanceRegistry): void {
  app.get(
    '/v1/instances',
    {
      schema: {
        tags: ['instances'],
        summary: 'Every nvlb instance sharing this configuration; a dead one disappears when its etcd lease expires',
        response: {
          200: { type: 'object', required: ['instances'], properties: { instances: { type: 'array', items: instanceSchema } } },
          ...errorResponses(503),
        },
      },
    },
    async () => ({ instances: await instances.list() }),
  )
}
