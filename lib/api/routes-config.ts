/** GET/PUT /v1/config: the whole configuration document (lib/control/config-schema.ts). */
import type { FastifyInstance } from 'fastify'
import { configJsonStream } from '../control/config-json-stream'
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
        description: 'Streamed section by section (a document of a million lookup records is tens of MB): the body is the document\'s JSON.',
        response: { 200: ref('Config'), ...errorResponses() },
      },
    },
    async (request, reply) => {
      // Generation and document are read together: the stream writes the one the ETag names.
      const config = control.config
      if (answerCached(request, reply, control.generation)) return reply
      reply.type('application/json; charset=utf-8')
      return reply.send(configJsonStream(config))
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
        response: { 200: ref('Config'), ...errorResponses(400, 409, 412) },
      },
    },
    async (request, reply) => {
      const applied = await control.replace(request.body, ifMatch(request))
      reply.header('etag', etag(applied.generation))
      return applied.config
    },
  )
}
