/** Six-byte MAC copies and comparisons on the packet path, unrolled. */
import { readI32, readU16 } from '../packet/bytes'

export function sameMac(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] && a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5]
}

export function copyMac(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number): void {
  to[toOff] = from[fromOff]!
  to[toOff + 1] = from[fromOff + 1]!
  to[toOff + 2] = from[fromOff + 2]!
  to[toOff + 3] = from[fromOff + 3]!
  to[toOff + 4] = from[fromOff + 4]!
  to[toOff + 5] = from[fromOff + 5]!
}

/** Byte copy that is safe when the ranges overlap within one buffer. */
export function copyBytes(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number, length: number): void {
  if (from === to && toOff > fromOff) {
    for (let i = length - 1; i >= 0; i--) to[toOff + i] = from[fromOff + i]!
    return
  }
  for (let i = 0; i < length; i++) to[toOff + i] = from[fromOff + i]!
}

/** The MAC at buf[off..off + 6) is no station's: all zero, or a group (multicast, broadcast) address. */
export function isNoStationMac(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 1) !== 0 || (readI32(buf, off) === 0 && readU16(buf, off + 4) === 0)
}
