/** GET /healthz (the process answers; no token needed) and GET /readyz (a valid configuration runs). */
import type { FastifyInstance } from 'fastify'
import type { AdminControl } from './admin-control'
import type { StoreStatusSource } from './store-status'

const healthSchema = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string' },
    generation: { type: 'integer' },
    store: { type: 'string', description: 'with a shared store (etcd): connected, or why it cannot be reached' },
  },
} as const

export function registerHealthRoutes(app: FastifyInstance, control: AdminControl, storeStatus?: StoreStatusSource): void {
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
        summary:
          '200 when a valid configuration is loaded and compiled, else 503; status "degraded" (still 200: it forwards ' +
          'with the configuration it has) while the shared configuration store cannot be reached',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_request, reply) => {
      const store = storeStatus?.()
      const storeText = store === undefined ? undefined : store.connected ? 'connected' : `unreachable: ${store.error ?? 'no answer'}`
      if (control.ready) {
        return { status: store === undefined || store.connected ? 'ready' : 'degraded', generation: control.generation, store: storeText }
      }
      reply.code(503)
      return { status: 'no configuration loaded', generation: control.generation, store: storeText }
    },
  )
}
