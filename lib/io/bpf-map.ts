import { BPF_MAP_CREATE, bpf, bpfError } from './bpf-syscall'
import * as c from './libc'

/**
 * An eBPF map seen from user space: created, read and written with bpf(2) on the control
 * path (each call a system call; never on a packet path). Keys and values are the raw bytes
 * the programs using the map read.
 */

export const BPF_MAP_TYPE_HASH = 1
export const BPF_MAP_TYPE_ARRAY = 2
/** Longest-prefix match: keys are { u32 prefix length in bits; data }, data compared from its first byte on. */
export const BPF_MAP_TYPE_LPM_TRIE = 11
export const BPF_MAP_TYPE_XSKMAP = 17

const BPF_MAP_LOOKUP_ELEM = 1
const BPF_MAP_UPDATE_ELEM = 2
const BPF_MAP_DELETE_ELEM = 3
const BPF_ANY = 0
/** A map whose elements are allocated as they are added (required for LPM tries). */
export const BPF_F_NO_PREALLOC = 1
const ENOENT = 2

/** Creates or replaces one element of a map this process has open as `mapFd` (e.g. another thread's BpfMap). */
export function setMapElement(mapFd: number, key: Uint8Array, value: Uint8Array): void {
  const attr = Buffer.alloc(32)
  const k = Buffer.from(key)
  const v = Buffer.from(value)
  attr.writeUInt32LE(mapFd, 0)
  attr.writeBigUInt64LE(BigInt(c.bufferAddress(k)), 8)
  attr.writeBigUInt64LE(BigInt(c.bufferAddress(v)), 16)
  attr.writeBigUInt64LE(BigInt(BPF_ANY), 24)
  if (bpf(BPF_MAP_UPDATE_ELEM, attr) < 0) throw bpfError('BPF_MAP_UPDATE_ELEM')
}

export class BpfMap {
  readonly fd: number
  private readonly key: Buffer
  private readonly value: Buffer
  /** union bpf_attr for the element commands: map_fd, key, value, flags. */
  private readonly attr = Buffer.alloc(32)
  /** map_fd and key only. */
  private readonly deleteAttr = Buffer.alloc(16)

  constructor(
    type: number,
    readonly keySize: number,
    readonly valueSize: number,
    maxEntries: number,
    name: string,
    flags = 0,
  ) {
    const attr = Buffer.alloc(72)
    attr.writeUInt32LE(type, 0)
    attr.writeUInt32LE(keySize, 4)
    attr.writeUInt32LE(valueSize, 8)
    attr.writeUInt32LE(maxEntries, 12)
    attr.writeUInt32LE(flags, 16)
    attr.write(name.slice(0, 15), 28)
    this.fd = bpf(BPF_MAP_CREATE, attr)
    if (this.fd < 0) throw bpfError(`BPF_MAP_CREATE (${name})`)
    this.key = Buffer.alloc(keySize)
    this.value = Buffer.alloc(valueSize)
    this.attr.writeUInt32LE(this.fd, 0)
    this.attr.writeBigUInt64LE(BigInt(c.bufferAddress(this.key)), 8)
    this.attr.writeBigUInt64LE(BigInt(c.bufferAddress(this.value)), 16)
  }

  /** Creates or replaces the element `key` (keySize bytes) with `value` (valueSize bytes). */
  set(key: Uint8Array, value: Uint8Array): void {
    this.key.set(key)
    this.value.set(value)
    this.attr.writeBigUInt64LE(BigInt(BPF_ANY), 24)
    if (bpf(BPF_MAP_UPDATE_ELEM, this.attr) < 0) throw bpfError('BPF_MAP_UPDATE_ELEM')
  }

  /** The value of `key` (a copy), or null when there is none. */
  get(key: Uint8Array): Buffer | null {
    this.key.set(key)
    if (bpf(BPF_MAP_LOOKUP_ELEM, this.attr) < 0) {
      if (c.errno() === ENOENT) return null
      throw bpfError('BPF_MAP_LOOKUP_ELEM')
    }
    return Buffer.from(this.value)
  }

  /** Element `index` of an array map whose values are u64 counters (0 when out of range). */
  counter(index: number): number {
    const key = Buffer.alloc(4)
    key.writeUInt32LE(index)
    return Number(this.get(key)?.readBigUInt64LE(0) ?? 0n)
  }

  /** Removes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.key.set(key)
    // The kernel refuses a delete whose attr has anything set after the key (EINVAL).
    this.deleteAttr.writeUInt32LE(this.fd, 0)
    this.deleteAttr.writeBigUInt64LE(BigInt(c.bufferAddress(this.key)), 8)
    if (bpf(BPF_MAP_DELETE_ELEM, this.deleteAttr) < 0) {
      if (c.errno() === ENOENT) return false
      throw bpfError('BPF_MAP_DELETE_ELEM')
    }
    return true
  }

  close(): void {
    c.close(this.fd)
  }
}
