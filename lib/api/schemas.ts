/**
 * JSON schemas of the admin API: request validation, response serialization and
 * the OpenAPI document at /docs.
 *
 * The configuration's parts (Config, Node, Vip, Pool, …) are the one schema of
 * lib/control/config-schema.ts, with ranges, formats, defaults and descriptions;
 * the OpenAPI document shows them whole. Request bodies are checked against their
 * shape (types, required fields, enums: see `shapeOf`); ranges, formats, references
 * and uniqueness are then checked by the configuration validator on the whole
 * document, which names the field with its place in the document and the most
 * specific NVLB_ERR_* code. Objects allow extra fields and keep them in responses.
 */
import { configSchemas, shapeOf } from '../control/config-schema'
import { configAjv } from '../control/config-validate'
import type { ValidateFunction } from 'ajv'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'

/** The $ids of the configuration's parts, whose request bodies are checked by shape only. */
export const configSchemaIds: ReadonlySet<string> = new Set(configSchemas.map((s) => s.$id))

export const simulatedFlowSchema = {
  $id: 'SimulatedFlow',
  type: 'object',
  required: ['virtualSubnetId', 'protocol', 'source', 'sourcePort', 'destination', 'destinationPort'],
  properties: {
    virtualSubnetId: { type: 'integer', description: '0 for traffic from the Internet' },
    protocol: { type: 'string', enum: ['tcp', 'udp'] },
    source: { type: 'string' },
    sourcePort: { type: 'integer', minimum: 0, maximum: 65535 },
    destination: { type: 'string' },
    destinationPort: { type: 'integer', minimum: 0, maximum: 65535 },
  },
  additionalProperties: false,
} as const

export const simulationResultSchema = {
  $id: 'SimulationResult',
  type: 'object',
  required: ['matched', 'reason'],
  properties: {
    matched: { type: 'boolean' },
    reason: { type: 'string' },
    vip: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        address: { type: 'string' },
        virtualSubnetId: { type: 'integer' },
        natMode: { type: 'string' },
      },
    },
    rule: {
      type: 'object',
      properties: {
        protocol: { type: 'string' },
        frontendPort: { type: 'integer' },
        backendPort: { type: 'integer' },
        pool: { type: 'string' },
        distribution: { type: 'string' },
      },
    },
    backend: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        virtualSubnetId: { type: 'integer' },
        address: { type: 'string' },
        port: { type: 'integer' },
        providerAddress: { type: 'string' },
        macAddress: { type: 'string' },
      },
    },
    hash: { type: 'integer' },
    slot: { type: 'integer' },
  },
  additionalProperties: true,
} as const

const counter = { type: 'number' } as const

export const statsReportSchema = {
  $id: 'StatsReport',
  type: 'object',
  properties: {
    generation: { type: 'integer', description: 'generation of the snapshot the packet path runs' },
    activeFlows: counter,
    flowsCreated: counter,
    flowsEvicted: counter,
    flowsEvictedByClass: {
      type: 'object',
      properties: { halfOpen: counter, established: counter, closing: counter },
      description: 'flows evicted from a full flow table, by the class of the flow evicted',
    },
    flowsExpired: counter,
    repliesWithoutFlow: { ...counter, description: 'public dnat replies translated without a flow (a connection another instance carried)' },
    rxPackets: counter,
    rxBytes: counter,
    txPackets: counter,
    txBytes: counter,
    drops: { type: 'object', additionalProperties: counter, description: 'drop reason → packets' },
    vips: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          vip: { type: 'string' },
          address: { type: 'string' },
          virtualSubnetId: { type: 'integer' },
          protocol: { type: 'string' },
          frontendPort: { type: 'integer' },
          packets: counter,
          bytes: counter,
          flowsCreated: counter,
        },
      },
    },
    backends: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          pool: { type: 'string' },
          virtualSubnetId: { type: 'integer' },
          address: { type: 'string' },
          port: { type: 'integer' },
          state: { type: 'string' },
          packets: counter,
          bytes: counter,
          flowsCreated: counter,
        },
      },
    },
    io: {
      type: 'object',
      description: "the packet workers' I/O (present when AF_PACKET workers run)",
      properties: {
        workers: { type: 'integer', description: 'packet worker threads' },
        mode: { type: 'string', description: "how the workers move frames: 'rings', 'recvmmsg' (the kernel refused rings) or 'af-xdp' (nvlb run --io)" },
        busyPollUs: { type: 'integer', description: 'µs a worker keeps looking at its sockets after the last frame before it sleeps (nvlb run --busy-poll; 0: off)' },
        workerRestarts: { ...counter, description: 'workers that died and were started again on the same sockets' },
        handoffs: { ...counter, description: 'frames handed to the worker that owns their flow' },
        handoffDrops: { ...counter, description: "frames dropped because the owner's handoff ring was full" },
        kernelDrops: { ...counter, description: "frames the kernel dropped because a socket's receive queue was full" },
        rxTruncated: { ...counter, description: 'frames longer than a receive slot (dropped)' },
        txErrors: { ...counter, description: 'frames the kernel refused to send (dropped)' },
        perWorker: {
          type: 'array',
          description: 'each packet worker on its own: how evenly the kernel spreads frames over them',
          items: {
            type: 'object',
            properties: {
              worker: { type: 'integer', description: 'worker index (its fanout group member)' },
              rxPackets: { ...counter, description: 'frames this worker received' },
              txPackets: { ...counter, description: 'frames this worker sent' },
              activeFlows: { type: 'integer', description: "flows in this worker's flow table" },
              generation: { type: 'integer', description: 'configuration generation this worker runs (−1 while it starts)' },
              sleeps: { ...counter, description: 'times this worker slept in poll(2) waiting for frames (nvlb run --busy-poll keeps it low under load)' },
            },
          },
        },
      },
    },
  },
  additionalProperties: true,
} as const

export const importResultSchema = {
  $id: 'ImportResult',
  type: 'object',
  required: ['added', 'updated', 'unchanged', 'total', 'generation'],
  properties: {
    added: { type: 'integer', description: 'records whose (VSID, CA) was new' },
    updated: { type: 'integer', description: 'records that replaced a different one with the same (VSID, CA)' },
    unchanged: { type: 'integer', description: 'records equal to the one already present' },
    removed: { type: 'integer', description: 'mode=replace: records dropped because the import did not contain them' },
    skipped: {
      type: 'array',
      description: 'skipUnsupported=true: records left out, by index in the export, and why',
      items: { type: 'object', properties: { index: { type: 'integer' }, reason: { type: 'string' } } },
    },
    total: { type: 'integer', description: 'lookup records in the configuration after the import' },
    generation: { type: 'integer' },
  },
} as const

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', description: 'NVLB_ERR_*' },
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string', description: 'JSON path of the field at fault' },
    items: {
      type: 'array',
      description: 'Bulk requests: the first offending items, by index and field',
      items: {
        type: 'object',
        properties: { index: { type: 'integer' }, field: { type: 'string' }, message: { type: 'string' }, code: { type: 'string' } },
      },
    },
  },
} as const

/** Every shared schema, registered with fastify.addSchema (and listed in the OpenAPI components). */
export const sharedSchemas = [
  ...configSchemas,
  simulatedFlowSchema,
  simulationResultSchema,
  statsReportSchema,
  importResultSchema,
  errorSchema,
] as const

export const ref = (id: string) => ({ $ref: `${id}#` }) as const
export const arrayOf = (id: string) => ({ type: 'array', items: { $ref: `${id}#` } }) as const

/** Path parameter spellings, checked here and parsed by the routes. */
export const nameParam = { type: 'string', minLength: 1 } as const
export const vsidParam = { type: 'string', pattern: '^[0-9]{1,8}$', description: 'VSID, decimal' } as const
export const addressParam = { type: 'string', minLength: 1, description: 'IPv4 address' } as const

/** The error responses a route may give, for the OpenAPI document. */
export function errorResponses(...codes: number[]): Record<number, { $ref: string }> {
  const out: Record<number, { $ref: string }> = { 401: ref('Error') }
  for (const code of codes) out[code] = ref('Error')
  return out
}

/**
 * The validator compiler of the admin API's requests (fastify's setValidatorCompiler):
 * no coercion ("5001" is not a VSID), no silently dropped fields, no defaults (the
 * configuration validator fills those). Bodies are checked by shape, with the
 * configuration's parts registered by shape too; parameters, query strings and the
 * other shared schemas (SimulatedFlow) are checked as written.
 */
export function requestValidatorCompiler(): (route: { schema: unknown; httpPart?: string }) => ValidateFunction {
  const ajv = configAjv({ strict: false, coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, verbose: true })
  for (const schema of sharedSchemas) ajv.addSchema(configSchemaIds.has(schema.$id) ? shapeOf(schema) : schema)
  return ({ schema, httpPart }) => ajv.compile((httpPart === 'body' ? shapeOf(schema) : schema) as object)
}

/** A copy of a schema without `required`, deeply (field names called `required` are kept). */
function withoutRequired(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutRequired)
  if (schema === null || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'required' && Array.isArray(value)) continue
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, withoutRequired(v)]))
    } else out[key] = withoutRequired(value)
  }
  return out
}

/**
 * fastify's serializer factory (schemaController.compilersFactory.buildSerializer) with the
 * configuration's parts registered without `required`: before the first configuration
 * GET /v1/config serves a document whose node is still empty.
 */
export function responseSerializerFactory(externalSchemas: unknown, options: unknown): unknown {
  const schemas = Object.fromEntries(
    Object.entries((externalSchemas ?? {}) as Record<string, unknown>).map(([id, s]) => [id, configSchemaIds.has(id) ? withoutRequired(s) : s]),
  )
  return (SerializerSelector() as (s: unknown, o: unknown) => unknown)(schemas, options)
}
