/**
 * A pool's members as the compiler compiles them, kept between compiles, and the snapshot's
 * backend arrays built from them.
 *
 * A cloud has thousands of pools; a change touches one. A pool's members behind one backend
 * port (a `CompiledPool`) are reused by the next compile while the document has the same pool
 * (the same frozen object: the control plane keeps the items an edit left alone), the same
 * lookup-record and domain tables (which give each member its record and routing domain), the
 * same Maglev size and the same health verdicts for its members. The backend arrays of a
 * snapshot are then the previous snapshot's, copied, with only the members of pools built
 * again (and the ids of members that left) written: a backend change costs one pool, not the
 * cloud. A snapshot's arrays are never written after the compile, so copying them is safe.
 */
import type { Pool } from './config-types'
import { ErrorCodes, NvlbError } from '../errors'
import { keyTableGet, type KeyTable } from '../dataplane/key-table'
import { sharedArray } from '../dataplane/shared-array'
import { BACKEND_ABSENT, BACKEND_ACTIVE, BACKEND_DISABLED, BACKEND_DRAINING } from '../dataplane/snapshot'

const STATE_CODE = { active: BACKEND_ACTIVE, draining: BACKEND_DRAINING, disabled: BACKEND_DISABLED } as const

/** A pool's members behind one backend port, in pool order; weight 0 for those not active. */
export interface PoolMembers {
  ids: number[]
  names: string[]
  weights: number[]
  /** Its Maglev table (once a rule needed it; the Maglev size is the CompiledPool's). */
  table?: Int32Array
  /** Weights as if no backend were down (whenAllDown 'useAll'), and whether health left no backend. */
  adminWeights: number[]
  allDown: boolean
  useAll?: PoolMembers
}

/** One pool behind one backend port, compiled: what its members are and what it was compiled from. */
export interface CompiledPool {
  pool: Pool
  /** The lookup-record and domain tables the members' records and domains come from (compared by identity). */
  policy: object
  maglevSize: number
  members: PoolMembers
  port: number
  /** Per member. */
  address: number[]
  vsid: number[]
  state: number[]
  domain: number[]
  /** Index of its lookup record. */
  record: number[]
  /** Health took it down. */
  down: boolean[]
  anyDown: boolean
  /** `<pool>|<backend name>` per member: how health names it. */
  healthKeys: string[]
}

/** A pool member behind one backend port, as MemberSource names it. */
export interface PoolMember {
  /** Its Maglev name. */
  name: string
  /** `<pool>|<name>`: how health names it. */
  healthKey: string
  /** Its CA, parsed (-1: not an IPv4 address). */
  address: number
  /** Its backend id (stable across compiles). */
  id: number
}

export interface MemberSource {
  member(pool: string, vsid: number, address: string, port: number): PoolMember
  domainOf(vsid: number): number
}

/** Whether `cached` is what compiling `pool` behind its port again would give. */
export function reusable(cached: CompiledPool, pool: Pool, policy: object, maglevSize: number, down: ReadonlySet<string> | undefined): boolean {
  if (cached.pool !== pool || !Object.isFrozen(pool) || cached.policy !== policy || cached.maglevSize !== maglevSize) return false
  if (down === undefined || down.size === 0) return !cached.anyDown
  const keys = cached.healthKeys
  for (let i = 0; i < keys.length; i++) if (down.has(keys[i]!) !== cached.down[i]) return false
  return true
}

/** Compiles `pool` (document index `poolIndex`) behind backend `port`. */
export function compilePool(
  pool: Pool,
  poolIndex: number,
  port: number,
  policy: object,
  lookup: KeyTable,
  maglevSize: number,
  down: ReadonlySet<string> | undefined,
  source: MemberSource,
): CompiledPool {
  const n = pool.backends.length
  const members: PoolMembers = { ids: [], names: [], weights: [], adminWeights: [], allDown: false }
  const out: CompiledPool = {
    pool,
    policy,
    maglevSize,
    members,
    port,
    address: new Array<number>(n),
    vsid: new Array<number>(n),
    state: new Array<number>(n),
    domain: new Array<number>(n),
    record: new Array<number>(n),
    down: new Array<boolean>(n),
    anyDown: false,
    healthKeys: new Array<string>(n),
  }
  for (let i = 0; i < n; i++) {
    const b = pool.backends[i]!
    const { name, healthKey, address, id } = source.member(pool.name, b.virtualSubnetId, b.address, port)
    if (address < 0) throw new NvlbError(ErrorCodes.BAD_ADDRESS, `'${String(b.address)}' is not an IPv4 address`, `pools[${poolIndex}].backends[${i}].address`)
    const record = keyTableGet(lookup, b.virtualSubnetId, address, 0)
    if (record < 0) {
      throw new NvlbError(ErrorCodes.NO_LOOKUP_RECORD, `no lookup record for VSID ${b.virtualSubnetId} CA ${b.address}`, `pools[${poolIndex}].backends[${i}]`)
    }
    const state = STATE_CODE[b.state ?? 'active']
    const isDown = down !== undefined && down.has(healthKey)
    out.address[i] = address
    out.vsid[i] = b.virtualSubnetId
    out.state[i] = state
    out.domain[i] = source.domainOf(b.virtualSubnetId)
    out.record[i] = record
    out.down[i] = isDown
    out.healthKeys[i] = healthKey
    if (isDown) out.anyDown = true
    members.ids.push(id)
    members.names.push(name)
    // Only active backends take new flows; draining and disabled ones get no slots.
    const weight = state === BACKEND_ACTIVE ? (b.weight ?? 1) : 0
    members.adminWeights.push(weight)
    members.weights.push(isDown ? 0 : weight)
  }
  members.allDown = members.adminWeights.some((w) => w > 0) && members.weights.every((w) => w === 0)
  return out
}

/** The snapshot's arrays indexed by backend id. */
export interface BackendArrays {
  count: number
  address: Int32Array
  vsid: Uint32Array
  port: Uint16Array
  state: Uint8Array
  down: Uint8Array
  domain: Int32Array
  host: Int32Array
  /** 6 bytes per backend. */
  mac: Uint8Array
  name: string[]
  pool: string[]
  since: Int32Array
  poolId: Int32Array
}

/** Backend arrays as one compile wrote them: from which pools, at which document index, which of them balanced as if all were up. */
export interface WrittenBackends {
  arrays: BackendArrays
  pools: ReadonlyMap<string, CompiledPool>
  poolIndex: ReadonlyMap<string, number>
  useAll: ReadonlySet<string>
}

/** What one compile has: its pools by `<pool>|<port>`, each pool's document index, the pools a 'useAll' rule balances as if all were up. */
export interface CompiledPools {
  pools: ReadonlyMap<string, CompiledPool>
  poolIndex(key: string): number
  useAll: ReadonlySet<string>
}

function emptyArrays(count: number): BackendArrays {
  return {
    count,
    address: sharedArray(Int32Array, count),
    vsid: sharedArray(Uint32Array, count),
    port: sharedArray(Uint16Array, count),
    state: sharedArray(Uint8Array, count).fill(BACKEND_ABSENT),
    down: sharedArray(Uint8Array, count),
    domain: sharedArray(Int32Array, count).fill(-1),
    host: sharedArray(Int32Array, count),
    mac: sharedArray(Uint8Array, count * 6),
    name: new Array<string>(count).fill(''),
    pool: new Array<string>(count).fill(''),
    since: sharedArray(Int32Array, count),
    poolId: sharedArray(Int32Array, count).fill(-1),
  }
}

/** A copy of `previous` at `count` ids (never fewer: ids are only ever added); ids beyond it absent. */
function grownCopy(previous: BackendArrays, count: number): BackendArrays {
  const out = emptyArrays(count)
  out.address.set(previous.address)
  out.vsid.set(previous.vsid)
  out.port.set(previous.port)
  out.state.set(previous.state)
  out.down.set(previous.down)
  out.domain.set(previous.domain)
  out.host.set(previous.host)
  out.mac.set(previous.mac)
  for (let i = 0; i < previous.count; i++) {
    out.name[i] = previous.name[i]!
    out.pool[i] = previous.pool[i]!
  }
  out.since.set(previous.since)
  out.poolId.set(previous.poolId)
  return out
}

function clear(a: BackendArrays, id: number): void {
  a.address[id] = 0
  a.vsid[id] = 0
  a.port[id] = 0
  a.state[id] = BACKEND_ABSENT
  a.down[id] = 0
  a.domain[id] = -1
  a.host[id] = 0
  a.mac.fill(0, id * 6, id * 6 + 6)
  a.name[id] = ''
  a.pool[id] = ''
  a.since[id] = 0
  a.poolId[id] = -1
}

/**
 * The backend arrays of a compile with `count` backend ids: `previous`'s (the last compile's)
 * with the pools built again written, the ids of pools and members gone cleared, and document
 * index and down flags set where they moved; everything afresh without `previous`.
 * `lookupHost`/`lookupMac` are this compile's record tables; `sinceOf(id)` the epoch an id got its key.
 */
export function writeBackends(
  previous: WrittenBackends | undefined,
  count: number,
  compiled: CompiledPools,
  lookupHost: Int32Array,
  lookupMac: Uint8Array,
  sinceOf: (id: number) => number,
): WrittenBackends {
  const a = previous === undefined ? emptyArrays(count) : grownCopy(previous.arrays, count)
  if (previous !== undefined) {
    for (const [key, old] of previous.pools) if (compiled.pools.get(key) !== old) for (const id of old.members.ids) clear(a, id)
  }
  const poolIndex = new Map<string, number>()
  for (const [key, p] of compiled.pools) {
    const index = compiled.poolIndex(key)
    poolIndex.set(key, index)
    const upAll = compiled.useAll.has(key)
    const ids = p.members.ids
    if (previous !== undefined && previous.pools.get(key) === p) {
      // Written by the last compile: only the document index and the down flags may have moved.
      if (previous.poolIndex.get(key) !== index) for (const id of ids) a.poolId[id] = index
      if (previous.useAll.has(key) !== upAll) for (let i = 0; i < ids.length; i++) a.down[ids[i]!] = p.down[i]! && !upAll ? 1 : 0
      continue
    }
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      const record = p.record[i]!
      a.address[id] = p.address[i]!
      a.vsid[id] = p.vsid[i]!
      a.port[id] = p.port
      a.state[id] = p.state[i]!
      a.down[id] = p.down[i]! && !upAll ? 1 : 0
      a.domain[id] = p.domain[i]!
      a.host[id] = lookupHost[record]!
      for (let k = 0; k < 6; k++) a.mac[id * 6 + k] = lookupMac[record * 6 + k]!
      a.name[id] = p.members.names[i]!
      a.pool[id] = p.pool.name
      a.since[id] = sinceOf(id)
      a.poolId[id] = index
    }
  }
  return { arrays: a, pools: compiled.pools, poolIndex, useAll: compiled.useAll }
}
