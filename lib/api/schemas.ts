/**
 * JSON schemas of the admin API: request validation (types, required fields,
 * enums), response serialization and the OpenAPI document at /docs.
 *
 * Ranges, address and MAC spelling, references between objects and
 * uniqueness are left to the configuration validator (lib/control), which
 * names the field with the most specific NVLB_ERR_* code. Objects allow extra
 * fields (DESIGN §4) and keep them in responses.
 */

export const vipRuleSchema = {
  $id: 'VipRule',
  type: 'object',
  required: ['protocol', 'frontendPort', 'pool'],
  properties: {
    protocol: { type: 'string', enum: ['tcp', 'udp'] },
    frontendPort: { type: 'integer' },
    backendPort: { type: 'integer', description: 'default: frontendPort' },
    pool: { type: 'string' },
    idleTimeoutSeconds: { type: 'integer', description: 'default 240' },
    distribution: { type: 'string', enum: ['5-tuple', '3-tuple', '2-tuple'], description: "default '5-tuple'" },
  },
  additionalProperties: true,
} as const

export const vipSchema = {
  $id: 'Vip',
  type: 'object',
  required: ['name', 'address', 'virtualSubnetId', 'rules'],
  properties: {
    name: { type: 'string' },
    address: { type: 'string', description: 'IPv4 VIP address' },
    virtualSubnetId: { type: 'integer', description: '0 = public VIP; otherwise a CA VIP in that VSID' },
    natMode: { type: 'string', enum: ['dnat', 'fullnat'], description: "default 'dnat' (VSID 0) or 'fullnat'" },
    rules: { type: 'array', items: { $ref: 'VipRule#' } },
  },
  additionalProperties: true,
} as const

export const backendSchema = {
  $id: 'Backend',
  type: 'object',
  required: ['virtualSubnetId', 'address'],
  properties: {
    virtualSubnetId: { type: 'integer' },
    address: { type: 'string', description: "the backend's customer address (CA)" },
    weight: { type: 'integer', description: 'default 1' },
    state: { type: 'string', enum: ['active', 'draining', 'disabled'], description: "default 'active'" },
  },
  additionalProperties: true,
} as const

export const backendPatchSchema = {
  $id: 'BackendPatch',
  type: 'object',
  minProperties: 1,
  properties: {
    weight: { type: 'integer' },
    state: { type: 'string', enum: ['active', 'draining', 'disabled'] },
  },
  additionalProperties: false,
} as const

export const poolSchema = {
  $id: 'Pool',
  type: 'object',
  required: ['name', 'backends'],
  properties: {
    name: { type: 'string' },
    backends: { type: 'array', items: { $ref: 'Backend#' } },
  },
  additionalProperties: true,
} as const

export const lookupRecordSchema = {
  $id: 'LookupRecord',
  type: 'object',
  required: ['customerAddress', 'virtualSubnetId', 'providerAddress', 'macAddress'],
  properties: {
    customerAddress: { type: 'string' },
    virtualSubnetId: { type: 'integer' },
    providerAddress: { type: 'string' },
    macAddress: { type: 'string', description: '00-15-5D-01-06-21, 00:15:5d:01:06:21 or 00155D010621' },
    customerId: { type: 'string', description: 'routing domain' },
    rule: { type: 'string', enum: ['TranslationMethodEncap', 'TranslationMethodNat'] },
  },
  additionalProperties: true,
} as const

export const customerRouteSchema = {
  $id: 'CustomerRoute',
  type: 'object',
  required: ['customerId', 'virtualSubnetId', 'destinationPrefix', 'nextHop'],
  properties: {
    customerId: { type: 'string' },
    virtualSubnetId: { type: 'integer' },
    destinationPrefix: { type: 'string', description: 'a.b.c.d/len' },
    nextHop: { type: 'string' },
    metric: { type: 'integer' },
  },
  additionalProperties: true,
} as const

export const neighborSchema = {
  $id: 'Neighbor',
  type: 'object',
  required: ['address', 'mac'],
  properties: { address: { type: 'string' }, mac: { type: 'string' } },
  additionalProperties: true,
} as const

export const nodeSchema = {
  $id: 'Node',
  type: 'object',
  description: 'providerAddress, providerMac and gatewayMac are required (checked by the validator: the document has no node before the first configuration)',
  properties: {
    providerAddress: { type: 'string' },
    providerMac: { type: 'string' },
    externalAddress: { type: 'string' },
    externalMac: { type: 'string' },
    gatewayMac: { type: 'string' },
    providerMtu: { type: 'integer', description: 'default 1500' },
    providerInterface: { type: 'string' },
    externalInterface: { type: 'string' },
    mssClamp: { type: 'boolean' },
    maxFlows: { type: 'integer' },
    maglevTableSize: { type: 'integer' },
  },
  additionalProperties: true,
} as const

export const configSchema = {
  $id: 'Config',
  type: 'object',
  description: 'The whole configuration document (DESIGN §4).',
  properties: {
    node: { $ref: 'Node#' },
    neighbors: { type: 'array', items: { $ref: 'Neighbor#' } },
    lookupRecords: { type: 'array', items: { $ref: 'LookupRecord#' } },
    customerRoutes: { type: 'array', items: { $ref: 'CustomerRoute#' } },
    pools: { type: 'array', items: { $ref: 'Pool#' } },
    vips: { type: 'array', items: { $ref: 'Vip#' } },
  },
  additionalProperties: true,
} as const

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
  },
} as const

/** Every shared schema, registered with fastify.addSchema (and listed in the OpenAPI components). */
export const sharedSchemas = [
  vipRuleSchema,
  vipSchema,
  backendSchema,
  backendPatchSchema,
  poolSchema,
  lookupRecordSchema,
  customerRouteSchema,
  neighborSchema,
  nodeSchema,
  configSchema,
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
