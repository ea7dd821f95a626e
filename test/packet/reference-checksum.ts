/**
 * A slow, obviously correct Internet checksum (RFC 1071) written independently of
 * lib/packet/checksum.ts, to check the library and the frame builder against.
 */

/** 16-bit big-endian words of `bytes` (odd length padded with a zero byte). */
function words(bytes: Uint8Array): number[] {
  const out: number[] = []
  for (let i = 0; i < bytes.length; i += 2) out.push(bytes[i]! * 256 + (i + 1 < bytes.length ? bytes[i + 1]! : 0))
  return out
}

/** One's-complement sum by plain addition and a final modulo-style fold. */
export function referenceSum(bytes: Uint8Array, extraWords: number[] = []): number {
  let total = 0
  for (const w of [...words(bytes), ...extraWords]) total += w
  while (total > 0xffff) total = Math.floor(total / 65536) + (total % 65536)
  return total
}

/** The checksum of `bytes` whose checksum field (at `fieldOffset`, -1 for none) is treated as zero. */
export function referenceChecksum(bytes: Uint8Array, fieldOffset: number, extraWords: number[] = []): number {
  const copy = Uint8Array.from(bytes)
  if (fieldOffset >= 0) {
    copy[fieldOffset] = 0
    copy[fieldOffset + 1] = 0
  }
  return 0xffff - referenceSum(copy, extraWords)
}

/** The IPv4 pseudo-header as 16-bit words. */
export function pseudoHeaderWords(src: number, dst: number, protocol: number, length: number): number[] {
  return [Math.floor(src / 65536), src % 65536, Math.floor(dst / 65536), dst % 65536, protocol, length]
}
