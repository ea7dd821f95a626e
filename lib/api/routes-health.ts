/** GET /healthz (the process answers; no token needed) and GET /readyz (a valid configuration runs). */
import type { FastifyInstance } from 'fastify'
import type { AdminControl } from './admin-control'

const healthSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' }, generation: { type: 'integer' } },
} as const

export function registerHealthRoutes(app: FastifyInstance, control: AdminControl): void {
  app.get(
    '/healthz',
    {
      schema: { tags: ['health'], summary: 'Liveness; the only route without a token', security: [], response: { 200: healthSchema } },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: '200 when a valid configuration is loaded and compiled, else 503',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_request, reply) => {
      if (control.ready) return { status: 'ready', generation: control.generation }
      reply.code(503)
      return { status: 'no configuration loaded', generation: control.generation }
    },
  )
}
