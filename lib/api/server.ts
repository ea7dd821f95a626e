/**
 * The admin API: one fastify instance with bearer auth on every route but
 * GET /healthz, JSON-schema validated bodies, NVLB_ERR_* error bodies,
 * ETag/If-Match on the configuration's generation, and OpenAPI at /docs.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { Logger } from 'pino'
import { ErrorCodes } from '../errors'
import type { AdminControl } from './admin-control'
import { errorBody, toErrorBody } from './http-errors'
import { Metrics, type StatsSource } from './metrics'
import { registerConfigRoutes } from './routes-config'
import { registerConsoleRoutes } from './routes-console'
import { registerHealthRoutes } from './routes-health'
import { registerPolicyRoutes } from './routes-policy'
import { registerLookupBulkRoute } from './routes-lookup-bulk'
import { registerPoolRoutes } from './routes-pools'
import { registerSimulateRoutes, type Simulate } from './routes-simulate'
import { registerStatsRoutes } from './routes-stats'
import { registerVipRoutes } from './routes-vips'
import { registerInstanceRoutes } from './routes-instances'
import { registerStoreMetric, type StoreStatusSource } from './store-status'
import type { InstanceRegistry } from '../control/instance-registry'
import { requestValidatorCompiler, responseSerializerFactory, sharedSchemas } from './schemas'
import { registerHealthApi } from '../health/health-api'
import type { HealthSource } from '../health/health-service'
import { LoginThrottle, SWAGGER_SESSION_SCRIPT, SessionStore, sessionOrBearerAuth } from './session'

export interface ApiOptions<S> {
  control: AdminControl<S>
  stats: StatsSource
  simulate: Simulate<S>
  logger: Logger
  /** The bearer token every route but GET /healthz requires. */
  token: string
  /** Largest request body; PowerShell exports of big fabrics can be several MB. Default 16 MiB. */
  bodyLimit?: number
  /** Node.js process metrics in /metrics; default true. */
  processMetrics?: boolean
  /** Backend health from probes (GET /v1/health, pools' `health`, nvlb_backend_up). */
  health?: HealthSource
  /** Console sessions and the failed-login throttle (defaults: 8 h sessions, waits after 3 failures). */
  sessions?: SessionStore
  loginThrottle?: LoginThrottle
  /** The instances sharing the configuration (GET /v1/instances); default: this one alone. */
  instances?: InstanceRegistry
  /** The shared configuration store's connection (etcd): /readyz says degraded and nvlb_store_connected is 0 while it is lost. */
  storeStatus?: StoreStatusSource
}

export const API_VERSION = '0.1.0'

export async function buildApi<S>(options: ApiOptions<S>): Promise<FastifyInstance> {
  const { control } = options
  const app = Fastify({
    loggerInstance: options.logger,
    // Changes are logged once by the control plane; requests are not.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: nothing logs per request, and creating one
    // costs more than the whole GET /v1/vips handler (measured in bench/api).
    childLoggerFactory: (logger) => logger,
    bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024,
    // Bodies are checked as sent: no coercion ("5001" is not a VSID), no
    // silently dropped fields, no defaults (the validator fills those).
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true },
    },
    // Responses of the configuration's parts are serialized without `required` (see schemas.ts).
    schemaController: { compilersFactory: { buildSerializer: responseSerializerFactory as never } },
  }) as unknown as FastifyInstance

  const sessions = options.sessions ?? new SessionStore()
  app.addHook('onRequest', sessionOrBearerAuth(options.token, sessions))

  app.setErrorHandler((err, request, reply) => {
    const body = toErrorBody(err)
    if (body.statusCode >= 500) request.log.error({ err, url: request.url, method: request.method }, 'admin API request failed')
    else request.log.debug({ code: body.code, field: body.field, url: request.url }, body.message)
    reply.code(body.statusCode).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(404, ErrorCodes.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  for (const schema of sharedSchemas) app.addSchema(schema)
  app.setValidatorCompiler(requestValidatorCompiler())

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'nvlb admin API',
        version: API_VERSION,
        description:
          'Manage VIPs, pools, backends and HNV policy of an nvlb load balancer. Every route but GET /healthz ' +
          'needs `Authorization: Bearer <token>`. Responses carry `ETag: "<generation>"`; writes honour `If-Match`. ' +
          'Errors: `{ statusCode, code: "NVLB_ERR_…", error, message, field? }`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'config', description: 'The whole configuration document' },
        { name: 'vips', description: 'Virtual IPs and their rules' },
        { name: 'pools', description: 'Backend pools' },
        { name: 'backends', description: "A pool's backends, named by (VSID, CA)" },
        { name: 'policy', description: 'HNV lookup records and customer routes' },
        { name: 'simulate', description: 'Which backend gets a flow' },
        { name: 'stats', description: 'Counters' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'instances', description: 'The nvlb instances sharing the configuration' },
        { name: 'session', description: 'Console login: the token for a session cookie' },
      ],
    },
    refResolver: {
      buildLocalReference(json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', theme: { js: [SWAGGER_SESSION_SCRIPT] } })

  const metrics = new Metrics({
    stats: options.stats,
    configGeneration: () => control.generation,
    ready: () => control.ready,
    processMetrics: options.processMetrics,
  })

  registerHealthRoutes(app, control, options.storeStatus)
  if (options.storeStatus !== undefined) registerStoreMetric(metrics.registry, options.storeStatus)
  if (options.instances !== undefined) registerInstanceRoutes(app, options.instances)
  registerConfigRoutes(app, control)
  registerVipRoutes(app, control)
  registerPoolRoutes(app, control, options.health)
  if (options.health !== undefined) {
    registerHealthApi(app, options.health)
    options.health.registerMetrics(metrics.registry)
  }
  registerPolicyRoutes(app, control)
  registerLookupBulkRoute(app, control)
  registerSimulateRoutes(app, control, options.simulate)
  registerStatsRoutes(app, options.stats, metrics)
  await registerConsoleRoutes(app, {
    control: control as AdminControl<unknown>,
    stats: options.stats,
    token: options.token,
    sessions,
    throttle: options.loginThrottle ?? new LoginThrottle(),
    version: API_VERSION,
  })

  await app.ready()
  return app
}
