/**
 * IPv4 and MAC address spelling, for the control side (the packet path reads
 * addresses straight from frames). A cloud's document holds millions of
 * addresses and MACs, most of them distinct (every VM has its own MAC), and
 * start-up reads each several times (validation, normalization, compile): the
 * parsers walk the characters once, without regular expressions, caches or
 * intermediate strings.
 */

const CHAR_0 = 0x30
const CHAR_DOT = 0x2e

/** Dotted quad → unsigned 32-bit number, or -1 when it is not a valid IPv4 address (1 to 3 digits an octet, no leading zero, at most 255). */
export function parseIPv4(text: string): number {
  const n = text.length
  if (n < 7 || n > 15) return -1
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === CHAR_DOT) {
      if (digits === 0 || dots === 3) return -1
      value = value * 256 + octet
      octet = 0
      digits = 0
      dots++
      continue
    }
    const d = c - CHAR_0
    if (d < 0 || d > 9 || digits === 3 || (digits === 1 && octet === 0)) return -1
    octet = octet * 10 + d
    if (octet > 255) return -1
    digits++
  }
  if (digits === 0 || dots !== 3) return -1
  return value * 256 + octet
}

export function formatIPv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
}

/** "a.b.c.d/len" → {address, length} with the host bits cleared, or null. */
export function parsePrefix(text: string): { address: number; length: number } | null {
  const slash = text.indexOf('/')
  if (slash < 0) return null
  const address = parseIPv4(text.slice(0, slash))
  const lengthText = text.slice(slash + 1)
  if (address < 0 || !/^\d{1,2}$/.test(lengthText)) return null
  const length = Number(lengthText)
  if (length > 32) return null
  return { address: (address & prefixMask(length)) >>> 0, length }
}

export function prefixMask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0
}

/** Value of a hex digit's character code, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/**
 * A MAC in any spelling PowerShell or Linux prints (`00-15-5D-01-06-21`,
 * `00:15:5d:01:06:21`, `00155D010621`; one separator throughout, hex digits
 * in either case) written into `out` at `offset`. Returns false (and writes
 * nothing) when `text` is none of them.
 */
export function parseMacInto(text: string, out: Uint8Array, offset: number): boolean {
  const n = text.length
  let stride: number
  if (n === 12) stride = 2
  else if (n === 17) {
    stride = 3
    const separator = text.charCodeAt(2)
    if (separator !== 0x3a && separator !== 0x2d) return false
    for (let i = 5; i < 17; i += 3) if (text.charCodeAt(i) !== separator) return false
  } else return false
  let hi0 = 0
  // Checked in full before anything is written.
  for (let i = 0; i < 6; i++) {
    const hi = hexDigit(text.charCodeAt(i * stride))
    const lo = hexDigit(text.charCodeAt(i * stride + 1))
    if (hi < 0 || lo < 0) return false
    if (i === 0) hi0 = (hi << 4) | lo
  }
  out[offset] = hi0
  for (let i = 1; i < 6; i++) out[offset + i] = (hexDigit(text.charCodeAt(i * stride)) << 4) | hexDigit(text.charCodeAt(i * stride + 1))
  return true
}

/** A MAC in any accepted spelling (parseMacInto) → 6 new bytes, or null. */
export function parseMac(text: string): Uint8Array | null {
  const mac = new Uint8Array(6)
  return parseMacInto(text, mac, 0) ? mac : null
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** 6 bytes → `00:15:5d:01:06:21`. */
export function formatMac(mac: Uint8Array, off = 0): string {
  return `${HEX_PAIRS[mac[off]!]}:${HEX_PAIRS[mac[off + 1]!]}:${HEX_PAIRS[mac[off + 2]!]}:${HEX_PAIRS[mac[off + 3]!]}:${HEX_PAIRS[mac[off + 4]!]}:${HEX_PAIRS[mac[off + 5]!]}`
}

/** Whether `text` is a MAC in the canonical spelling already (lower-case hex, colons). */
function isCanonicalMac(text: string): boolean {
  if (text.length !== 17) return false
  for (let i = 0; i < 17; i++) {
    const c = text.charCodeAt(i)
    if (i % 3 === 2) {
      if (c !== 0x3a) return false
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false
  }
  return true
}

const scratchMac = new Uint8Array(6)

/** Canonical spelling of a MAC given in any accepted spelling (the same string when it is canonical already), or null. */
export function canonicalMac(text: string): string | null {
  if (isCanonicalMac(text)) return text
  return parseMacInto(text, scratchMac, 0) ? formatMac(scratchMac) : null
}
