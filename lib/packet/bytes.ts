/** Big-endian (network order) field access on byte arrays; allocation-free, no bounds checks. */

export function readU16(buf: Uint8Array, p: number): number {
  return (buf[p]! << 8) | buf[p + 1]!
}

export function readU32(buf: Uint8Array, p: number): number {
  return ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0
}

/** A 32-bit field as a signed int32: the bits of the value, kept a small integer on the packet path. */
export function readI32(buf: Uint8Array, p: number): number {
  return (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!
}

export function writeU16(buf: Uint8Array, p: number, value: number): void {
  buf[p] = (value >>> 8) & 0xff
  buf[p + 1] = value & 0xff
}

export function writeU32(buf: Uint8Array, p: number, value: number): void {
  buf[p] = (value >>> 24) & 0xff
  buf[p + 1] = (value >>> 16) & 0xff
  buf[p + 2] = (value >>> 8) & 0xff
  buf[p + 3] = value & 0xff
}
