/**
 * What the configuration schema cannot say, checked on a document that already fits
 * it (types, ranges and formats checked, defaults filled in): references between
 * pools, rules and lookup records, uniqueness, routing domains, prime table sizes.
 *
 * Each check is a function of the document and a context of precomputed maps; the
 * first problem throws an NvlbError naming the field (`vips[0].rules[1].pool`) and
 * the reason. The checks run in the order of `crossChecks`; a feature with checks of
 * its own adds its function to that list.
 */
import { isPrime } from '../hash/maglev'
import { ErrorCodes, NvlbError, type ErrorCode } from '../errors'
import type { NvlbConfig } from './config-types'
import { validateProbes } from '../health/probe-config'
import { ConfigLimits } from './config-schema'
import { domainClaims, domainResolver, domainsOfClaims } from './routing-domain'
import { createKeyTable, keyTableGet, keyTableSet, type KeyTable } from '../dataplane/key-table'
import { parseIPv4 } from '../packet/address'

/**
 * The lookup records by (VSID, CA): a typed hash table of the parsed address (a cloud has
 * a million records; a Map of "vsid/ca" strings cost a string and an entry each, and was
 * kept for as long as the records were running).
 */
export class RecordIndex {
  /** (vsid, ca, 0) → record index: once complete, the compiler's lookup table too (lookupTableOf). */
  readonly table: KeyTable

  /** Room for `expected` records; `shared`: in shared memory. */
  constructor(expected: number, shared = false) {
    this.table = createKeyTable(expected, shared)
  }

  /** The index of the record of (vsid, ca), or -1. */
  get(virtualSubnetId: number, customerAddress: string): number {
    const address = parseIPv4(customerAddress)
    return address < 0 ? -1 : keyTableGet(this.table, virtualSubnetId, address, 0)
  }

  has(virtualSubnetId: number, customerAddress: string): boolean {
    return this.get(virtualSubnetId, customerAddress) >= 0
  }

  /** Records `index` for (vsid, ca) unless one is recorded already; returns the earlier index, or -1. */
  add(virtualSubnetId: number, customerAddress: string, index: number): number {
    const address = parseIPv4(customerAddress)
    const first = keyTableGet(this.table, virtualSubnetId, address, 0)
    if (first >= 0) return first
    if (!keyTableSet(this.table, virtualSubnetId, address, 0, index)) throw new Error(`internal: RecordIndex sized for fewer than ${this.table.size + 1} records`)
    return -1
  }
}

export interface CrossCheckContext {
  /** (vsid, ca) → index in lookupRecords. */
  records: RecordIndex
  /** VSIDs that a lookup record or customer route mentions. */
  policyVsids: Set<number>
  /** The routing domain of any VSID (routing-domain.ts). */
  domainOf: (virtualSubnetId: number) => string
  /** Pool name → index in pools. */
  pools: Map<string, number>
}

export type CrossCheck = (config: NvlbConfig, context: CrossCheckContext) => void

export function fail(code: ErrorCode, field: string | undefined, message: string): never {
  throw new NvlbError(code, message, field)
}

/** Key of a customer address inside a VSID: `"5001/10.1.6.21"`. */
export function vsidAddressKey(virtualSubnetId: number, address: string): string {
  return `${virtualSubnetId}/${address}`
}

function checkMaglevTableSize(config: NvlbConfig): void {
  const size = config.node.maglevTableSize
  if (size !== undefined && !isPrime(size)) {
    fail(ErrorCodes.INVALID_FIELD, 'node.maglevTableSize', `${size} is not a prime number (Maglev needs a prime table size, e.g. 65537)`)
  }
}

function checkPeerProviderAddresses(config: NvlbConfig): void {
  const peers = config.node.peerProviderAddresses
  if (peers === undefined) return
  const seen = new Map<string, number>()
  peers.forEach((address, i) => {
    const field = `node.peerProviderAddresses[${i}]`
    if (address === config.node.providerAddress) fail(ErrorCodes.INVALID_FIELD, field, `${address} is this node's own providerAddress, not a peer's`)
    const first = seen.get(address)
    if (first !== undefined) fail(ErrorCodes.INVALID_FIELD, field, `peer ${address} is already listed at node.peerProviderAddresses[${first}]`)
    seen.set(address, i)
  })
}

function checkNeighbors(config: NvlbConfig): void {
  const seen = new Map<string, number>()
  config.neighbors.forEach((n, i) => {
    const first = seen.get(n.address)
    if (first !== undefined) fail(ErrorCodes.DUPLICATE_NAME, `neighbors[${i}].address`, `neighbor ${n.address} is already defined at neighbors[${first}]`)
    seen.set(n.address, i)
  })
}

function checkLookupRecords(config: NvlbConfig, context: CrossCheckContext): void {
  // In shared memory: it becomes the snapshot's lookup table (lookupTableOf), which the packet workers share.
  const index = new RecordIndex(config.lookupRecords.length, true)
  context.records = index
  config.lookupRecords.forEach((r, i) => {
    // The schema checked the address: it parses.
    const first = index.add(r.virtualSubnetId, r.customerAddress, i)
    if (first >= 0) {
      fail(
        ErrorCodes.DUPLICATE_NAME,
        `lookupRecords[${i}].customerAddress`,
        `a lookup record for ${r.customerAddress} in VSID ${r.virtualSubnetId} is already defined at lookupRecords[${first}]`,
      )
    }
    context.policyVsids.add(r.virtualSubnetId)
  })
}

function checkCustomerRoutes(config: NvlbConfig, context: CrossCheckContext): void {
  const seen = new Map<string, number>()
  config.customerRoutes.forEach((r, i) => {
    const key = `${r.virtualSubnetId} ${r.destinationPrefix}`
    const first = seen.get(key)
    if (first !== undefined) {
      fail(
        ErrorCodes.DUPLICATE_NAME,
        `customerRoutes[${i}].destinationPrefix`,
        `a route to ${r.destinationPrefix} in VSID ${r.virtualSubnetId} is already defined at customerRoutes[${first}]`,
      )
    }
    seen.set(key, i)
    context.policyVsids.add(r.virtualSubnetId)
  })
}

/** One routing domain per VSID; sets `context.domainOf`. */
function checkRoutingDomains(config: NvlbConfig, context: CrossCheckContext): void {
  const { claims, conflict } = domainClaims(config)
  if (conflict !== undefined) {
    fail(
      ErrorCodes.CUSTOMER_ID_CONFLICT,
      `${conflict.second.where}.customerId`,
      `VSID ${conflict.virtualSubnetId} already belongs to routing domain '${conflict.first.customerId}' (${conflict.first.where}), ` +
        `it cannot also belong to '${conflict.second.customerId}'`,
    )
  }
  context.domainOf = domainResolver(domainsOfClaims(claims, config))
}

/** Within one routing domain every customer address must be unique, as HNV requires. */
function checkAddressesUniqueInDomain(config: NvlbConfig, context: CrossCheckContext): void {
  const records = config.lookupRecords
  // (domain number, CA) → index of the first record with it; domains numbered by VSID as met.
  const seen = createKeyTable(records.length)
  const domainNumbers = new Map<string, number>()
  const domainOfVsid = new Map<number, number>()
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const vsid = r.virtualSubnetId
    let domain = domainOfVsid.get(vsid)
    if (domain === undefined) {
      const name = context.domainOf(vsid)
      domain = domainNumbers.get(name)
      if (domain === undefined) domainNumbers.set(name, (domain = domainNumbers.size))
      domainOfVsid.set(vsid, domain)
    }
    const address = parseIPv4(r.customerAddress)
    const first = keyTableGet(seen, domain, address, 0)
    if (first >= 0 && records[first]!.virtualSubnetId !== vsid) {
      fail(
        ErrorCodes.DUPLICATE_NAME,
        `lookupRecords[${i}].customerAddress`,
        `customer address ${r.customerAddress} is already used in VSID ${records[first]!.virtualSubnetId} (lookupRecords[${first}]) ` +
          `of the same routing domain '${context.domainOf(vsid)}'; addresses must be unique within a routing domain`,
      )
    }
    if (first < 0) keyTableSet(seen, domain, address, 0, i)
  }
}

/**
 * Pools whose backends passed checkPools, with what that depended on: a frozen pool (a
 * validated document's, which cannot have changed since) checked against the same
 * lookup records (the context's map, reused while the records are) is not checked again.
 */
const checkedPools = new WeakMap<object, { records: RecordIndex; tableSize: number }>()

function checkPools(config: NvlbConfig, context: CrossCheckContext): void {
  const tableSize = config.node.maglevTableSize ?? ConfigLimits.DEFAULT_MAGLEV_TABLE_SIZE
  config.pools.forEach((p, i) => {
    const path = `pools[${i}]`
    const first = context.pools.get(p.name)
    if (first !== undefined) fail(ErrorCodes.DUPLICATE_NAME, `${path}.name`, `pool '${p.name}' is already defined at pools[${first}]`)
    context.pools.set(p.name, i)
    const checked = checkedPools.get(p)
    if (checked !== undefined && Object.isFrozen(p) && checked.records === context.records && checked.tableSize === tableSize) return
    if (p.backends.length > tableSize) {
      fail(
        ErrorCodes.INVALID_FIELD,
        `${path}.backends`,
        `pool '${p.name}' has ${p.backends.length} backends, more than the Maglev table size ${tableSize}`,
      )
    }
    const seen = new Map<string, number>()
    p.backends.forEach((b, j) => {
      const bpath = `${path}.backends[${j}]`
      const key = vsidAddressKey(b.virtualSubnetId, b.address)
      const dup = seen.get(key)
      if (dup !== undefined) {
        fail(ErrorCodes.DUPLICATE_NAME, `${bpath}.address`, `backend ${key} is already in pool '${p.name}' at ${path}.backends[${dup}]`)
      }
      seen.set(key, j)
      if (!context.records.has(b.virtualSubnetId, b.address)) {
        fail(
          ErrorCodes.NO_LOOKUP_RECORD,
          `${bpath}.address`,
          `backend ${b.address} in VSID ${b.virtualSubnetId} has no lookup record; add one to lookupRecords so nvlb knows the host (PA) and MAC`,
        )
      }
    })
    checkedPools.set(p, { records: context.records, tableSize })
  })
}

/**
 * VIP lists that passed checkVips, with what that depended on: the pool each rule named
 * (by flattened rule index) and the policy context. A change that keeps the (frozen) list
 * and the policy context re-checks only the rules whose pool is another object now.
 */
const checkedVips = new WeakMap<object, { records: RecordIndex; domainOf: CrossCheckContext['domainOf']; external: boolean; pools: unknown[] }>()

/** The domain check of a CA VIP's rule: every backend of its pool is in the VIP's routing domain. */
function checkRuleDomain(config: NvlbConfig, context: CrossCheckContext, v: number, j: number, poolIndex: number): void {
  const vip = config.vips[v]!
  const rule = vip.rules[j]!
  const domain = context.domainOf(vip.virtualSubnetId)
  for (const b of config.pools[poolIndex]!.backends) {
    const backendDomain = context.domainOf(b.virtualSubnetId)
    if (backendDomain !== domain) {
      fail(
        ErrorCodes.ROUTING_DOMAIN_MISMATCH,
        `vips[${v}].rules[${j}].pool`,
        `backend ${vsidAddressKey(b.virtualSubnetId, b.address)} of pool '${rule.pool}' is in routing domain ` +
          `'${backendDomain}', but CA VIP '${vip.name}' is in VSID ${vip.virtualSubnetId} of routing domain '${domain}'; ` +
          `a CA VIP can only reach backends of its own routing domain`,
      )
    }
  }
}

/** checkVips of a list that passed it against the same policy context: only rules whose pool changed. False: check everything. */
function recheckVips(config: NvlbConfig, context: CrossCheckContext, external: boolean): boolean {
  const checked = Object.isFrozen(config.vips) ? checkedVips.get(config.vips) : undefined
  if (checked === undefined || checked.records !== context.records || checked.domainOf !== context.domainOf || checked.external !== external) return false
  const pools: unknown[] = []
  let k = 0
  for (let v = 0; v < config.vips.length; v++) {
    const vip = config.vips[v]!
    for (let j = 0; j < vip.rules.length; j++, k++) {
      const poolIndex = context.pools.get(vip.rules[j]!.pool)
      if (poolIndex === undefined) return false
      const pool = config.pools[poolIndex]
      if (pool !== checked.pools[k] && vip.virtualSubnetId !== 0) checkRuleDomain(config, context, v, j, poolIndex)
      pools.push(pool)
    }
  }
  checkedVips.set(config.vips, { ...checked, pools })
  return true
}

function checkVips(config: NvlbConfig, context: CrossCheckContext): void {
  const node = config.node as unknown as Record<string, unknown>
  const external = node.externalAddress !== undefined && node.externalMac !== undefined
  if (recheckVips(config, context, external)) return
  const pools: unknown[] = []
  const names = new Map<string, number>()
  const ruleKeys = new Map<string, string>()
  config.vips.forEach((v, i) => {
    const path = `vips[${i}]`
    const first = names.get(v.name)
    if (first !== undefined) fail(ErrorCodes.DUPLICATE_NAME, `${path}.name`, `VIP '${v.name}' is already defined at vips[${first}]`)
    names.set(v.name, i)
    const vsid = v.virtualSubnetId
    if (vsid === 0) {
      for (const key of ['externalAddress', 'externalMac']) {
        if (node[key] === undefined) {
          fail(ErrorCodes.INVALID_FIELD, `node.${key}`, `is required because VIP '${v.name}' (${path}) is a public VIP (virtualSubnetId 0)`)
        }
      }
    } else if (!context.policyVsids.has(vsid)) {
      fail(
        ErrorCodes.UNKNOWN_VSID,
        `${path}.virtualSubnetId`,
        `no lookup record or customer route defines VSID ${vsid}, so the tenant of CA VIP '${v.name}' is unknown`,
      )
    }
    v.rules.forEach((r, j) => {
      const rpath = `${path}.rules[${j}]`
      const ruleKey = `${vsid} ${v.address} ${r.protocol} ${r.frontendPort}`
      const owner = ruleKeys.get(ruleKey)
      if (owner !== undefined) {
        fail(
          ErrorCodes.DUPLICATE_VIP_RULE,
          `${rpath}.frontendPort`,
          `${r.protocol} port ${r.frontendPort} of ${v.address} in VSID ${vsid} is already taken by ${owner}`,
        )
      }
      ruleKeys.set(ruleKey, `VIP '${v.name}' (${rpath})`)
      const poolIndex = context.pools.get(r.pool)
      if (poolIndex === undefined) fail(ErrorCodes.UNKNOWN_POOL, `${rpath}.pool`, `pool '${r.pool}' does not exist`)
      if (vsid !== 0) checkRuleDomain(config, context, i, j, poolIndex)
      pools.push(config.pools[poolIndex])
    })
  })
  checkedVips.set(config.vips, { records: context.records, domainOf: context.domainOf, external, pools })
}

/**
 * The cross-checks, in the order they run. Checks of the health probes (a rule's probe
 * names an existing probe, node.probeAddress once a rule names one) go at the end.
 */
export const crossChecks: CrossCheck[] = [
  checkMaglevTableSize,
  checkPeerProviderAddresses,
  checkNeighbors,
  checkLookupRecords,
  checkCustomerRoutes,
  checkRoutingDomains,
  checkAddressesUniqueInDomain,
  checkPools,
  checkVips,
  (config) => validateProbes(config as unknown as Record<string, unknown>),
]

/**
 * The checks that read only lookupRecords and customerRoutes, and fill the context's
 * records, policyVsids and domainOf: a change that keeps both lists (by reference, as
 * validateChange does) reuses what they computed for the running document.
 */
const POLICY_CHECKS = new Set<CrossCheck>([checkLookupRecords, checkCustomerRoutes, checkRoutingDomains, checkAddressesUniqueInDomain])

interface PolicyContext {
  customerRoutes: NvlbConfig['customerRoutes']
  records: RecordIndex
  policyVsids: Set<number>
  domainOf: (virtualSubnetId: number) => string
}

/** By the (frozen, running) lookupRecords list: the policy context computed from it. */
const policyContexts = new WeakMap<object, PolicyContext>()

/**
 * The (vsid, ca, 0) → record index table of a validated list of lookup records, as the
 * cross-checks built it (in shared memory, in record order, sized for the list: what the
 * compiler would build), or undefined when they did not check this list.
 */
export function lookupTableOf(records: readonly unknown[]): KeyTable | undefined {
  const context = policyContexts.get(records)
  return context === undefined || context.records.table.size !== records.length ? undefined : context.records.table
}

/**
 * Runs every cross-check on a document that fits the schema. `previous`: the running
 * document the change starts from; its policy context is reused when `config` shares its
 * (frozen) lookupRecords and customerRoutes lists.
 */
export function crossCheck(config: NvlbConfig, previous?: NvlbConfig): void {
  const context: CrossCheckContext = {
    records: new RecordIndex(0),
    policyVsids: new Set(),
    domainOf: domainResolver(new Map()),
    pools: new Map(),
  }
  const records = config.lookupRecords
  const cached =
    previous !== undefined && previous.lookupRecords === records && previous.customerRoutes === config.customerRoutes && Object.isFrozen(records)
      ? policyContexts.get(records)
      : undefined
  const reuse = cached !== undefined && cached.customerRoutes === config.customerRoutes
  if (reuse) {
    context.records = cached.records
    context.policyVsids = cached.policyVsids
    context.domainOf = cached.domainOf
  }
  for (const check of crossChecks) {
    if (reuse && POLICY_CHECKS.has(check)) continue
    check(config, context)
  }
  if (!reuse) {
    policyContexts.set(records, { customerRoutes: config.customerRoutes, records: context.records, policyVsids: context.policyVsids, domainOf: context.domainOf })
  }
}
