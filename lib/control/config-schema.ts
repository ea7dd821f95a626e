/**
 * The JSON Schema of the configuration document, written once. The validator
 * (config-validate.ts) compiles it with ajv, the admin API registers it for its
 * request bodies and OpenAPI document (lib/api/schemas.ts), and
 * docs/configuration.md is generated from it (scripts/gen-docs.ts).
 *
 * Each part has an `$id` (`Node`, `LookupRecord`, `Vip`, …) and the parts refer to
 * each other as `Vip#`, the way fastify's shared schemas do. Every object allows
 * extra fields; they are kept.
 *
 * Formats (checked by the validator, see config-formats.ts):
 * - `ipv4`: any dotted quad (a next hop of 0.0.0.0 means on-link);
 * - `ipv4-host`: a unicast host address (not 0.0.0.0, not 224.0.0.0/3);
 * - `ipv4-prefix`: `a.b.c.d/len` written with its network address;
 * - `mac`: a unicast MAC as `00-15-5D-01-06-21`, `00:15:5d:01:06:21` or `00155D010621`.
 *
 * What a schema cannot say (references between parts, uniqueness, routing
 * domains, prime table sizes) is checked by config-cross-check.ts.
 */

/** Bounds and defaults of the document, in one place. */
export const ConfigLimits = {
  VSID_MIN: 4096,
  VSID_MAX: 16777214,
  PORT_MIN: 1,
  PORT_MAX: 65535,
  WEIGHT_MIN: 0,
  /** Maglev fills a table of M slots; weights beyond 65535 only make the fill loop slower. */
  WEIGHT_MAX: 65535,
  IDLE_TIMEOUT_MIN: 1,
  IDLE_TIMEOUT_MAX: 86400,
  /** 576 is the minimum every IPv4 host must accept (RFC 791); 9216 is the common jumbo-frame limit. */
  PROVIDER_MTU_MIN: 576,
  PROVIDER_MTU_MAX: 9216,
  /** 2^26 flows at 64 bytes per flow is 4 GiB of flow table. */
  MAX_FLOWS_MIN: 1,
  MAX_FLOWS_MAX: 67108864,
  /** Peer instances whose PAs node.peerProviderAddresses may list. */
  PEER_PROVIDER_ADDRESSES_MAX: 64,
  /** 7 is the table of the Maglev paper's worked example; 2^24 − 3 is the largest prime below 2^24. */
  MAGLEV_TABLE_MIN: 7,
  MAGLEV_TABLE_MAX: 16777213,
  METRIC_MAX: 4294967295,
  PROBE_INTERVAL_MIN: 1,
  PROBE_INTERVAL_MAX: 3600,
  PROBE_TIMEOUT_MIN: 1,
  PROBE_TIMEOUT_MAX: 300,
  PROBE_THRESHOLD_MIN: 1,
  PROBE_THRESHOLD_MAX: 100,
  /** Pool, VIP and probe names appear in URLs (/v1/pools/{name}) and metric labels. */
  NAME_PATTERN: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  DEFAULT_PROVIDER_MTU: 1500,
  DEFAULT_MAX_FLOWS: 1048576,
  DEFAULT_MAGLEV_TABLE_SIZE: 65537,
  DEFAULT_WEIGHT: 1,
  DEFAULT_STATE: 'active',
  DEFAULT_IDLE_TIMEOUT: 240,
  DEFAULT_DISTRIBUTION: '5-tuple',
  DEFAULT_RULE: 'TranslationMethodEncap',
  DEFAULT_PROBE_INTERVAL: 5,
  DEFAULT_PROBE_TIMEOUT: 2,
  DEFAULT_UNHEALTHY_THRESHOLD: 3,
  DEFAULT_HEALTHY_THRESHOLD: 2,
} as const

export const PROTOCOLS = ['tcp', 'udp'] as const
export const NAT_MODES = ['dnat', 'fullnat'] as const
export const DISTRIBUTIONS = ['5-tuple', '3-tuple', '2-tuple'] as const
export const BACKEND_STATES = ['active', 'draining', 'disabled'] as const
/** The lookup-record rules nvlb carries traffic for (see lookup-rules.ts for the others). */
export const LOOKUP_RULES = ['TranslationMethodEncap'] as const
export const PROBE_PROTOCOLS = ['tcp', 'http'] as const
export const WHEN_ALL_DOWN = ['drop', 'useAll'] as const

const L = ConfigLimits
const NAME = L.NAME_PATTERN.source

const vsid = (description: string) =>
  ({ type: 'integer', minimum: L.VSID_MIN, maximum: L.VSID_MAX, description }) as const
const port = (description: string) => ({ type: 'integer', minimum: L.PORT_MIN, maximum: L.PORT_MAX, description }) as const
const name = (description: string) => ({ type: 'string', pattern: NAME, description }) as const
const host = (description: string) => ({ type: 'string', format: 'ipv4-host', description }) as const
const mac = (description: string) => ({ type: 'string', format: 'mac', description }) as const

export const nodeSchema = {
  $id: 'Node',
  type: 'object',
  title: 'node',
  description: "This nvlb instance: its addresses on the provider network (PA) and on the external side, and the packet path's sizes.",
  required: ['providerAddress', 'providerMac', 'gatewayMac'],
  properties: {
    providerAddress: host("nvlb's provider address (PA): the outer source of the NVGRE it sends, and where the hosts send the tenants' traffic for nvlb."),
    providerMac: mac("The MAC of nvlb's provider interface."),
    externalAddress: host('The address of the external (non-virtualized) side; required once a public VIP exists.'),
    externalMac: mac('The MAC of the external interface; required once a public VIP exists.'),
    gatewayMac: mac('The inner source MAC of the frames nvlb sends into a virtual subnet: the MAC the VMs know for their gateway.'),
    providerMtu: {
      type: 'integer',
      minimum: L.PROVIDER_MTU_MIN,
      maximum: L.PROVIDER_MTU_MAX,
      default: L.DEFAULT_PROVIDER_MTU,
      description: 'The IP MTU of the provider network. NVGRE adds 42 bytes, so the largest inner packet is providerMtu − 42.',
    },
    providerInterface: {
      type: 'string',
      minLength: 1,
      maxLength: 15,
      description: 'The Linux interface of the provider side (`nvlb run`). May be the same as externalInterface.',
    },
    externalInterface: {
      type: 'string',
      minLength: 1,
      maxLength: 15,
      description: 'The Linux interface of the external side (`nvlb run`).',
    },
    mssClamp: {
      type: 'boolean',
      description: "Lower the MSS of TCP SYNs so that segments fit the provider MTU after encapsulation. Default false.",
    },
    maxFlows: {
      type: 'integer',
      minimum: L.MAX_FLOWS_MIN,
      maximum: L.MAX_FLOWS_MAX,
      description: `Size of the flow table; when full, half-open flows go first, then the least recently used. Default ${L.DEFAULT_MAX_FLOWS}.`,
    },
    maglevTableSize: {
      type: 'integer',
      minimum: L.MAGLEV_TABLE_MIN,
      maximum: L.MAGLEV_TABLE_MAX,
      description: `Maglev table size M, a prime number at least as large as every pool. Default ${L.DEFAULT_MAGLEV_TABLE_SIZE}.`,
    },
    probeAddress: host(
      'The inner source address of health probes inside each backend\'s virtual subnet; required once a VIP rule names a probe.',
    ),
    sharedProviderAddress: host(
      'A provider address every instance of a several-instance deployment owns besides its own providerAddress (with --bgp-peer, announced by BGP with providerAddress as next hop while the instance announces a public VIP; docs/ha.md): NVGRE addressed to it is accepted like NVGRE to providerAddress. The gateway lookup records point at it so that the replies of the backends reach a live instance.',
    ),
    peerProviderAddresses: {
      type: 'array',
      maxItems: L.PEER_PROVIDER_ADDRESSES_MAX,
      items: host("A peer instance's provider address (PA)."),
      description:
        `The provider addresses (PAs) of the other nvlb instances that share this instance's VIPs, at most ${L.PEER_PROVIDER_ADDRESSES_MAX}, ` +
        "each once and none of them this node's providerAddress. NVGRE from a peer's PA passes the trust check whatever inner source it " +
        'carries (NVGRE from anyone else must come from the host the lookup records give for its inner source). With ' +
        "`nvlb run --store etcd://…` the PAs of the instances registered in etcd are trusted as well, without being listed here.",
    },
  },
  additionalProperties: true,
} as const

export const neighborSchema = {
  $id: 'Neighbor',
  type: 'object',
  title: 'neighbors[]',
  description: 'A static provider-network neighbour: nvlb uses this MAC for the address instead of asking by ARP.',
  required: ['address', 'mac'],
  properties: {
    address: host('A provider address (a host PA or a next hop).'),
    mac: mac('Its MAC.'),
  },
  additionalProperties: true,
} as const

export const lookupRecordSchema = {
  $id: 'LookupRecord',
  type: 'object',
  title: 'lookupRecords[]',
  description:
    "HNV policy: the customer address (CA) of a VM in a virtual subnet, the provider address (PA) of its host and the VM's MAC. " +
    'nvlb needs one for every backend, and uses them to decide which hosts may send traffic for which CAs.',
  required: ['customerAddress', 'virtualSubnetId', 'providerAddress', 'macAddress'],
  properties: {
    customerAddress: host("The VM's customer address (CA)."),
    virtualSubnetId: vsid('The virtual subnet ID (VSID) the CA lives in.'),
    providerAddress: host("The provider address (PA) of the VM's Hyper-V host."),
    macAddress: mac("The VM's MAC."),
    customerId: {
      type: 'string',
      minLength: 1,
      description:
        "The tenant's routing domain. A VSID belongs to the routing domain its records and routes name; a VSID none of them names " +
        'forms a routing domain of its own.',
    },
    rule: {
      type: 'string',
      enum: LOOKUP_RULES,
      default: L.DEFAULT_RULE,
      description:
        'How the host reaches the CA. Only TranslationMethodEncap (NVGRE) is supported: TranslationMethodNat (address rewrite ' +
        'without NVGRE) and TranslationMethodNone are refused, see the PowerShell import.',
    },
  },
  additionalProperties: true,
} as const

export const customerRouteSchema = {
  $id: 'CustomerRoute',
  type: 'object',
  title: 'customerRoutes[]',
  description: "HNV policy: a route of a virtual subnet. A VSID's default route points at its gateway CA.",
  required: ['customerId', 'virtualSubnetId', 'destinationPrefix', 'nextHop'],
  properties: {
    customerId: { type: 'string', minLength: 1, description: 'The routing domain of the VSID.' },
    virtualSubnetId: vsid('The VSID the route belongs to.'),
    destinationPrefix: { type: 'string', format: 'ipv4-prefix', description: 'The destination, `a.b.c.d/len` with the host bits clear.' },
    nextHop: { type: 'string', format: 'ipv4', description: 'The next hop CA; 0.0.0.0 means on-link.' },
    metric: { type: 'integer', minimum: 0, maximum: L.METRIC_MAX, description: 'Lower wins among routes of equal prefix length. Default 0.' },
  },
  additionalProperties: true,
} as const

export const backendSchema = {
  $id: 'Backend',
  type: 'object',
  title: 'pools[].backends[]',
  description: 'A backend (DIP): a VM in a virtual subnet, named by its VSID and CA. It needs a lookup record.',
  required: ['virtualSubnetId', 'address'],
  properties: {
    virtualSubnetId: vsid("The backend's VSID."),
    address: host("The backend's customer address (CA)."),
    weight: {
      type: 'integer',
      minimum: L.WEIGHT_MIN,
      maximum: L.WEIGHT_MAX,
      default: L.DEFAULT_WEIGHT,
      description: 'Its share of new flows relative to the others; 0 keeps it in the pool without new flows.',
    },
    state: {
      type: 'string',
      enum: BACKEND_STATES,
      default: L.DEFAULT_STATE,
      description: "The operator's word: active gets new flows, draining keeps its flows but gets no new ones, disabled gets nothing.",
    },
  },
  additionalProperties: true,
} as const

export const backendPatchSchema = {
  $id: 'BackendPatch',
  type: 'object',
  description: "A change of a backend's weight or state.",
  minProperties: 1,
  properties: {
    weight: backendSchema.properties.weight,
    state: backendSchema.properties.state,
  },
  additionalProperties: false,
} as const

export const poolSchema = {
  $id: 'Pool',
  type: 'object',
  title: 'pools[]',
  description: 'A named set of backends that VIP rules balance over.',
  required: ['name', 'backends'],
  properties: {
    name: name('1 to 63 letters, digits, `.`, `_` or `-`, starting with a letter or digit.'),
    backends: { type: 'array', items: { $ref: 'Backend#' }, description: 'At most maglevTableSize backends.' },
  },
  additionalProperties: true,
} as const

export const vipRuleSchema = {
  $id: 'VipRule',
  type: 'object',
  title: 'vips[].rules[]',
  description: 'A protocol and port of a VIP and the pool that serves it.',
  required: ['protocol', 'frontendPort', 'pool'],
  properties: {
    protocol: { type: 'string', enum: PROTOCOLS, description: 'tcp or udp.' },
    frontendPort: port('The port clients connect to.'),
    backendPort: port("The backends' port. Default: frontendPort."),
    pool: { type: 'string', description: 'The name of the pool that serves the rule.' },
    idleTimeoutSeconds: {
      type: 'integer',
      minimum: L.IDLE_TIMEOUT_MIN,
      maximum: L.IDLE_TIMEOUT_MAX,
      default: L.DEFAULT_IDLE_TIMEOUT,
      description: 'A flow without packets for this long is forgotten.',
    },
    distribution: {
      type: 'string',
      enum: DISTRIBUTIONS,
      default: L.DEFAULT_DISTRIBUTION,
      description:
        'What picks the backend of a new flow: 5-tuple (addresses, ports, protocol), 3-tuple (addresses and protocol: a client ' +
        'sticks to one backend) or 2-tuple (addresses).',
    },
    probe: { type: 'string', pattern: NAME, description: "The name of the health probe (in `probes`) that checks this rule's backends." },
    whenAllDown: {
      type: 'string',
      enum: WHEN_ALL_DOWN,
      description: "When every backend of the rule is down: drop new flows (the default), or useAll backends as if they were up.",
    },
  },
  additionalProperties: true,
} as const

export const vipSchema = {
  $id: 'Vip',
  type: 'object',
  title: 'vips[]',
  description:
    'A virtual IP. A public VIP (virtualSubnetId 0) is reached from the external side; a CA VIP lives inside a tenant VSID and is ' +
    'matched on (VSID, address), because the same address can exist in several tenants.',
  required: ['name', 'address', 'virtualSubnetId', 'rules'],
  properties: {
    name: name('1 to 63 letters, digits, `.`, `_` or `-`, starting with a letter or digit.'),
    address: host('The VIP address.'),
    virtualSubnetId: {
      type: 'integer',
      minimum: 0,
      maximum: L.VSID_MAX,
      not: { minimum: 1, maximum: L.VSID_MIN - 1 },
      description: `0 for a public VIP, otherwise the VSID (${L.VSID_MIN}..${L.VSID_MAX}) of a CA VIP.`,
    },
    natMode: {
      type: 'string',
      enum: NAT_MODES,
      description:
        'dnat rewrites the destination only and keeps the client address (default for public VIPs); fullnat also rewrites the ' +
        "source to the VIP, so the backend's reply comes back through nvlb (default for CA VIPs).",
    },
    rules: { type: 'array', items: { $ref: 'VipRule#' }, description: 'Any number of rules; (VSID, address, protocol, port) is unique.' },
  },
  additionalProperties: true,
} as const

export const probeSchema = {
  $id: 'Probe',
  type: 'object',
  title: 'probes[]',
  description: "A health check of backends, sent through the overlay from node.probeAddress into each backend's virtual subnet.",
  required: ['name', 'protocol'],
  properties: {
    name: name('The name VIP rules refer to.'),
    protocol: { type: 'string', enum: PROBE_PROTOCOLS, description: 'tcp: the handshake completes; http: GET requestPath answers 200–399.' },
    port: port("The port probed. Default: the rule's backendPort."),
    requestPath: {
      type: 'string',
      pattern: '^/[\\x21-\\x7e]{0,1023}$',
      description: 'http only: the path requested, starting with `/`, without spaces. Default `/`.',
    },
    intervalSeconds: {
      type: 'integer',
      minimum: L.PROBE_INTERVAL_MIN,
      maximum: L.PROBE_INTERVAL_MAX,
      default: L.DEFAULT_PROBE_INTERVAL,
      description: 'Time between two probes of one backend.',
    },
    timeoutSeconds: {
      type: 'integer',
      minimum: L.PROBE_TIMEOUT_MIN,
      maximum: L.PROBE_TIMEOUT_MAX,
      default: L.DEFAULT_PROBE_TIMEOUT,
      description: 'A probe not answered within this time failed; at most intervalSeconds.',
    },
    unhealthyThreshold: {
      type: 'integer',
      minimum: L.PROBE_THRESHOLD_MIN,
      maximum: L.PROBE_THRESHOLD_MAX,
      default: L.DEFAULT_UNHEALTHY_THRESHOLD,
      description: 'Consecutive failures that take a backend down.',
    },
    healthyThreshold: {
      type: 'integer',
      minimum: L.PROBE_THRESHOLD_MIN,
      maximum: L.PROBE_THRESHOLD_MAX,
      default: L.DEFAULT_HEALTHY_THRESHOLD,
      description: 'Consecutive successes that bring it back up.',
    },
  },
  additionalProperties: true,
} as const

export const configSchema = {
  $id: 'Config',
  type: 'object',
  title: 'the document',
  description:
    'The whole configuration of one nvlb instance. `node` is required (the validator checks it: the admin API serves a ' +
    'document without one before the first configuration). Lists left out are empty.',
  properties: {
    node: { $ref: 'Node#' },
    neighbors: { type: 'array', items: { $ref: 'Neighbor#' }, default: [], description: 'Static provider-network neighbours.' },
    lookupRecords: { type: 'array', items: { $ref: 'LookupRecord#' }, default: [], description: 'HNV lookup records.' },
    customerRoutes: { type: 'array', items: { $ref: 'CustomerRoute#' }, default: [], description: 'HNV customer routes.' },
    pools: { type: 'array', items: { $ref: 'Pool#' }, default: [], description: 'Backend pools.' },
    vips: { type: 'array', items: { $ref: 'Vip#' }, default: [], description: 'Virtual IPs.' },
    probes: { type: 'array', items: { $ref: 'Probe#' }, description: 'Health probes that VIP rules may name.' },
  },
  additionalProperties: true,
} as const

/** Every part of the configuration schema, in document order. */
export const configSchemas = [
  configSchema,
  nodeSchema,
  neighborSchema,
  lookupRecordSchema,
  customerRouteSchema,
  poolSchema,
  backendSchema,
  vipSchema,
  vipRuleSchema,
  probeSchema,
  backendPatchSchema,
] as const

const CHECKS_ONLY = new Set([
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'maxItems',
  'not',
  'default',
])

/**
 * The shape of a schema: types, required fields and enums, without ranges, formats,
 * patterns and defaults. The admin API checks request bodies against the shape, so
 * that a value out of range is reported by the validator with its place in the whole
 * document (`vips[4].rules[0].frontendPort`), and nothing is filled in on the way.
 */
export function shapeOf<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((s) => shapeOf(s)) as T
  if (schema === null || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (CHECKS_ONLY.has(key)) continue
    // `properties` maps field names to schemas: keep every name, even one called `default`.
    if (key === 'properties') {
      const props: Record<string, unknown> = {}
      for (const [field, sub] of Object.entries(value as Record<string, unknown>)) props[field] = shapeOf(sub)
      out[key] = props
    } else if (key === 'enum' || key === 'required' || key === 'description' || key === 'title') {
      out[key] = value
    } else {
      out[key] = shapeOf(value)
    }
  }
  return out as T
}
