/** GET /v1/stats (the StatsReport as JSON) and GET /metrics (Prometheus text). */
import type { FastifyInstance } from 'fastify'
import type { Metrics, StatsSource } from './metrics'
import { errorResponses, ref } from './schemas'

export function registerStatsRoutes(app: FastifyInstance, stats: StatsSource, metrics: Metrics): void {
  app.get(
    '/v1/stats',
    {
      schema: {
        tags: ['stats'],
        summary: 'Packet, byte, flow and drop counters: totals, per VIP rule, per backend, per drop reason',
        response: { 200: ref('StatsReport'), ...errorResponses() },
      },
    },
    async () => stats(),
  )

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['stats'],
        summary: 'The same counters in the Prometheus text format',
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses() },
      },
    },
    async (_request, reply) => {
      const text = await metrics.scrape()
      reply.type(metrics.contentType)
      return text
    },
  )
}
