import type { CompiledRule, Snapshot } from '../dataplane/snapshot'
import { sharedCopyOf } from '../dataplane/shared-array'

type TypedArray = Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array

/**
 * Snapshots for the packet workers with their tables in SharedArrayBuffers.
 * postMessage copies the bytes of every ArrayBuffer it is given, once per
 * worker (a Maglev table alone is 256 KiB, a cloud's lookup records tens of
 * MB), but shares a SharedArrayBuffer. So each typed array of a snapshot is
 * copied once into shared memory, and a table the compiler kept from the last
 * compile (the same array) is not copied again: a change costs what it
 * changes. Snapshots are never written after they are published (the compiler
 * builds new tables, the engines only read them); that is what makes sharing
 * them, and remembering them by identity, safe.
 */
export class SnapshotSharer {
  private readonly shared = new WeakMap<TypedArray, TypedArray>()
  /** Bytes copied into shared memory by the last share() (tables already shared cost nothing). */
  lastCopiedBytes = 0

  share(snapshot: Snapshot): Snapshot {
    this.lastCopiedBytes = 0
    return this.walk(snapshot) as Snapshot
  }

  /** `value` with every typed array in it in shared memory (the arrays shared before are not copied again). */
  walkValue(value: unknown): unknown {
    return this.walk(value)
  }

  private walk(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value
    if (ArrayBuffer.isView(value)) return value instanceof DataView ? value : this.sharedCopy(value as TypedArray)
    if (Array.isArray(value)) return value.map((item) => this.walk(item))
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = this.walk(item)
    return out
  }

  private sharedCopy(array: TypedArray): TypedArray {
    if (array.buffer instanceof SharedArrayBuffer) return array
    const known = this.shared.get(array)
    if (known !== undefined) return known
    const copy = sharedCopyOf(array)
    this.shared.set(array, copy)
    this.lastCopiedBytes += array.byteLength
    return copy
  }
}

/**
 * What a packet worker is sent for every snapshot after its first: the snapshot
 * of epoch `base` (the one sent before) with the fields that differ. Top-level
 * fields are compared by identity (the compiler keeps what a change leaves
 * alone), the rule list and the backend names by item: a backend change sends
 * one pool's rules and tables, not the document's ten thousand rules.
 */
export interface SnapshotDelta {
  base: number
  /** Fields other than ruleList, backendName and backendPool that are another value (tables in shared memory). */
  fields: Partial<Snapshot>
  ruleCount: number
  /** Rule ids whose rule is another object, and their rules (same order). */
  ruleIds: number[]
  rules: (CompiledRule | null)[]
  backendNameCount: number
  /** Backend ids whose name or pool name differ, and those names (same order). */
  backendIds: number[]
  backendNames: string[]
  backendPools: string[]
  /** Whether a rule was added or removed or moved its VIP address or frontend port (the workers' steering keys). */
  frontendsChanged: boolean
}

const ITEMWISE = new Set<string>(['ruleList', 'backendName', 'backendPool'])

/**
 * The snapshots published to the packet workers: the first whole (share()), each
 * later one as a SnapshotDelta against the one before. `full()` is the last one
 * whole, for a worker started (or restarted) now.
 */
export class SnapshotPublisher {
  readonly sharer = new SnapshotSharer()
  private source: Snapshot
  private whole: Snapshot | undefined

  constructor(first: Snapshot) {
    this.source = first
  }

  /** The last snapshot published, with its tables in shared memory. */
  full(): Snapshot {
    this.whole ??= this.sharer.share(this.source)
    return this.whole
  }

  /** Publishes `next`: what a worker running the last snapshot needs to run it. */
  delta(next: Snapshot): SnapshotDelta {
    const previous = this.source
    this.sharer.lastCopiedBytes = 0
    const fields: Record<string, unknown> = {}
    const before = previous as unknown as Record<string, unknown>
    for (const [key, value] of Object.entries(next)) {
      if (ITEMWISE.has(key) || value === before[key]) continue
      fields[key] = this.sharer.walkValue(value)
    }
    const ruleIds: number[] = []
    const rules: (CompiledRule | null)[] = []
    let frontendsChanged = false
    const oldRules = previous.ruleList
    const newRules = next.ruleList
    for (let id = 0; id < Math.max(oldRules.length, newRules.length); id++) {
      const was = oldRules[id] ?? null
      const rule = newRules[id] ?? null
      if (was === rule) continue
      if (id < newRules.length) {
        ruleIds.push(id)
        rules.push(rule === null ? null : (this.sharer.walkValue(rule) as CompiledRule))
      }
      if (was === null || rule === null || was.vipAddress !== rule.vipAddress || was.frontendPort !== rule.frontendPort) frontendsChanged = true
    }
    const backendIds: number[] = []
    const backendNames: string[] = []
    const backendPools: string[] = []
    const oldNames = previous.backendName
    const oldPools = previous.backendPool
    const names = next.backendName
    const pools = next.backendPool
    if (names !== oldNames || pools !== oldPools) {
      for (let id = 0; id < names.length; id++) {
        if (id < oldNames.length && names[id] === oldNames[id] && pools[id] === oldPools[id]) continue
        backendIds.push(id)
        backendNames.push(names[id]!)
        backendPools.push(pools[id]!)
      }
    }
    this.source = next
    this.whole = undefined
    return {
      base: previous.epoch,
      fields: fields as Partial<Snapshot>,
      ruleCount: newRules.length,
      ruleIds,
      rules,
      backendNameCount: names.length,
      backendIds,
      backendNames,
      backendPools,
      frontendsChanged,
    }
  }
}

/** A list of `count` items: `list`'s, cut or padded with `fill`, with `values` at `ids`. */
function patched<T>(list: readonly T[], count: number, fill: T, ids: readonly number[], values: readonly T[]): T[] {
  const out = list.length === count ? list.slice() : list.slice(0, count)
  for (let i = out.length; i < count; i++) out.push(fill)
  for (let i = 0; i < ids.length; i++) out[ids[i]!] = values[i]!
  return out
}

/** The snapshot `delta` describes, from `current` (the snapshot of epoch delta.base; neither is changed). */
export function applySnapshotDelta(current: Snapshot, delta: SnapshotDelta): Snapshot {
  if (current.epoch !== delta.base) throw new Error(`a snapshot delta from epoch ${delta.base} cannot apply to epoch ${current.epoch}`)
  return {
    ...current,
    ...delta.fields,
    ruleList: delta.ruleIds.length === 0 && delta.ruleCount === current.ruleList.length ? current.ruleList : patched(current.ruleList, delta.ruleCount, null, delta.ruleIds, delta.rules),
    backendName: delta.backendIds.length === 0 && delta.backendNameCount === current.backendName.length ? current.backendName : patched(current.backendName, delta.backendNameCount, '', delta.backendIds, delta.backendNames),
    backendPool: delta.backendIds.length === 0 && delta.backendNameCount === current.backendPool.length ? current.backendPool : patched(current.backendPool, delta.backendNameCount, '', delta.backendIds, delta.backendPools),
  }
}
