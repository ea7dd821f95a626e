/** GET/PUT /v1/config: the whole configuration document (lib/control/config-schema.ts). */
import type { FastifyInstance } from 'fastify'
import type { AdminControl } from './admin-control'
import { answerCached, etag, ifMatch } from './route-helpers'
import { errorResponses, ref } from './schemas'

export function registerConfigRoutes(app: FastifyInstance, control: AdminControl): void {
  app.get(
    '/v1/config',
    {
      schema: {
        tags: ['config'],
        summary: 'The running configuration document; ETag = its generation',
        response: { 200: ref('Config'), ...errorResponses() },
      },
    },
    async (request, reply) => {
      if (answerCached(request, reply, control.generation)) return reply
      return control.config
    },
  )

  app.put(
    '/v1/config',
    {
      schema: {
        tags: ['config'],
        summary: 'Replace the whole document (validated whole, applied atomically)',
        description: 'Send If-Match: "<generation>" to refuse the change when someone else changed the configuration first.',
        body: ref('Config'),
        response: { 200: ref('Config'), ...errorResponses(400, 412) },
      },
    },
    async (request, reply) => {
      const applied = await control.replace(request.body, ifMatch(request))
      reply.header('etag', etag(applied.generation))
      return applied.config
    },
  )
}
