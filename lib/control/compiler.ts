import type { NvlbConfig, Protocol } from './config-types'
import { ErrorCodes, NvlbError } from '../errors'
import { IdAllocator } from './id-allocator'
import { parseIPv4, parseMac } from '../packet/address'
import { IPV4_HEADER_LENGTH } from '../packet/ipv4'
import { NVGRE_ENCAP_OVERHEAD } from '../packet/nvgre'
import { TCP_HEADER_LENGTH } from '../packet/tcp'
import { buildMaglev, DEFAULT_MAGLEV_SIZE } from '../hash/maglev'
import { createKeyTable, KEY_TABLE_MISSING, keyTableGet, keyTableSet, type KeyTable } from '../dataplane/key-table'
import {
  BACKEND_ABSENT,
  BACKEND_ACTIVE,
  BACKEND_DISABLED,
  BACKEND_DRAINING,
  MAX_BACKEND_IDS,
  MAX_RULE_IDS,
  DIST_2_TUPLE,
  DIST_3_TUPLE,
  DIST_5_TUPLE,
  NAT_DNAT,
  NAT_FULLNAT,
  PROTO_TCP,
  PROTO_UDP,
  PUBLIC_DOMAIN,
  RULE_SEVERAL,
  type CompiledRule,
  type Snapshot,
} from '../dataplane/snapshot'
import { ownDomain, routingDomains } from './routing-domain'
import { buildDnatReplyIndex, type DnatReplySource } from '../dataplane/dnat-reply-index'

/** IPv4 and TCP headers without options: the MSS is what remains of the packet. */
const TCP_IP_HEADERS = IPV4_HEADER_LENGTH + TCP_HEADER_LENGTH
export const DEFAULT_MAX_FLOWS = 1 << 20
/** Names of pool members are cached up to this many; then the cache starts over. */
const MEMBER_CACHE_LIMIT = 1 << 18
/** Instances of a shared store trusted as peers at most (the store is not the configuration: it is bounded here). */
export const MAX_REGISTERED_PEERS = 1024

const STATE_CODE = { active: BACKEND_ACTIVE, draining: BACKEND_DRAINING, disabled: BACKEND_DISABLED } as const
const DISTRIBUTION_CODE = { '5-tuple': DIST_5_TUPLE, '3-tuple': DIST_3_TUPLE, '2-tuple': DIST_2_TUPLE } as const

export function protocolNumber(protocol: Protocol): number {
  return protocol === 'tcp' ? PROTO_TCP : PROTO_UDP
}

/** The backend name (`<vsid>/<address>:<port>`) that seeds its Maglev permutation. */
export function backendName(vsid: number, address: string, port: number): string {
  return `${vsid}/${address}:${port}`
}

/** A pool's members behind one backend port, in pool order; weight 0 for those not active. */
interface PoolMembers {
  ids: number[]
  names: string[]
  weights: number[]
  table?: Int32Array
  /** Weights as if no backend were down (whenAllDown 'useAll'), and whether health left no backend. */
  adminWeights: number[]
  allDown: boolean
  useAll?: PoolMembers
}

/** What health probes say (lib/health): the `<pool>|<backend name>` keys of backends that are down. */
export interface CompileHealth {
  down: ReadonlySet<string>
}

interface CachedTable {
  size: number
  ids: number[]
  names: string[]
  weights: number[]
  table: Int32Array
}

interface PolicyTables {
  lookupRecords: NvlbConfig['lookupRecords']
  customerRoutes: NvlbConfig['customerRoutes']
  domains: KeyTable
  domainOf: (vsid: number) => number
  lookup: KeyTable
  lookupHost: Int32Array
  lookupMac: Uint8Array
}

interface NeighborTables {
  list: NvlbConfig['neighbors']
  neighbors: KeyTable
  neighborMac: Uint8Array
}

/**
 * A copy of `array` in a SharedArrayBuffer: structured clone (postMessage to a worker)
 * passes such an array by reference. Snapshot tables are never written after the
 * compile, so sharing them is safe.
 */
function shared<T extends Int32Array | Uint8Array>(array: T): T {
  const copy = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(new SharedArrayBuffer(array.byteLength))
  copy.set(array)
  return copy
}

/** `next` is frozen and starts with every item of `previous`, by reference. */
function appendedTo<T>(previous: readonly T[], next: readonly T[]): boolean {
  if (next.length <= previous.length || !Object.isFrozen(next)) return false
  for (let i = 0; i < previous.length; i++) if (previous[i] !== next[i]) return false
  return true
}

/** A copy of `table` with room for `expected` keys (the tables of a published snapshot are never changed). */
function grownKeyTable(table: KeyTable, expected: number): KeyTable {
  const grown = createKeyTable(expected)
  if (grown.mask === table.mask) return { keys: table.keys.slice(), values: table.values.slice(), mask: table.mask, size: table.size }
  const { keys, values } = table
  for (let slot = 0; slot <= table.mask; slot++) {
    const value = values[slot]!
    if (value >= 0) keyTableSet(grown, keys[slot * 3]!, keys[slot * 3 + 1]!, keys[slot * 3 + 2]!, value)
  }
  return grown
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Stable small integers for names that are never reused (routing domains: 2^24 of them). */
class IdRegistry {
  private readonly ids = new Map<string, number>()
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  id(key: string): number {
    let id = this.ids.get(key)
    if (id === undefined) {
      id = this.ids.size
      if (id >= this.limit) {
        throw new NvlbError(ErrorCodes.INVALID_CONFIG, `more than ${this.limit} ${this.what} since start; restart nvlb to renumber`)
      }
      this.ids.set(key, id)
    }
    return id
  }

  get count(): number {
    return this.ids.size
  }
}

function badAddress(text: string | undefined, field: string): NvlbError {
  return new NvlbError(ErrorCodes.BAD_ADDRESS, `'${String(text)}' is not an IPv4 address`, field)
}

function badMac(text: string | undefined, field: string): NvlbError {
  return new NvlbError(ErrorCodes.BAD_MAC, `'${String(text)}' is not a MAC address`, field)
}

/**
 * Turns a validated configuration into a Snapshot. One Compiler lives as long
 * as the process: it keeps the id registries that let flows survive new
 * snapshots, and caches Maglev tables of unchanged pools.
 */
export class Compiler {
  private readonly ruleIds = new IdAllocator(MAX_RULE_IDS, 'VIP rules')
  private readonly backendIds = new IdAllocator(MAX_BACKEND_IDS, 'pool backends')
  /** Sequence number of the last compile (the snapshot's epoch); strictly increasing, unlike generations. */
  private epoch = 0
  private readonly domainIds = new IdRegistry(1 << 24, 'routing domains')
  /** Maglev tables of the last compile by `pool|port`, with the member ids and weights they were built from. */
  private tableCache = new Map<string, CachedTable>()
  /** The last compile's lookup-record and domain tables, and the lists they were built from. */
  private policyCache: PolicyTables | undefined
  private neighborCache: NeighborTables | undefined
  /** Pool members seen before, by `pool|vsid|address|port`: their Maglev name and id key. */
  private readonly members = new Map<string, { name: string; key: string }>()
  /** PAs of the other instances a shared store lists (setRegisteredPeers), sorted. */
  private registeredPeers: readonly string[] = []

  /**
   * The provider addresses of the other instances registered in the shared
   * store (nvlb run --store etcd://…, lib/control/instance-registry.ts):
   * the following compiles trust them as peers, like
   * node.peerProviderAddresses. What is not a unicast host address is left
   * out. Returns whether the set changed (then compile again: republish).
   */
  setRegisteredPeers(addresses: readonly string[]): boolean {
    const valid = addresses.filter((text) => {
      const value = parseIPv4(text)
      return value > 0 && value < 0xe0000000
    })
    const next = [...new Set(valid)].sort().slice(0, MAX_REGISTERED_PEERS)
    const before = this.registeredPeers
    if (next.length === before.length && next.every((a, i) => a === before[i])) return false
    this.registeredPeers = next
    return true
  }

  /** The peers' PAs as the packet path looks them up: configured ones and registered ones, never nvlb's own. */
  private peerTable(configured: readonly string[] | undefined, own: number): KeyTable {
    const list = [...(configured ?? []), ...this.registeredPeers]
    const table = createKeyTable(list.length)
    list.forEach((text, i) => {
      const address = this.address(text)
      if (address < 0) throw badAddress(text, `node.peerProviderAddresses[${i}]`)
      if (address !== own) keyTableSet(table, address | 0, 0, 0, 1)
    })
    return table
  }

  /** Parsed IPv4 address (unsigned), or -1. */
  private address(text: string | undefined): number {
    return text === undefined ? -1 : parseIPv4(text)
  }

  private mac(text: string | undefined): Uint8Array | null {
    return text === undefined ? null : parseMac(text)
  }

  /** A pool member behind a backend port: its name and its id, stable across compiles. */
  private member(pool: string, vsid: number, address: string, port: number): { name: string; id: number } {
    const key = `${pool}|${vsid}|${address}|${port}`
    let member = this.members.get(key)
    if (member === undefined) {
      const name = backendName(vsid, address, port)
      member = { name, key: `${pool}|${name}` }
      if (this.members.size >= MEMBER_CACHE_LIMIT) this.members.clear()
      this.members.set(key, member)
    }
    return { name: member.name, id: this.backendIds.id(member.key) }
  }

  constructor() {
    this.domainIds.id('') // PUBLIC_DOMAIN = 0
  }

  /**
   * `swept`: the lowest epoch every packet engine has swept its flow table
   * against (Counters G_SWEPT_EPOCH, the minimum over all engines; 0 = reuse
   * no id). Rule and backend ids freed at or before it may be given to new
   * keys. A compile that throws leaves the ids as they were. `health`: the
   * backends probes see down (lib/health).
   */
  compile(config: NvlbConfig, generation: number, health?: CompileHealth, swept = 0): Snapshot {
    const epoch = ++this.epoch
    this.ruleIds.begin(epoch, swept)
    this.backendIds.begin(epoch, swept)
    try {
      const snapshot = this.build(config, generation, epoch, health)
      this.ruleIds.commit()
      this.backendIds.commit()
      return snapshot
    } catch (err) {
      this.ruleIds.rollback()
      this.backendIds.rollback()
      throw err
    }
  }

  /** Ids freed and not yet reused (for tests and diagnostics). */
  get quarantinedIds(): { rules: number; backends: number } {
    return { rules: this.ruleIds.quarantined, backends: this.backendIds.quarantined }
  }

  /** Lookup-record and routing-domain tables of `config`, reused while its lists are unchanged. */
  private policyTables(config: NvlbConfig): PolicyTables {
    const cached = this.policyCache
    if (
      cached !== undefined &&
      cached.lookupRecords === config.lookupRecords &&
      cached.customerRoutes === config.customerRoutes &&
      Object.isFrozen(config.lookupRecords) &&
      Object.isFrozen(config.customerRoutes)
    ) {
      return cached
    }
    const vsidCustomer = routingDomains(config)
    const domains = createKeyTable(vsidCustomer.size)
    const domainOfVsid = new Map<number, number>()
    const domainOf = (vsid: number): number => {
      if (vsid === 0) return PUBLIC_DOMAIN
      let domain = domainOfVsid.get(vsid)
      if (domain === undefined) {
        domain = this.domainIds.id(`c:${vsidCustomer.get(vsid) ?? ownDomain(vsid)}`)
        domainOfVsid.set(vsid, domain)
      }
      return domain
    }
    for (const vsid of vsidCustomer.keys()) keyTableSet(domains, vsid, 0, 0, domainOf(vsid))

    const records = config.lookupRecords
    // Records appended to the previous (frozen) list, as a bulk import of new records does:
    // the previous tables are copied, and only the new records are parsed and inserted.
    const kept = cached !== undefined && appendedTo(cached.lookupRecords, records) ? cached : undefined
    const lookup = kept === undefined ? createKeyTable(records.length) : grownKeyTable(kept.lookup, records.length)
    const lookupHost = new Int32Array(records.length)
    const lookupMac = new Uint8Array(records.length * 6)
    const from = kept === undefined ? 0 : kept.lookupRecords.length
    if (kept !== undefined) {
      lookupHost.set(kept.lookupHost)
      lookupMac.set(kept.lookupMac)
    }
    for (let i = from; i < records.length; i++) {
      const r = records[i]!
      const ca = this.address(r.customerAddress)
      if (ca < 0) throw badAddress(r.customerAddress, `lookupRecords[${i}].customerAddress`)
      const host = this.address(r.providerAddress)
      if (host < 0) throw badAddress(r.providerAddress, `lookupRecords[${i}].providerAddress`)
      const mac = this.mac(r.macAddress)
      if (mac === null) throw badMac(r.macAddress, `lookupRecords[${i}].macAddress`)
      lookupHost[i] = host
      lookupMac.set(mac, i * 6)
      keyTableSet(lookup, r.virtualSubnetId, ca, 0, i)
    }
    // In shared memory: every snapshot posted to the packet workers until the records change
    // again shares these tables with them instead of copying them into each (tens of MB at 1M records).
    const tables: PolicyTables = {
      lookupRecords: records,
      customerRoutes: config.customerRoutes,
      domains,
      domainOf,
      lookup: { keys: shared(lookup.keys), values: shared(lookup.values), mask: lookup.mask, size: lookup.size },
      lookupHost: shared(lookupHost),
      lookupMac: shared(lookupMac),
    }
    this.policyCache = tables
    return tables
  }

  /** Static neighbour tables of `config`, reused while its list is unchanged. */
  private neighborTables(config: NvlbConfig): NeighborTables {
    const cached = this.neighborCache
    if (cached !== undefined && cached.list === config.neighbors && Object.isFrozen(config.neighbors)) return cached
    const neighbors = createKeyTable(config.neighbors.length)
    const neighborMac = new Uint8Array(config.neighbors.length * 6)
    config.neighbors.forEach((n, i) => {
      const address = this.address(n.address)
      if (address < 0) throw badAddress(n.address, `neighbors[${i}].address`)
      const mac = this.mac(n.mac)
      if (mac === null) throw badMac(n.mac, `neighbors[${i}].mac`)
      keyTableSet(neighbors, address, 0, 0, i)
      neighborMac.set(mac, i * 6)
    })
    const tables: NeighborTables = { list: config.neighbors, neighbors, neighborMac }
    this.neighborCache = tables
    return tables
  }

  private build(config: NvlbConfig, generation: number, epoch: number, health: CompileHealth | undefined): Snapshot {
    const node = config.node
    const providerMtu = node.providerMtu ?? 1500
    const maglevSize = node.maglevTableSize ?? DEFAULT_MAGLEV_SIZE

    // Routing domains: a VSID belongs to its customerId's domain, or to one of its own.
    // The tables of lookup records, domains and neighbours are immutable: a compile whose
    // lists are the previous compile's (the same frozen arrays, as the control plane keeps
    // unchanged sections) reuses them instead of building them again.
    const policy = this.policyTables(config)
    const { domains, lookup, lookupHost, lookupMac } = policy
    const domainOf = policy.domainOf
    const { neighbors, neighborMac } = this.neighborTables(config)

    // Backends: one id per (pool, backend name); the name includes the port, so
    // a pool behind rules with different backend ports has one entry per port.
    const pools = new Map(config.pools.map((p) => [p.name, p]))
    const backendsById = new Map<number, { vsid: number; address: number; port: number; state: number; down: boolean; domain: number; record: number; name: string; pool: string; poolId: number }>()
    const poolIds = new Map(config.pools.map((p, i) => [p.name, i]))
    const poolPortIds = new Map<string, PoolMembers>()
    const backendsOf = (poolName: string, port: number, field: string) => {
      const key = `${poolName}|${port}`
      const known = poolPortIds.get(key)
      if (known !== undefined) return known
      const pool = pools.get(poolName)
      if (pool === undefined) throw new NvlbError(ErrorCodes.UNKNOWN_POOL, `pool '${poolName}' does not exist`, field)
      const entry: PoolMembers = { ids: [], names: [], weights: [], adminWeights: [], allDown: false }
      const poolIndex = config.pools.indexOf(pool)
      pool.backends.forEach((b, i) => {
        const { name, id } = this.member(poolName, b.virtualSubnetId, b.address, port)
        const address = this.address(b.address)
        if (address < 0) throw badAddress(b.address, `pools[${poolIndex}].backends[${i}].address`)
        const record = keyTableGet(lookup, b.virtualSubnetId, address, 0)
        if (record < 0) {
          throw new NvlbError(ErrorCodes.NO_LOOKUP_RECORD, `no lookup record for VSID ${b.virtualSubnetId} CA ${b.address}`, `pools[${poolIndex}].backends[${i}]`)
        }
        const state = STATE_CODE[b.state ?? 'active']
        const down = health !== undefined && health.down.has(`${poolName}|${name}`)
        backendsById.set(id, {
          vsid: b.virtualSubnetId,
          address,
          port,
          state,
          down,
          domain: domainOf(b.virtualSubnetId),
          record,
          name,
          pool: poolName,
          poolId: poolIndex,
        })
        entry.ids.push(id)
        entry.names.push(name)
        // Only active backends take new flows; draining and disabled ones get no slots.
        const weight = state === BACKEND_ACTIVE ? (b.weight ?? 1) : 0
        entry.adminWeights.push(weight)
        entry.weights.push(down ? 0 : weight)
      })
      entry.allDown = entry.adminWeights.some((w) => w > 0) && entry.weights.every((w) => w === 0)
      poolPortIds.set(key, entry)
      return entry
    }

    // VIP rules.
    const ruleCount = config.vips.reduce((n, v) => n + v.rules.length, 0)
    const rules = createKeyTable(ruleCount)
    const rulesByAddress = createKeyTable(ruleCount)
    const publicVips = createKeyTable(config.vips.length)
    const ruleList: (CompiledRule | null)[] = []
    const newCache = new Map<string, CachedTable>()
    /** Public dnat rules: their replies can be translated without a flow (dnat-reply-index.ts). */
    const dnatReplySources: DnatReplySource[] = []
    /** The Maglev table of a pool behind one backend port: reused when its members and weights are unchanged. */
    const tableOf = (key: string, members: PoolMembers): Int32Array => {
      if (members.table !== undefined) return members.table
      const cached = this.tableCache.get(key)
      let table: Int32Array
      if (
        cached !== undefined &&
        cached.size === maglevSize &&
        sameItems(cached.ids, members.ids) &&
        sameItems(cached.names, members.names) &&
        sameItems(cached.weights, members.weights)
      ) {
        table = cached.table
      } else {
        const picks = buildMaglev(
          members.names.map((name, i) => ({ name, weight: members.weights[i]! })),
          maglevSize,
        )
        table = new Int32Array(maglevSize)
        for (let s = 0; s < maglevSize; s++) {
          const pick = picks[s]!
          table[s] = pick < 0 ? -1 : members.ids[pick]!
        }
      }
      newCache.set(key, { size: maglevSize, ids: members.ids, names: members.names, weights: members.weights, table })
      members.table = table
      return table
    }
    config.vips.forEach((vip, v) => {
      const vipAddress = this.address(vip.address)
      if (vipAddress < 0) throw badAddress(vip.address, `vips[${v}].address`)
      const vsid = vip.virtualSubnetId
      if (vsid === 0) keyTableSet(publicVips, vipAddress, 0, 0, 1)
      const natMode = (vip.natMode ?? (vsid === 0 ? 'dnat' : 'fullnat')) === 'fullnat' ? NAT_FULLNAT : NAT_DNAT
      vip.rules.forEach((rule, r) => {
        const field = `vips[${v}].rules[${r}]`
        const protocol = protocolNumber(rule.protocol)
        const backendPort = rule.backendPort ?? rule.frontendPort
        const id = this.ruleIds.id(`${vsid}/${vip.address}/${protocol}/${rule.frontendPort}`)
        if (keyTableGet(rules, vipAddress, vsid, (protocol << 16) | rule.frontendPort) >= 0) {
          throw new NvlbError(ErrorCodes.DUPLICATE_VIP_RULE, `(VSID ${vsid}, ${vip.address}, ${rule.protocol}, ${rule.frontendPort}) is defined twice`, field)
        }
        let members = backendsOf(rule.pool, backendPort, `${field}.pool`)
        let tableKey = `${rule.pool}|${backendPort}`
        if (members.allDown && rule.whenAllDown === 'useAll') {
          // Every backend is down: balance over all of them as if they were up (their flows are kept).
          members.useAll ??= { ids: members.ids, names: members.names, weights: members.adminWeights, adminWeights: members.adminWeights, allDown: false }
          members = members.useAll
          tableKey += '|useAll'
          for (const id of members.ids) backendsById.get(id)!.down = false
        }
        const table = tableOf(tableKey, members)
        keyTableSet(rules, vipAddress, vsid, (protocol << 16) | rule.frontendPort, id)
        const previous = keyTableGet(rulesByAddress, vipAddress, vsid, protocol)
        keyTableSet(rulesByAddress, vipAddress, vsid, protocol, previous === KEY_TABLE_MISSING ? id : RULE_SEVERAL)
        ruleList[id] = {
          id,
          vipName: vip.name,
          vipAddress: vipAddress | 0,
          vipAddressText: vip.address,
          virtualSubnetId: vsid,
          domain: domainOf(vsid),
          protocol,
          frontendPort: rule.frontendPort,
          backendPort,
          natMode,
          distribution: DISTRIBUTION_CODE[rule.distribution ?? '5-tuple'],
          idleTimeoutSeconds: rule.idleTimeoutSeconds ?? 240,
          pool: rule.pool,
          poolId: poolIds.get(rule.pool)!,
          table,
        }
        if (vsid === 0 && natMode === NAT_DNAT) dnatReplySources.push({ rule: ruleList[id]!, field, backendIds: members.ids })
      })
    })
    const dnatReplies = buildDnatReplyIndex(dnatReplySources, (id) => backendsById.get(id)!, config.node.sharedProviderAddress !== undefined)
    const ruleSince = new Int32Array(this.ruleIds.count)
    for (let i = 0; i < this.ruleIds.count; i++) {
      if (ruleList[i] === undefined) ruleList[i] = null
      else ruleSince[i] = this.ruleIds.since(i)
    }

    // A backend's name needs a port, which only a rule gives: pools no rule uses have no entries.
    const backendCount = this.backendIds.count
    const backendAddress = new Int32Array(backendCount)
    const backendVsid = new Uint32Array(backendCount)
    const backendPort = new Uint16Array(backendCount)
    const backendState = new Uint8Array(backendCount).fill(BACKEND_ABSENT)
    const backendDown = new Uint8Array(backendCount)
    const backendDomain = new Int32Array(backendCount).fill(-1)
    const backendHost = new Int32Array(backendCount)
    const backendMac = new Uint8Array(backendCount * 6)
    const backendNameList: string[] = new Array<string>(backendCount).fill('')
    const backendPool: string[] = new Array<string>(backendCount).fill('')
    const backendSince = new Int32Array(backendCount)
    const backendPoolId = new Int32Array(backendCount).fill(-1)
    for (const [id, b] of backendsById) {
      backendSince[id] = this.backendIds.since(id)
      backendAddress[id] = b.address
      backendVsid[id] = b.vsid
      backendPort[id] = b.port
      backendState[id] = b.state
      backendDown[id] = b.down ? 1 : 0
      backendDomain[id] = b.domain
      backendHost[id] = lookupHost[b.record]!
      backendMac.set(lookupMac.subarray(b.record * 6, b.record * 6 + 6), id * 6)
      backendNameList[id] = b.name
      backendPool[id] = b.pool
      backendPoolId[id] = b.poolId
    }

    const providerAddress = this.address(node.providerAddress)
    if (providerAddress < 0) throw badAddress(node.providerAddress, 'node.providerAddress')
    const externalAddress = node.externalAddress === undefined ? 0 : this.address(node.externalAddress)
    if (externalAddress < 0) throw badAddress(node.externalAddress, 'node.externalAddress')
    const providerMac = this.mac(node.providerMac)
    if (providerMac === null) throw badMac(node.providerMac, 'node.providerMac')
    const externalMac = node.externalMac === undefined ? new Uint8Array(6) : this.mac(node.externalMac)
    if (externalMac === null) throw badMac(node.externalMac, 'node.externalMac')
    const sharedProviderAddress = node.sharedProviderAddress === undefined ? 0 : this.address(node.sharedProviderAddress)
    if (sharedProviderAddress < 0) throw badAddress(node.sharedProviderAddress, 'node.sharedProviderAddress')
    const gatewayMac = this.mac(node.gatewayMac)
    if (gatewayMac === null) throw badMac(node.gatewayMac, 'node.gatewayMac')
    this.tableCache = newCache
    return {
      generation,
      epoch,
      ruleSince,
      backendSince,
      providerAddress: providerAddress | 0,
      providerMac,
      sharedProviderAddress: sharedProviderAddress | 0,
      externalAddress: externalAddress | 0,
      externalMac,
      gatewayMac,
      providerMtu,
      probeAddress: node.probeAddress === undefined ? 0 : this.address(node.probeAddress) | 0,
      mssClamp: node.mssClamp === true,
      clampedMss: providerMtu - NVGRE_ENCAP_OVERHEAD - TCP_IP_HEADERS,
      maxFlows: node.maxFlows ?? DEFAULT_MAX_FLOWS,
      maglevSize,
      rules,
      rulesByAddress,
      dnatReplies,
      ruleList,
      publicVips,
      backendCount,
      backendAddress,
      backendVsid,
      backendPort,
      backendState,
      backendDown,
      backendDomain,
      backendHost,
      backendMac,
      backendName: backendNameList,
      backendPool,
      backendPoolId,
      lookup,
      lookupHost,
      lookupMac,
      domains,
      neighbors,
      neighborMac,
      peerProviders: this.peerTable(node.peerProviderAddresses, providerAddress),
    }
  }
}

