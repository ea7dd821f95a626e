import type { Snapshot } from '../dataplane/snapshot'

type TypedArray = Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array
type TypedArrayConstructor = new (buffer: SharedArrayBuffer) => TypedArray

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
    const Ctor = array.constructor as TypedArrayConstructor
    const copy = new Ctor(new SharedArrayBuffer(array.byteLength))
    copy.set(array as never)
    this.shared.set(array, copy)
    this.lastCopiedBytes += array.byteLength
    return copy
  }
}
