/**
 * Round-trip and truncation checks shared by every header codec test (dns-packet style):
 * encode at offset 0 and at a non-zero offset inside a larger buffer, decode back, compare.
 */
import t from 'tap'

export interface HeaderCodec<T> {
  encodingLength(v: T): number
  encode(v: T, buf: Uint8Array, off: number): number
  decode(buf: Uint8Array, off: number, out: T): number
  create(): T
}

export interface RoundTripOptions<T> {
  /** Bytes after the header that decode needs to see (e.g. the IPv4 payload). Default 0. */
  trailing?: number
  /** What decode must return, when it differs from the encoded value (derived fields). */
  expected?: T
  /** Offsets to encode at; default [0, 7]. */
  offsets?: number[]
}

type Test = tap.Test | typeof t

const FILL = 0xa5

/**
 * Encodes `value` at every offset, checks the returned length, that no byte outside the
 * header was touched, that decode consumes the same length into a fresh `create()` value
 * equal to `expected ?? value`, and that re-encoding the decoded value gives the same bytes.
 * Returns the bytes of the encoding at offset 0 (header + trailing zero bytes).
 */
export function checkRoundTrip<T>(t: Test, codec: HeaderCodec<T>, value: T, options: RoundTripOptions<T> = {}): Buffer {
  const trailing = options.trailing ?? 0
  const offsets = options.offsets ?? [0, 7]
  const length = codec.encodingLength(value)
  let first: Buffer | undefined
  for (const off of offsets) {
    const buf = Buffer.alloc(off + length + trailing + 5, FILL)
    buf.fill(0, off + length, off + length + trailing)
    const written = codec.encode(value, buf, off)
    t.equal(written, length, `encode at offset ${off} writes encodingLength bytes`)
    t.ok(buf.subarray(0, off).every((b) => b === FILL), `encode at offset ${off} leaves the bytes before it alone`)
    t.ok(
      buf.subarray(off + length + trailing).every((b) => b === FILL),
      `encode at offset ${off} leaves the bytes after it alone`,
    )
    const view = buf.subarray(0, off + length + trailing)
    const out = codec.create()
    const consumed = codec.decode(view, off, out)
    t.equal(consumed, length, `decode at offset ${off} consumes what encode wrote`)
    t.same(out, options.expected ?? value, `decode at offset ${off} gives the value back`)
    const again = Buffer.alloc(length)
    t.equal(codec.encode(out, again, 0), length, 're-encode of the decoded value')
    t.same(again, view.subarray(off, off + length), `re-encoding the value decoded at offset ${off} gives the same bytes`)
    if (first === undefined) first = Buffer.from(view.subarray(off))
  }
  return first!
}

/**
 * Decode of every strict prefix of `bytes` (at offset 0 and 7) returns a negative number
 * and does not throw.
 */
export function checkTruncation<T>(t: Test, codec: HeaderCodec<T>, bytes: Uint8Array, minimum = 0): void {
  let allNegative = true
  let firstBad = -1
  for (const off of [0, 7]) {
    for (let n = minimum; n < bytes.length; n++) {
      const buf = Buffer.alloc(off + n, FILL)
      buf.set(bytes.subarray(0, n), off)
      const result = codec.decode(buf, off, codec.create())
      if (result >= 0) {
        allNegative = false
        if (firstBad < 0) firstBad = n
      }
    }
  }
  t.ok(allNegative, `decode of every truncation of ${bytes.length} bytes fails${firstBad >= 0 ? ` (not at ${firstBad})` : ''}`)
}

/** Encode into a buffer one byte too short (at offsets 0 and 7) returns -1. */
export function checkEncodeDoesNotFit<T>(t: Test, codec: HeaderCodec<T>, value: T): void {
  const length = codec.encodingLength(value)
  for (const off of [0, 7]) {
    const buf = Buffer.alloc(off + length - 1)
    t.equal(codec.encode(value, buf, off), -1, `encode into ${length - 1} bytes at offset ${off} returns -1`)
  }
}
