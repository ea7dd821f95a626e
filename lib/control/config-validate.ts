/**
 * Validation and normalization of the configuration document (DESIGN.md §4).
 *
 * `validateConfig` checks the whole document and returns a new, normalized copy
 * (defaults filled in, MACs in canonical spelling, unknown extra fields kept).
 * The first problem found throws an NvlbError whose `field` is the JSON path of
 * the offending value (`vips[0].rules[1].pool`) and whose message says why in
 * plain words. Checks run in document order: node, neighbors, lookupRecords,
 * customerRoutes, pools, vips, then the checks that relate one section to another.
 *
 * Routing domains: a VSID's routing domain is the `customerId` given by its lookup
 * records and customer routes. Records without a customerId do not conflict with
 * those that have one; a VSID for which nothing names a customerId forms a domain
 * of its own (`vsid:<n>`). Two different customerIds for one VSID are an error.
 */
import { ErrorCodes, NvlbError, type ErrorCode } from '../errors'
import { validateProbes } from '../health/probe-config'
import { formatMac, parseIPv4, parseMac, parsePrefix } from '../packet/address'
import type {
  BackendState,
  CustomerRoute,
  Distribution,
  LookupRecord,
  LookupRule,
  NatMode,
  Neighbor,
  NodeConfig,
  NvlbConfig,
  Pool,
  PoolBackend,
  Protocol,
  Vip,
  VipRule,
} from './config-types'

/** Bounds and defaults of the document; the admin API's schemas and docs use the same numbers. */
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
  /** 2^26 flows at the 64-byte target of DESIGN §8 is 4 GiB of flow table. */
  MAX_FLOWS_MIN: 1,
  MAX_FLOWS_MAX: 67108864,
  /** 7 is the table of the Maglev paper's worked example; 2^24 − 3 is the largest prime below 2^24. */
  MAGLEV_TABLE_MIN: 7,
  MAGLEV_TABLE_MAX: 16777213,
  METRIC_MAX: 4294967295,
  /** Pool and VIP names appear in URLs (/v1/pools/{name}) and metric labels. */
  NAME_PATTERN: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  DEFAULT_PROVIDER_MTU: 1500,
  DEFAULT_MAX_FLOWS: 1048576,
  DEFAULT_MAGLEV_TABLE_SIZE: 65537,
  DEFAULT_WEIGHT: 1,
  DEFAULT_STATE: 'active' as BackendState,
  DEFAULT_IDLE_TIMEOUT: 240,
  DEFAULT_DISTRIBUTION: '5-tuple' as Distribution,
  DEFAULT_RULE: 'TranslationMethodEncap' as LookupRule,
} as const

export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp']
export const NAT_MODES: readonly NatMode[] = ['dnat', 'fullnat']
export const DISTRIBUTIONS: readonly Distribution[] = ['5-tuple', '3-tuple', '2-tuple']
export const BACKEND_STATES: readonly BackendState[] = ['active', 'draining', 'disabled']
export const LOOKUP_RULES: readonly LookupRule[] = ['TranslationMethodEncap', 'TranslationMethodNat']

type Json = Record<string, unknown>

function fail(code: ErrorCode, field: string | undefined, message: string): never {
  throw new NvlbError(code, message, field)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `'${value.length > 60 ? value.slice(0, 60) + '…' : value}'`
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/** JSON path of `key` inside the object at `base` ('' is the document root). */
function at(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function objectAt(value: unknown, path: string): Json {
  if (!isObject(value)) fail(ErrorCodes.INVALID_FIELD, path, `must be an object, not ${describe(value)}`)
  return value
}

function listAt(parent: Json, key: string, base: string): Json[] {
  const value = parent[key]
  if (value === undefined) {
    parent[key] = []
    return []
  }
  if (!Array.isArray(value)) fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be an array, not ${describe(value)}`)
  for (let i = 0; i < value.length; i++) {
    if (!isObject(value[i])) objectAt(value[i], `${at(base, key)}[${i}]`)
  }
  return value as Json[]
}

function requiredPresent(o: Json, key: string, base: string): unknown {
  const value = o[key]
  if (value === undefined || value === null) fail(ErrorCodes.INVALID_FIELD, at(base, key), 'is required')
  return value
}

function stringAt(o: Json, key: string, base: string): string {
  const value = requiredPresent(o, key, base)
  if (typeof value !== 'string') fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be a string, not ${describe(value)}`)
  return value
}

function optionalStringAt(o: Json, key: string, base: string): string | undefined {
  if (o[key] === undefined) return undefined
  return stringAt(o, key, base)
}

function integerAt(o: Json, key: string, base: string, min: number, max: number, fallback?: number): number {
  if (o[key] === undefined && fallback !== undefined) {
    o[key] = fallback
    return fallback
  }
  const value = requiredPresent(o, key, base)
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be an integer, not ${describe(value)}`)
  }
  if (value < min || value > max) fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be between ${min} and ${max}, not ${value}`)
  return value
}

function choiceAt<T extends string>(o: Json, key: string, base: string, choices: readonly T[], fallback?: T): T {
  if (o[key] === undefined && fallback !== undefined) {
    o[key] = fallback
    return fallback
  }
  const value = requiredPresent(o, key, base)
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be one of ${choices.map((c) => `'${c}'`).join(', ')}, not ${describe(value)}`)
  }
  return value as T
}

function booleanAt(o: Json, key: string, base: string): void {
  const value = o[key]
  if (value !== undefined && typeof value !== 'boolean') {
    fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be true or false, not ${describe(value)}`)
  }
}

/** A unicast IPv4 address: not 0.0.0.0, not multicast (224/4), not the reserved 240/4 or broadcast. */
function addressAt(o: Json, key: string, base: string): number {
  const text = stringAt(o, key, base)
  const value = parseIPv4(text)
  if (value < 0) fail(ErrorCodes.BAD_ADDRESS, at(base, key), `'${text}' is not an IPv4 address (dotted quad such as 10.1.6.21)`)
  if (value === 0) fail(ErrorCodes.BAD_ADDRESS, at(base, key), `'${text}' is the unspecified address, not a host address`)
  if (value >= 0xe0000000) fail(ErrorCodes.BAD_ADDRESS, at(base, key), `'${text}' is a multicast, reserved or broadcast address, not a host address`)
  return value
}

/** Any IPv4 address, 0.0.0.0 included (a next hop of 0.0.0.0 means on-link). */
function anyAddressAt(o: Json, key: string, base: string): void {
  const text = stringAt(o, key, base)
  if (parseIPv4(text) < 0) fail(ErrorCodes.BAD_ADDRESS, at(base, key), `'${text}' is not an IPv4 address (dotted quad such as 10.1.6.1)`)
}

function optionalAddressAt(o: Json, key: string, base: string): void {
  if (o[key] !== undefined) addressAt(o, key, base)
}

/** A unicast MAC in any of the three accepted spellings, rewritten to `00:15:5d:01:06:21`. */
function macAt(o: Json, key: string, base: string): void {
  const text = stringAt(o, key, base)
  const mac = parseMac(text)
  if (mac === null) {
    fail(ErrorCodes.BAD_MAC, at(base, key), `'${text}' is not a MAC address (write 00-15-5D-01-06-21, 00:15:5d:01:06:21 or 00155D010621)`)
  }
  if ((mac[0]! & 1) !== 0) fail(ErrorCodes.BAD_MAC, at(base, key), `'${text}' is a multicast MAC address, not one of a single interface`)
  o[key] = formatMac(mac)
}

function optionalMacAt(o: Json, key: string, base: string): void {
  if (o[key] !== undefined) macAt(o, key, base)
}

function vsidAt(o: Json, key: string, base: string, allowPublic: boolean): number {
  const value = requiredPresent(o, key, base)
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    fail(ErrorCodes.INVALID_FIELD, at(base, key), `must be an integer virtual subnet ID, not ${describe(value)}`)
  }
  if (allowPublic && value === 0) return 0
  if (value < ConfigLimits.VSID_MIN || value > ConfigLimits.VSID_MAX) {
    fail(
      ErrorCodes.VSID_RANGE,
      at(base, key),
      `${value} is outside the valid virtual subnet IDs ${ConfigLimits.VSID_MIN}..${ConfigLimits.VSID_MAX}` +
        (allowPublic ? ' (or 0 for a public VIP)' : ''),
    )
  }
  return value
}

function nameAt(o: Json, key: string, base: string): string {
  const name = stringAt(o, key, base)
  if (!ConfigLimits.NAME_PATTERN.test(name)) {
    fail(
      ErrorCodes.INVALID_FIELD,
      at(base, key),
      `${describe(name)} is not a valid name (1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit)`,
    )
  }
  return name
}

export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false
  if (n % 2 === 0) return n === 2
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false
  return true
}

/** Key of a customer address inside a VSID: `"5001/10.1.6.21"`. */
export function vsidAddressKey(virtualSubnetId: number, address: string): string {
  return `${virtualSubnetId}/${address}`
}

function validateNode(root: Json): void {
  const node = objectAt(requiredPresent(root, 'node', ''), 'node')
  addressAt(node, 'providerAddress', 'node')
  macAt(node, 'providerMac', 'node')
  optionalAddressAt(node, 'externalAddress', 'node')
  optionalMacAt(node, 'externalMac', 'node')
  macAt(node, 'gatewayMac', 'node')
  integerAt(
    node,
    'providerMtu',
    'node',
    ConfigLimits.PROVIDER_MTU_MIN,
    ConfigLimits.PROVIDER_MTU_MAX,
    ConfigLimits.DEFAULT_PROVIDER_MTU,
  )
  optionalStringAt(node, 'providerInterface', 'node')
  optionalStringAt(node, 'externalInterface', 'node')
  booleanAt(node, 'mssClamp', 'node')
  if (node.maxFlows !== undefined) {
    integerAt(node, 'maxFlows', 'node', ConfigLimits.MAX_FLOWS_MIN, ConfigLimits.MAX_FLOWS_MAX)
  }
  if (node.maglevTableSize !== undefined) {
    const size = integerAt(
      node,
      'maglevTableSize',
      'node',
      ConfigLimits.MAGLEV_TABLE_MIN,
      ConfigLimits.MAGLEV_TABLE_MAX,
    )
    if (!isPrime(size)) fail(ErrorCodes.INVALID_FIELD, 'node.maglevTableSize', `${size} is not a prime number (Maglev needs a prime table size, e.g. 65537)`)
  }
}

function validateNeighbors(root: Json): void {
  const seen = new Map<string, number>()
  listAt(root, 'neighbors', '').forEach((n, i) => {
    const path = `neighbors[${i}]`
    addressAt(n, 'address', path)
    macAt(n, 'mac', path)
    const address = n.address as string
    const first = seen.get(address)
    if (first !== undefined) fail(ErrorCodes.DUPLICATE_NAME, `${path}.address`, `neighbor ${address} is already defined at neighbors[${first}]`)
    seen.set(address, i)
  })
}

interface DomainClaim {
  customerId: string
  where: string
}

function claimDomain(domains: Map<number, DomainClaim>, vsid: number, customerId: string, where: string): void {
  const claim = domains.get(vsid)
  if (claim === undefined) {
    domains.set(vsid, { customerId, where })
    return
  }
  if (claim.customerId !== customerId) {
    fail(
      ErrorCodes.CUSTOMER_ID_CONFLICT,
      `${where}.customerId`,
      `VSID ${vsid} already belongs to routing domain '${claim.customerId}' (${claim.where}), it cannot also belong to '${customerId}'`,
    )
  }
}

function validateLookupRecords(root: Json, domains: Map<number, DomainClaim>): Map<string, number> {
  const records = new Map<string, number>()
  listAt(root, 'lookupRecords', '').forEach((r, i) => {
    const path = `lookupRecords[${i}]`
    addressAt(r, 'customerAddress', path)
    const vsid = vsidAt(r, 'virtualSubnetId', path, false)
    addressAt(r, 'providerAddress', path)
    macAt(r, 'macAddress', path)
    const customerId = optionalStringAt(r, 'customerId', path)
    if (customerId === '') fail(ErrorCodes.INVALID_FIELD, `${path}.customerId`, 'must not be empty (leave it out instead)')
    choiceAt(r, 'rule', path, LOOKUP_RULES, ConfigLimits.DEFAULT_RULE)
    const key = vsidAddressKey(vsid, r.customerAddress as string)
    const first = records.get(key)
    if (first !== undefined) {
      fail(
        ErrorCodes.DUPLICATE_NAME,
        `${path}.customerAddress`,
        `a lookup record for ${r.customerAddress} in VSID ${vsid} is already defined at lookupRecords[${first}]`,
      )
    }
    records.set(key, i)
    if (customerId !== undefined) claimDomain(domains, vsid, customerId, path)
  })
  return records
}

function validateCustomerRoutes(root: Json, domains: Map<number, DomainClaim>): Set<number> {
  const vsids = new Set<number>()
  const seen = new Map<string, number>()
  listAt(root, 'customerRoutes', '').forEach((r, i) => {
    const path = `customerRoutes[${i}]`
    const customerId = stringAt(r, 'customerId', path)
    if (customerId === '') fail(ErrorCodes.INVALID_FIELD, `${path}.customerId`, 'must not be empty')
    const vsid = vsidAt(r, 'virtualSubnetId', path, false)
    const prefixText = stringAt(r, 'destinationPrefix', path)
    const prefix = parsePrefix(prefixText)
    if (prefix === null) {
      fail(ErrorCodes.BAD_ADDRESS, `${path}.destinationPrefix`, `'${prefixText}' is not an IPv4 prefix (such as 10.1.6.0/24)`)
    }
    if (parseIPv4(prefixText.slice(0, prefixText.indexOf('/'))) !== prefix.address) {
      fail(
        ErrorCodes.BAD_ADDRESS,
        `${path}.destinationPrefix`,
        `'${prefixText}' has host bits set; the network is written as a /${prefix.length} prefix of its first address`,
      )
    }
    anyAddressAt(r, 'nextHop', path)
    if (r.metric !== undefined) integerAt(r, 'metric', path, 0, ConfigLimits.METRIC_MAX)
    const key = `${vsid} ${prefixText}`
    const first = seen.get(key)
    if (first !== undefined) {
      fail(ErrorCodes.DUPLICATE_NAME, `${path}.destinationPrefix`, `a route to ${prefixText} in VSID ${vsid} is already defined at customerRoutes[${first}]`)
    }
    seen.set(key, i)
    vsids.add(vsid)
    claimDomain(domains, vsid, customerId, path)
  })
  return vsids
}

/** Within one routing domain every customer address must be unique, as HNV requires. */
function checkAddressesUniqueInDomain(root: Json, domainOf: (vsid: number) => string): void {
  const seen = new Map<string, { vsid: number; index: number }>()
  ;(root.lookupRecords as Json[]).forEach((r, i) => {
    const vsid = r.virtualSubnetId as number
    const domain = domainOf(vsid)
    const key = `${domain}\u0000${r.customerAddress as string}`
    const first = seen.get(key)
    if (first !== undefined && first.vsid !== vsid) {
      fail(
        ErrorCodes.DUPLICATE_NAME,
        `lookupRecords[${i}].customerAddress`,
        `customer address ${r.customerAddress} is already used in VSID ${first.vsid} (lookupRecords[${first.index}]) ` +
          `of the same routing domain '${domain}'; addresses must be unique within a routing domain`,
      )
    }
    if (first === undefined) seen.set(key, { vsid, index: i })
  })
}

function validatePools(root: Json, records: Map<string, number>, maglevTableSize: number): Map<string, Json> {
  const pools = new Map<string, Json>()
  const poolIndex = new Map<string, number>()
  listAt(root, 'pools', '').forEach((p, i) => {
    const path = `pools[${i}]`
    const name = nameAt(p, 'name', path)
    const first = poolIndex.get(name)
    if (first !== undefined) fail(ErrorCodes.DUPLICATE_NAME, `${path}.name`, `pool '${name}' is already defined at pools[${first}]`)
    poolIndex.set(name, i)
    pools.set(name, p)
    const backends = listAt(p, 'backends', path)
    if (backends.length > maglevTableSize) {
      fail(
        ErrorCodes.INVALID_FIELD,
        `${path}.backends`,
        `pool '${name}' has ${backends.length} backends, more than the Maglev table size ${maglevTableSize}`,
      )
    }
    const seen = new Map<string, number>()
    backends.forEach((b, j) => {
      const bpath = `${path}.backends[${j}]`
      const vsid = vsidAt(b, 'virtualSubnetId', bpath, false)
      addressAt(b, 'address', bpath)
      integerAt(b, 'weight', bpath, ConfigLimits.WEIGHT_MIN, ConfigLimits.WEIGHT_MAX, ConfigLimits.DEFAULT_WEIGHT)
      choiceAt(b, 'state', bpath, BACKEND_STATES, ConfigLimits.DEFAULT_STATE)
      const key = vsidAddressKey(vsid, b.address as string)
      const dup = seen.get(key)
      if (dup !== undefined) {
        fail(ErrorCodes.DUPLICATE_NAME, `${bpath}.address`, `backend ${key} is already in pool '${name}' at ${path}.backends[${dup}]`)
      }
      seen.set(key, j)
      if (!records.has(key)) {
        fail(
          ErrorCodes.NO_LOOKUP_RECORD,
          `${bpath}.address`,
          `backend ${b.address} in VSID ${vsid} has no lookup record; add one to lookupRecords so nvlb knows the host (PA) and MAC`,
        )
      }
    })
  })
  return pools
}

function validateVips(
  root: Json,
  pools: Map<string, Json>,
  records: Map<string, number>,
  routeVsids: Set<number>,
  domainOf: (vsid: number) => string,
): void {
  const names = new Map<string, number>()
  const ruleKeys = new Map<string, string>()
  const recordVsids = new Set<number>()
  for (const key of records.keys()) recordVsids.add(Number(key.slice(0, key.indexOf('/'))))
  const node = root.node as Json

  listAt(root, 'vips', '').forEach((v, i) => {
    const path = `vips[${i}]`
    const name = nameAt(v, 'name', path)
    const first = names.get(name)
    if (first !== undefined) fail(ErrorCodes.DUPLICATE_NAME, `${path}.name`, `VIP '${name}' is already defined at vips[${first}]`)
    names.set(name, i)
    addressAt(v, 'address', path)
    const vsid = vsidAt(v, 'virtualSubnetId', path, true)
    choiceAt(v, 'natMode', path, NAT_MODES, vsid === 0 ? 'dnat' : 'fullnat')
    const rules = listAt(v, 'rules', path)

    if (vsid === 0) {
      for (const key of ['externalAddress', 'externalMac']) {
        if (node[key] === undefined) {
          fail(ErrorCodes.INVALID_FIELD, `node.${key}`, `is required because VIP '${name}' (${path}) is a public VIP (virtualSubnetId 0)`)
        }
      }
    } else if (!recordVsids.has(vsid) && !routeVsids.has(vsid)) {
      fail(
        ErrorCodes.UNKNOWN_VSID,
        `${path}.virtualSubnetId`,
        `no lookup record or customer route defines VSID ${vsid}, so the tenant of CA VIP '${name}' is unknown`,
      )
    }

    rules.forEach((r, j) => {
      const rpath = `${path}.rules[${j}]`
      const protocol = choiceAt(r, 'protocol', rpath, PROTOCOLS)
      const port = integerAt(r, 'frontendPort', rpath, ConfigLimits.PORT_MIN, ConfigLimits.PORT_MAX)
      integerAt(r, 'backendPort', rpath, ConfigLimits.PORT_MIN, ConfigLimits.PORT_MAX, port)
      const poolName = stringAt(r, 'pool', rpath)
      integerAt(
        r,
        'idleTimeoutSeconds',
        rpath,
        ConfigLimits.IDLE_TIMEOUT_MIN,
        ConfigLimits.IDLE_TIMEOUT_MAX,
        ConfigLimits.DEFAULT_IDLE_TIMEOUT,
      )
      choiceAt(r, 'distribution', rpath, DISTRIBUTIONS, ConfigLimits.DEFAULT_DISTRIBUTION)

      const ruleKey = `${vsid} ${v.address as string} ${protocol} ${port}`
      const owner = ruleKeys.get(ruleKey)
      if (owner !== undefined) {
        fail(
          ErrorCodes.DUPLICATE_VIP_RULE,
          `${rpath}.frontendPort`,
          `${protocol} port ${port} of ${v.address} in VSID ${vsid} is already taken by ${owner}`,
        )
      }
      ruleKeys.set(ruleKey, `VIP '${name}' (${rpath})`)

      const pool = pools.get(poolName)
      if (pool === undefined) fail(ErrorCodes.UNKNOWN_POOL, `${rpath}.pool`, `pool '${poolName}' does not exist`)
      if (vsid !== 0) {
        const domain = domainOf(vsid)
        for (const b of pool.backends as Json[]) {
          const backendDomain = domainOf(b.virtualSubnetId as number)
          if (backendDomain !== domain) {
            fail(
              ErrorCodes.ROUTING_DOMAIN_MISMATCH,
              `${rpath}.pool`,
              `backend ${vsidAddressKey(b.virtualSubnetId as number, b.address as string)} of pool '${poolName}' is in routing domain ` +
                `'${backendDomain}', but CA VIP '${name}' is in VSID ${vsid} of routing domain '${domain}'; ` +
                `a CA VIP can only reach backends of its own routing domain`,
            )
          }
        }
      }
    })
  })
}

function domainResolver(domains: Map<number, DomainClaim>): (vsid: number) => string {
  return (vsid) => domains.get(vsid)?.customerId ?? `vsid:${vsid}`
}

/**
 * The routing domain of every VSID that a lookup record or customer route mentions:
 * its customerId, or `vsid:<n>` when none names one. Expects a validated document.
 */
export function routingDomains(config: NvlbConfig): Map<number, string> {
  const result = new Map<number, string>()
  for (const r of config.lookupRecords) if (r.customerId !== undefined) result.set(r.virtualSubnetId, r.customerId)
  for (const r of config.customerRoutes) result.set(r.virtualSubnetId, r.customerId)
  for (const r of config.lookupRecords) if (!result.has(r.virtualSubnetId)) result.set(r.virtualSubnetId, `vsid:${r.virtualSubnetId}`)
  return result
}

/**
 * A deep copy with JSON semantics (what `JSON.parse(JSON.stringify(value))` gives, faster):
 * `toJSON` is honoured, undefined and function members are dropped, non-finite numbers
 * become null. Throws NvlbError for values JSON cannot hold (BigInt, cycles).
 */
export function jsonClone(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (typeof value === 'bigint') fail(ErrorCodes.INVALID_CONFIG, undefined, 'the configuration is not a JSON document (it holds a BigInt)')
  if (typeof value !== 'object') return undefined
  if (depth > 64) fail(ErrorCodes.INVALID_CONFIG, undefined, 'the configuration is not a JSON document (nested too deeply, or circular)')
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return jsonClone((value as { toJSON: () => unknown }).toJSON(), depth + 1)
  }
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) {
      const item = jsonClone(value[i], depth + 1)
      copy[i] = item === undefined ? null : item
    }
    return copy
  }
  const copy: Json = {}
  for (const key of Object.keys(value)) {
    const item = jsonClone((value as Json)[key], depth + 1)
    if (item !== undefined) copy[key] = item
  }
  return copy
}

/** Validate the whole document of DESIGN §4; returns a new normalized copy or throws NvlbError. */
export function validateConfig(doc: unknown): NvlbConfig {
  const root = jsonClone(doc)
  if (!isObject(root)) fail(ErrorCodes.INVALID_CONFIG, undefined, `the configuration must be a JSON object, not ${describe(root)}`)

  validateNode(root)
  validateNeighbors(root)
  const domains = new Map<number, DomainClaim>()
  const records = validateLookupRecords(root, domains)
  const routeVsids = validateCustomerRoutes(root, domains)
  const domainOf = domainResolver(domains)
  checkAddressesUniqueInDomain(root, domainOf)
  const node = root.node as Json
  const tableSize = (node.maglevTableSize as number | undefined) ?? ConfigLimits.DEFAULT_MAGLEV_TABLE_SIZE
  const pools = validatePools(root, records, tableSize)
  validateVips(root, pools, records, routeVsids, domainOf)
  validateProbes(root)
  return root as unknown as NvlbConfig
}

/** Types re-exported for callers that only import the validator. */
export type { CustomerRoute, LookupRecord, Neighbor, NodeConfig, NvlbConfig, Pool, PoolBackend, Vip, VipRule }
