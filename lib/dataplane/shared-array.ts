/**
 * A typed array of `length` items in a SharedArrayBuffer: structured clone (postMessage
 * to a packet worker) passes it by reference, so the workers get a snapshot's tables
 * themselves, not copies. Snapshot tables are not written after the compile.
 */
export function sharedArray<T>(Ctor: { new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number): T {
  return new Ctor(new SharedArrayBuffer(length * Ctor.BYTES_PER_ELEMENT))
}

/** A copy of `array` (a typed array) in a SharedArrayBuffer. */
export function sharedCopyOf<T extends ArrayBufferView>(array: T): T {
  const buffer = new SharedArrayBuffer(array.byteLength)
  new Uint8Array(buffer).set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))
  return new (array.constructor as new (buffer: SharedArrayBuffer) => T)(buffer)
}
