/**
 * An open-addressing hash table from three 32-bit words to a non-negative
 * int32, kept in typed arrays so a compiled snapshot can be structured-cloned
 * to worker threads and looked up on the packet path without allocating.
 * Functions, not a class: a cloned table is plain data.
 */
import { sharedArray } from './shared-array'

export interface KeyTable {
  /** 3 words per slot. */
  keys: Int32Array
  /** -1 = empty slot. */
  values: Int32Array
  mask: number
  size: number
}

export const KEY_TABLE_MISSING = -1

export function mixWords3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f)
  return h ^ (h >>> 15)
}

/**
 * A table with room for `expected` keys at a load factor of at most one half; with `shared`,
 * in SharedArrayBuffers (posted to worker threads by reference).
 */
export function createKeyTable(expected: number, shared = false): KeyTable {
  let capacity = 8
  while (capacity < expected * 2) capacity *= 2
  const words = (n: number) => (shared ? sharedArray(Int32Array, n) : new Int32Array(n))
  const values = words(capacity).fill(-1)
  return { keys: words(capacity * 3), values, mask: capacity - 1, size: 0 }
}

export function keyTableGet(t: KeyTable, a: number, b: number, c: number): number {
  const keys = t.keys
  const values = t.values
  const mask = t.mask
  let slot = mixWords3(a, b, c) & mask
  for (;;) {
    const v = values[slot]!
    if (v < 0) return KEY_TABLE_MISSING
    const k = slot * 3
    if (keys[k] === (a | 0) && keys[k + 1] === (b | 0) && keys[k + 2] === (c | 0)) return v
    slot = (slot + 1) & mask
  }
}

/**
 * Insert or overwrite. Returns false when the table is full (a fixed-capacity
 * table on the packet path reports that instead of growing) and for a
 * negative value (it would read as an empty slot).
 */
export function keyTableSet(t: KeyTable, a: number, b: number, c: number, value: number): boolean {
  if (value < 0) return false
  const keys = t.keys
  const values = t.values
  const mask = t.mask
  let slot = mixWords3(a, b, c) & mask
  for (let probes = 0; probes <= mask; probes++) {
    const k = slot * 3
    if (values[slot]! < 0) {
      if (t.size * 2 >= mask + 1) return false
      keys[k] = a
      keys[k + 1] = b
      keys[k + 2] = c
      values[slot] = value
      t.size++
      return true
    }
    if (keys[k] === (a | 0) && keys[k + 1] === (b | 0) && keys[k + 2] === (c | 0)) {
      values[slot] = value
      return true
    }
    slot = (slot + 1) & mask
  }
  return false
}
