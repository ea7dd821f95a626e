/**
 * IPv4 and MAC address spelling, for the control side (the packet path reads
 * addresses straight from frames). Parsed spellings are remembered in
 * bounded LRU caches: a configuration change re-reads every address of a
 * large pool, and most of them are the same strings as last time.
 */
import { LRUCache } from 'lru-cache'

const PARSE_CACHE_SIZE = 65536
const ipv4Cache = new LRUCache<string, number>({ max: PARSE_CACHE_SIZE })
const macCache = new LRUCache<string, Uint8Array>({ max: PARSE_CACHE_SIZE })

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** Dotted quad → unsigned 32-bit number, or -1 when it is not a valid IPv4 address. */
export function parseIPv4(text: string): number {
  let value = ipv4Cache.get(text)
  if (value === undefined) {
    value = parseIPv4Uncached(text)
    ipv4Cache.set(text, value)
  }
  return value
}

function parseIPv4Uncached(text: string): number {
  const m = IPV4.exec(text)
  if (m === null) return -1
  let value = 0
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!
    if (part.length > 1 && part[0] === '0') return -1
    const octet = Number(part)
    if (octet > 255) return -1
    value = value * 256 + octet
  }
  return value
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

const MAC_COLON = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/
const MAC_DASH = /^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}$/
const MAC_BARE = /^[0-9a-fA-F]{12}$/

/**
 * A MAC in any spelling PowerShell or Linux prints (`00-15-5D-01-06-21`,
 * `00:15:5d:01:06:21`, `00155D010621`) → 6 bytes, or null.
 */
export function parseMac(text: string): Uint8Array | null {
  let mac = macCache.get(text)
  if (mac === undefined) {
    const parsed = parseMacUncached(text)
    if (parsed === null) return null
    macCache.set(text, (mac = parsed))
  }
  return Uint8Array.from(mac)
}

function parseMacUncached(text: string): Uint8Array | null {
  if (!MAC_COLON.test(text) && !MAC_DASH.test(text) && !MAC_BARE.test(text)) return null
  const hex = text.replace(/[-:]/g, '')
  const mac = new Uint8Array(6)
  for (let i = 0; i < 6; i++) mac[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return mac
}

/** 6 bytes → `00:15:5d:01:06:21`. */
export function formatMac(mac: Uint8Array, off = 0): string {
  let text = ''
  for (let i = 0; i < 6; i++) {
    if (i > 0) text += ':'
    text += mac[off + i]!.toString(16).padStart(2, '0')
  }
  return text
}

/** Canonical spelling of a MAC given in any accepted spelling, or null. */
export function canonicalMac(text: string): string | null {
  const mac = parseMac(text)
  return mac === null ? null : formatMac(mac)
}
