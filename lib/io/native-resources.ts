/**
 * What a packet worker holds outside the JavaScript heap (file descriptors and
 * memory mappings: an AF_XDP socket, its UMEM and rings), recorded in shared
 * memory as the worker opens them. A worker that ends normally, or by an
 * exception, releases them itself; one the main thread had to terminate (it
 * did not stop in time) or that V8 ended (out of memory) runs no `finally`, so
 * the main thread releases what is still recorded once the thread has exited.
 * Only ever read by the main thread after that exit: no atomics needed.
 */
import * as c from './libc'

/** Per entry: kind, value (fd or address), length. Float64: an address needs up to 47 bits. */
const ENTRY_WORDS = 3
const KIND_FREE = 0
const KIND_FD = 1
const KIND_MAPPING = 2
/** Two AF_XDP sockets of six resources each (socket, UMEM, four rings), with room to spare. */
export const NATIVE_RESOURCE_SLOTS = 32

export class NativeResources {
  readonly buffer: SharedArrayBuffer
  private readonly words: Float64Array

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(NATIVE_RESOURCE_SLOTS * ENTRY_WORDS * 8)) {
    this.buffer = buffer
    this.words = new Float64Array(buffer)
  }

  /** Record an open file descriptor; returns the slot to pass to released(). */
  fd(fd: number): number {
    return this.record(KIND_FD, fd, 0)
  }

  /** Record a mapping of `length` bytes at `address`; returns the slot to pass to released(). */
  mapping(address: number, length: number): number {
    return this.record(KIND_MAPPING, address, length)
  }

  /** The resource of `slot` was closed or unmapped by its owner. */
  released(slot: number): void {
    if (slot >= 0) this.words[slot * ENTRY_WORDS] = KIND_FREE
  }

  /**
   * Close the descriptors and unmap the mappings still recorded, descriptors
   * first (a socket's rings and UMEM stay in use until the socket is gone).
   * Only once the thread that recorded them has ended. Returns how many.
   */
  releaseAll(): number {
    const w = this.words
    let n = 0
    for (const kind of [KIND_FD, KIND_MAPPING]) {
      for (let s = 0; s < NATIVE_RESOURCE_SLOTS; s++) {
        const at = s * ENTRY_WORDS
        if (w[at] !== kind) continue
        if (kind === KIND_FD) c.close(w[at + 1]!)
        else c.munmapAddress(w[at + 1]!, w[at + 2]!)
        w[at] = KIND_FREE
        n++
      }
    }
    return n
  }

  private record(kind: number, value: number, length: number): number {
    const w = this.words
    for (let s = 0; s < NATIVE_RESOURCE_SLOTS; s++) {
      const at = s * ENTRY_WORDS
      if (w[at] !== KIND_FREE) continue
      w[at] = kind
      w[at + 1] = value
      w[at + 2] = length
      return s
    }
    throw new Error(`more than ${NATIVE_RESOURCE_SLOTS} native resources recorded for one packet worker`)
  }
}
