import { LRUCache } from 'lru-cache'
import type { NvlbConfig, Protocol, Vip } from './config-types'
import { ErrorCodes, NvlbError } from '../errors'
import { IdAllocator } from './id-allocator'
import { parseIPv4, parseMac, parseMacInto } from '../packet/address'
import { IPV4_HEADER_LENGTH } from '../packet/ipv4'
import { NVGRE_ENCAP_OVERHEAD } from '../packet/nvgre'
import { TCP_HEADER_LENGTH } from '../packet/tcp'
import { DEFAULT_MAGLEV_SIZE, planMaglev } from '../hash/maglev'
import { TableBuilder } from './table-builder'
import { createKeyTable, KEY_TABLE_MISSING, keyTableGet, keyTableSet, type KeyTable } from '../dataplane/key-table'
import { sharedArray, sharedCopyOf } from '../dataplane/shared-array'
import {
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
import { lookupTableOf } from './config-cross-check'
import { buildDnatReplyIndex, type DnatReplySource } from '../dataplane/dnat-reply-index'
import { compilePool, reusable, writeBackends, type BackendArrays, type CompiledPool, type MemberSource, type PoolMember, type PoolMembers, type WrittenBackends } from './pool-members'

/** IPv4 and TCP headers without options: the MSS is what remains of the packet. */
const TCP_IP_HEADERS = IPV4_HEADER_LENGTH + TCP_HEADER_LENGTH
export const DEFAULT_MAX_FLOWS = 1 << 20
/** Names of pool members are cached up to this many; then the cache starts over. */
const MEMBER_CACHE_LIMIT = 1 << 18
/** Instances of a shared store trusted as peers at most (the store is not the configuration: it is bounded here). */
export const MAX_REGISTERED_PEERS = 1024

const DISTRIBUTION_CODE = { '5-tuple': DIST_5_TUPLE, '3-tuple': DIST_3_TUPLE, '2-tuple': DIST_2_TUPLE } as const

export function protocolNumber(protocol: Protocol): number {
  return protocol === 'tcp' ? PROTO_TCP : PROTO_UDP
}

/** The backend name (`<vsid>/<address>:<port>`) that seeds its Maglev permutation. */
export function backendName(vsid: number, address: string, port: number): string {
  return `${vsid}/${address}:${port}`
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

/** Maglev tables kept after a compile replaced them (at M = 65537, 256 KiB each). */
const RETIRED_TABLES = 32

/** Where a replaced table is found again: its pool key and a hash of its members and weights (equality is checked). */
function retiredKey(key: string, size: number, ids: readonly number[], weights: readonly number[]): string {
  let h = Math.imul(size, 0x9e3779b1)
  for (let i = 0; i < ids.length; i++) {
    h = Math.imul(h ^ ids[i]!, 0x85ebca6b)
    h = Math.imul(h ^ weights[i]!, 0xc2b2ae35)
    h ^= h >>> 15
  }
  return `${key}|${ids.length}|${h >>> 0}`
}

/** A VIP as one compile compiled it: its parsed address, and per rule its id, `pool|backendPort` and compiled rule. */
interface CompiledVip {
  address: number
  rules: { id: number; poolKey: string; compiled: CompiledRule }[]
}

/** The flowless dnat reply index of a compile and the rules it was built from. */
interface DnatReplyTable {
  sources: DnatReplySource[]
  refuseAmbiguous: boolean
  table: KeyTable
}

/** Whether two compiles' public dnat rules give the same index (the members' addresses and ports come with their ids). */
function sameDnatSources(a: readonly DnatReplySource[], b: readonly DnatReplySource[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.rule.id !== y.rule.id || x.rule.protocol !== y.rule.protocol || x.rule.vipAddress !== y.rule.vipAddress || x.rule.frontendPort !== y.rule.frontendPort) return false
    if (x.backendIds !== y.backendIds && !sameItems(x.backendIds, y.backendIds)) return false
  }
  return true
}

/** Where a rule is in the document (vips[v].rules[r]), its id, and its index in the dnat reply sources (-1: none). */
interface RulePosition {
  v: number
  r: number
  id: number
  dnat: number
}

/** A compile's VIP rules and what they were compiled from. */
interface CompiledRules {
  vips: readonly Vip[]
  policy: object
  maglevSize: number
  ruleIdCount: number
  poolNames: string[]
  rules: KeyTable
  rulesByAddress: KeyTable
  publicVips: KeyTable
  ruleList: (CompiledRule | null)[]
  ruleSince: Int32Array
  dnatReplySources: DnatReplySource[]
  useAll: ReadonlySet<string>
  /** By `<pool>|<backend port>`: the rules balancing over that pool. */
  rulesOfPool: Map<string, RulePosition[]>
}

/** Whether `pools` has pools of `names` at the same places. */
function samePoolNames(names: readonly string[], pools: readonly { name: string }[]): boolean {
  if (names.length !== pools.length) return false
  for (let i = 0; i < names.length; i++) if (names[i] !== pools[i]!.name) return false
  return true
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
  /**
   * Tables the last compiles replaced, most recently replaced first: a backend drained and then
   * made active again (or any change undone) finds the table it had before without a Maglev build.
   */
  private readonly retiredTables = new LRUCache<string, CachedTable>({ max: RETIRED_TABLES })
  /** Runs the compile's Maglev builds, on this thread and a helper thread. */
  readonly tables = new TableBuilder()
  /** The last compile's lookup-record and domain tables, and the lists they were built from. */
  private policyCache: PolicyTables | undefined
  private neighborCache: NeighborTables | undefined
  /** The last compile's pools behind each backend port, by `pool|port` (pool-members.ts). */
  private poolCache = new Map<string, CompiledPool>()
  /** The last compile's VIPs (by object): parsed address, rule ids and compiled rules. */
  private vipCache = new Map<Vip, CompiledVip>()
  /** The last compile's backend arrays and what they were written from. */
  private written: WrittenBackends | undefined
  private dnatCache: DnatReplyTable | undefined
  /** The last compile's rules and what they were compiled from (a compile with the same VIP list starts from them). */
  private lastRules: CompiledRules | undefined
  /** Pools (behind a backend port) the last compile built, and those it took from the compile before. */
  lastBuild = { poolsBuilt: 0, poolsKept: 0 }
  /** Pool members seen before, by `pool|vsid|address|port`: their Maglev name and id key. */
  private readonly members = new Map<string, { name: string; key: string; address: number }>()
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

  /** A pool member behind a backend port: its name, health key, parsed address and id (stable across compiles). */
  private member(pool: string, vsid: number, address: string, port: number): PoolMember {
    const key = `${pool}|${vsid}|${address}|${port}`
    let member = this.members.get(key)
    if (member === undefined) {
      const name = backendName(vsid, address, port)
      member = { name, key: `${pool}|${name}`, address: this.address(address) }
      if (this.members.size >= MEMBER_CACHE_LIMIT) this.members.clear()
      this.members.set(key, member)
    }
    return { name: member.name, healthKey: member.key, address: member.address, id: this.backendIds.id(member.key) }
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
      this.tables.finish()
      this.ruleIds.commit()
      this.backendIds.commit()
      return snapshot
    } catch (err) {
      // Tables already scheduled may be in caches a later compile reuses: complete them.
      this.tables.finish()
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
    // The validator's index of these records is this table already (in shared memory).
    const checked = Object.isFrozen(records) ? lookupTableOf(records) : undefined
    const lookup = checked ?? (kept === undefined ? createKeyTable(records.length) : grownKeyTable(kept.lookup, records.length))
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
      if (r.macAddress === undefined || !parseMacInto(r.macAddress, lookupMac, i * 6)) throw badMac(r.macAddress, `lookupRecords[${i}].macAddress`)
      lookupHost[i] = host
      if (checked === undefined) keyTableSet(lookup, r.virtualSubnetId, ca, 0, i)
    }
    // In shared memory: every snapshot posted to the packet workers until the records change
    // again shares these tables with them instead of copying them into each (tens of MB at 1M records).
    const tables: PolicyTables = {
      lookupRecords: records,
      customerRoutes: config.customerRoutes,
      domains,
      domainOf,
      lookup: checked ?? { keys: sharedCopyOf(lookup.keys), values: sharedCopyOf(lookup.values), mask: lookup.mask, size: lookup.size },
      lookupHost: sharedCopyOf(lookupHost),
      lookupMac: sharedCopyOf(lookupMac),
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

  /** The flowless dnat reply index (dnat-reply-index.ts): the last compile's while its public dnat rules and their members are the same. */
  private dnatReplyTable(sources: DnatReplySource[], backends: BackendArrays, refuseAmbiguous: boolean): DnatReplyTable {
    const cached = this.dnatCache
    if (cached !== undefined && cached.refuseAmbiguous === refuseAmbiguous && sameDnatSources(cached.sources, sources)) return { sources, refuseAmbiguous, table: cached.table }
    const backendOf = (id: number) => ({ vsid: backends.vsid[id]!, address: backends.address[id]! >>> 0, port: backends.port[id]!, name: backends.name[id]! })
    return { sources, refuseAmbiguous, table: buildDnatReplyIndex(sources, backendOf, refuseAmbiguous) }
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
    // A pool the last compile compiled from the same inputs is taken as it was (pool-members.ts).
    const poolIds = new Map(config.pools.map((p, i) => [p.name, i]))
    const compiledPools = new Map<string, CompiledPool>()
    const down = health?.down
    const memberSource: MemberSource = {
      member: (pool, vsid, address, port) => this.member(pool, vsid, address, port),
      domainOf,
    }
    let poolsBuilt = 0
    const backendsOf = (poolName: string, port: number, v: number, r: number): CompiledPool => {
      const key = `${poolName}|${port}`
      const known = compiledPools.get(key)
      if (known !== undefined) return known
      const poolIndex = poolIds.get(poolName)
      if (poolIndex === undefined) throw new NvlbError(ErrorCodes.UNKNOWN_POOL, `pool '${poolName}' does not exist`, `vips[${v}].rules[${r}].pool`)
      const pool = config.pools[poolIndex]!
      let compiled = this.poolCache.get(key)
      if (compiled !== undefined && reusable(compiled, pool, policy, maglevSize, down)) {
        for (const id of compiled.members.ids) this.backendIds.keep(id)
      } else {
        compiled = compilePool(pool, poolIndex, port, policy, lookup, maglevSize, down, memberSource)
        poolsBuilt++
      }
      compiledPools.set(key, compiled)
      return compiled
    }
    /** `<pool>|<port>` of the pools a whenAllDown 'useAll' rule balances over as if all were up. */
    const useAll = new Set<string>()

    // VIP rules.
    const newCache = new Map<string, CachedTable>()
    /** The Maglev table of a pool behind one backend port: reused when its members and weights are unchanged. */
    const tableOf = (key: string, members: PoolMembers): Int32Array => {
      let table = members.table
      if (table === undefined) {
        const same = (cached: CachedTable | undefined): cached is CachedTable =>
          cached !== undefined &&
          cached.size === maglevSize &&
          sameItems(cached.ids, members.ids) &&
          sameItems(cached.names, members.names) &&
          sameItems(cached.weights, members.weights)
        const cached = this.tableCache.get(key)
        const found = same(cached) ? cached : this.retiredTables.get(retiredKey(key, maglevSize, members.ids, members.weights))
        if (same(found)) {
          table = found.table
        } else {
          const backends = members.names.map((name, i) => ({ name, weight: members.weights[i]! }))
          table = sharedArray(Int32Array, maglevSize)
          // Filled by the end of the compile (this.tables.finish()), on this thread or the helper's.
          this.tables.schedule(planMaglev(backends, maglevSize, members.ids, true), table)
        }
        members.table = table
      }
      if (!newCache.has(key)) newCache.set(key, { size: maglevSize, ids: members.ids, names: members.names, weights: members.weights, table })
      return table
    }
    /**
     * A rule's pool members (as if all were up for whenAllDown 'useAll' when health left none),
     * its Maglev table and compiled rule: `old`, the last compile's, while nothing it holds moved
     * (rules are plain data: posted, never written).
     */
    const compileRule = (vip: Vip, v: number, r: number, vipAddress: number, domain: number, natMode: number, id: number, poolKey: string, old: CompiledRule | undefined) => {
      const rule = vip.rules[r]!
      const backendPort = rule.backendPort ?? rule.frontendPort
      let members = backendsOf(rule.pool, backendPort, v, r).members
      let tableKey = poolKey
      if (members.allDown && rule.whenAllDown === 'useAll') {
        // Every backend is down: balance over all of them as if they were up (their flows are kept).
        members.useAll ??= { ids: members.ids, names: members.names, weights: members.adminWeights, adminWeights: members.adminWeights, allDown: false }
        members = members.useAll
        tableKey += '|useAll'
        useAll.add(poolKey)
      }
      const table = tableOf(tableKey, members)
      const poolId = poolIds.get(rule.pool)!
      const compiled: CompiledRule =
        old !== undefined && old.table === table && old.poolId === poolId && old.domain === domain
          ? old
          : {
              id,
              vipName: vip.name,
              vipAddress: vipAddress | 0,
              vipAddressText: vip.address,
              virtualSubnetId: vip.virtualSubnetId,
              domain,
              protocol: protocolNumber(rule.protocol),
              frontendPort: rule.frontendPort,
              backendPort,
              natMode,
              distribution: DISTRIBUTION_CODE[rule.distribution ?? '5-tuple'],
              idleTimeoutSeconds: rule.idleTimeoutSeconds ?? 240,
              pool: rule.pool,
              poolId,
              table,
            }
      const dnat: DnatReplySource | undefined = vip.virtualSubnetId === 0 && natMode === NAT_DNAT ? { rule: compiled, field: `vips[${v}].rules[${r}]`, backendIds: members.ids } : undefined
      return { compiled, dnat }
    }

    const last = this.lastRules
    let rules: KeyTable
    let rulesByAddress: KeyTable
    let publicVips: KeyTable
    let ruleList: (CompiledRule | null)[]
    let ruleSince: Int32Array
    /** Public dnat rules: their replies can be translated without a flow (dnat-reply-index.ts). */
    let dnatReplySources: DnatReplySource[]
    let vipCache: Map<Vip, CompiledVip>
    let rulesOfPool: Map<string, RulePosition[]>
    if (last !== undefined && last.vips === config.vips && Object.isFrozen(config.vips) && last.policy === policy && last.maglevSize === maglevSize && last.ruleIdCount === this.ruleIds.count && samePoolNames(last.poolNames, config.pools)) {
      // The same VIP list (frozen: the same rules), pools in the same places and the same lookup and domain
      // tables: only the rules of pools compiled again can be another rule. Their keys, ids and the rule
      // tables are the last compile's; the ten thousand other rules are not looked at.
      rules = last.rules
      rulesByAddress = last.rulesByAddress
      publicVips = last.publicVips
      ruleSince = last.ruleSince
      vipCache = this.vipCache
      rulesOfPool = last.rulesOfPool
      ruleList = last.ruleList.slice()
      dnatReplySources = last.dnatReplySources.slice()
      for (const key of last.useAll) useAll.add(key)
      for (const [key, table] of this.tableCache) newCache.set(key, table)
      for (const [poolKey, positions] of rulesOfPool) {
        const first = positions[0]!
        const vip = config.vips[first.v]!
        const rule = vip.rules[first.r]!
        const compiled = backendsOf(rule.pool, rule.backendPort ?? rule.frontendPort, first.v, first.r)
        if (compiled === this.poolCache.get(poolKey)) {
          for (const position of positions) this.ruleIds.keep(position.id)
          continue
        }
        useAll.delete(poolKey)
        newCache.delete(poolKey)
        newCache.delete(`${poolKey}|useAll`)
        for (const position of positions) {
          const { v, r, id } = position
          this.ruleIds.keep(id)
          const pvip = config.vips[v]!
          const before = ruleList[id]!
          const { compiled: next, dnat } = compileRule(pvip, v, r, before.vipAddress >>> 0, before.domain, before.natMode, id, poolKey, before)
          ruleList[id] = next
          if (position.dnat >= 0) dnatReplySources[position.dnat] = dnat!
        }
      }
    } else {
      const ruleCount = config.vips.reduce((n, v) => n + v.rules.length, 0)
      rules = createKeyTable(ruleCount, true)
      rulesByAddress = createKeyTable(ruleCount, true)
      publicVips = createKeyTable(config.vips.length, true)
      ruleList = []
      dnatReplySources = []
      vipCache = new Map<Vip, CompiledVip>()
      rulesOfPool = new Map()
      const lastList = last?.ruleList
      config.vips.forEach((vip, v) => {
        // A VIP the last compile had (the same frozen object) keeps its parsed address and rule ids without lookups.
        const known = Object.isFrozen(vip) ? this.vipCache.get(vip) : undefined
        let vipAddress: number
        if (known !== undefined) vipAddress = known.address
        else {
          vipAddress = this.address(vip.address)
          if (vipAddress < 0) throw badAddress(vip.address, `vips[${v}].address`)
        }
        const compiledVip: CompiledVip = { address: vipAddress, rules: [] }
        vipCache.set(vip, compiledVip)
        const vsid = vip.virtualSubnetId
        if (vsid === 0) keyTableSet(publicVips, vipAddress, 0, 0, 1)
        const natMode = (vip.natMode ?? (vsid === 0 ? 'dnat' : 'fullnat')) === 'fullnat' ? NAT_FULLNAT : NAT_DNAT
        const domain = domainOf(vsid)
        for (let r = 0; r < vip.rules.length; r++) {
          const rule = vip.rules[r]!
          const protocol = protocolNumber(rule.protocol)
          const backendPort = rule.backendPort ?? rule.frontendPort
          const before = known?.rules[r]
          let id: number
          if (before !== undefined) {
            id = before.id
            this.ruleIds.keep(id)
          } else id = this.ruleIds.id(`${vsid}/${vip.address}/${protocol}/${rule.frontendPort}`)
          if (keyTableGet(rules, vipAddress, vsid, (protocol << 16) | rule.frontendPort) >= 0) {
            throw new NvlbError(ErrorCodes.DUPLICATE_VIP_RULE, `(VSID ${vsid}, ${vip.address}, ${rule.protocol}, ${rule.frontendPort}) is defined twice`, `vips[${v}].rules[${r}]`)
          }
          const poolKey = before?.poolKey ?? `${rule.pool}|${backendPort}`
          // The last snapshot's rule of this id (a compile that skipped the VIPs may have replaced the one the VIP cache holds).
          const old = before === undefined ? undefined : ((lastList?.[id] ?? undefined) as CompiledRule | undefined) ?? before.compiled
          const { compiled, dnat } = compileRule(vip, v, r, vipAddress, domain, natMode, id, poolKey, old)
          keyTableSet(rules, vipAddress, vsid, (protocol << 16) | rule.frontendPort, id)
          const previous = keyTableGet(rulesByAddress, vipAddress, vsid, protocol)
          keyTableSet(rulesByAddress, vipAddress, vsid, protocol, previous === KEY_TABLE_MISSING ? id : RULE_SEVERAL)
          ruleList[id] = compiled
          compiledVip.rules.push({ id, poolKey, compiled })
          let positions = rulesOfPool.get(poolKey)
          if (positions === undefined) rulesOfPool.set(poolKey, (positions = []))
          positions.push({ v, r, id, dnat: dnat === undefined ? -1 : dnatReplySources.length })
          if (dnat !== undefined) dnatReplySources.push(dnat)
        }
      })
      ruleSince = sharedArray(Int32Array, this.ruleIds.count)
      for (let i = 0; i < this.ruleIds.count; i++) {
        if (ruleList[i] === undefined) ruleList[i] = null
        else ruleSince[i] = this.ruleIds.since(i)
      }
    }

    // A backend's name needs a port, which only a rule gives: pools no rule uses have no entries.
    const written = writeBackends(
      this.written,
      this.backendIds.count,
      { pools: compiledPools, poolIndex: (key) => poolIds.get(compiledPools.get(key)!.pool.name)!, useAll },
      lookupHost,
      lookupMac,
      (id) => this.backendIds.since(id),
    )
    const backends = written.arrays
    const dnat = this.dnatReplyTable(dnatReplySources, backends, config.node.sharedProviderAddress !== undefined)

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
    const peerProviders = this.peerTable(node.peerProviderAddresses, providerAddress)
    // Nothing below throws: what this compile built is what the next one starts from.
    for (const [key, old] of this.tableCache) {
      if (newCache.get(key)?.table !== old.table) this.retiredTables.set(retiredKey(key, old.size, old.ids, old.weights), old)
    }
    this.tableCache = newCache
    this.poolCache = compiledPools
    this.vipCache = vipCache
    this.lastRules = {
      vips: config.vips,
      policy,
      maglevSize,
      ruleIdCount: this.ruleIds.count,
      poolNames: config.pools.map((p) => p.name),
      rules,
      rulesByAddress,
      publicVips,
      ruleList,
      ruleSince,
      dnatReplySources,
      useAll,
      rulesOfPool,
    }
    this.written = written
    this.dnatCache = dnat
    this.lastBuild = { poolsBuilt, poolsKept: compiledPools.size - poolsBuilt }
    return {
      generation,
      epoch,
      ruleSince,
      backendSince: backends.since,
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
      dnatReplies: dnat.table,
      ruleList,
      publicVips,
      backendCount: backends.count,
      backendAddress: backends.address,
      backendVsid: backends.vsid,
      backendPort: backends.port,
      backendState: backends.state,
      backendDown: backends.down,
      backendDomain: backends.domain,
      backendHost: backends.host,
      backendMac: backends.mac,
      backendName: backends.name,
      backendPool: backends.pool,
      backendPoolId: backends.poolId,
      lookup,
      lookupHost,
      lookupMac,
      domains,
      neighbors,
      neighborMac,
      peerProviders,
    }
  }
}

