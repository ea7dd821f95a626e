/** Small helpers for checking JSON documents: what a value is, in words for an error message. */
export type Json = Record<string, unknown>

/** A JSON value in a few words: `null`, `an array`, `'text'` (cut at 60 characters), `an object`, or the number or boolean. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `'${value.length > 60 ? value.slice(0, 60) + '…' : value}'`
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
