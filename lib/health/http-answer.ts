/**
 * The answer to an HTTP probe, framed by node's own HTTP parser: llhttp, the
 * parser node:http's client frames every response with (reached through
 * `_http_common`, which node:http itself uses). It says the status of the final
 * answer (1xx interim answers are skipped, as node:http skips them), whether
 * the connection may carry the next probe (HTTP/1.1 keep-alive, no upgrade) and
 * where the answer ends: Content-Length, chunked encoding, or — for an answer
 * without either — the server's close (`end()`). Bytes after the final answer
 * (an answer nobody asked for) make the connection unusable (`extra`).
 *
 * One per connection slot of probe-connections.ts, reused from probe to probe
 * (`begin()` starts a new answer).
 *
 * The answer nearly every probe gets (an HTTP/1.1 success with a Content-Length,
 * no Transfer-Encoding, no upgrade, its head and body whole in the first read
 * and nothing after them) is recognised without the parser, by a strict reader
 * of exactly that form (`plain()`: status line, header names of token
 * characters, values of visible characters, one Content-Length of digits, ASCII only); it
 * frames it as llhttp does (`Connection: close` ends the connection, anything
 * else keeps it). Every other answer, and any byte that reader does not
 * accept, goes to llhttp whole. Node's parser calls back into JavaScript three
 * or four times per answer and makes a string of every header (bench health:
 * a tenth of the tunnel thread's CPU); the reader makes none.
 */

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | (Error & { code?: string; reason?: string })
  finish(): undefined | (Error & { code?: string; reason?: string })
  [callback: number]: unknown
}

interface LlhttpParserClass {
  new (): LlhttpParser
  RESPONSE: number
  kOnMessageBegin: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
  kOnExecute: number
  kLenientNone: number
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { HTTPParser } = require('_http_common') as { HTTPParser: LlhttpParserClass }

/** node:http's default limit of the status line and headers (--max-http-header-size). */
const MAX_HEADER_BYTES = 16384
/** The parser's async-hooks resource: probes are not traced, one object for all. */
const RESOURCE = {}
const SWITCHING_PROTOCOLS = 101

function noop(): void {}

export class HttpAnswer {
  /** Status of the final answer; 0 while its head has not been read. */
  status = 0
  /** The connection may carry another request once this answer is complete. */
  keepAlive = false
  /** The final answer has been read to its end. */
  complete = false
  /** Bytes came after the final answer. */
  extra = false
  /** Why the bytes are not an HTTP answer (null: they are, so far). */
  error: string | null = null
  private readonly parser: LlhttpParser = new HTTPParser()
  /** Some byte of this answer was read. */
  private started = false

  constructor() {
    const p = this.parser
    p[HTTPParser.kOnMessageBegin] = () => {
      if (this.status !== 0) this.extra = true
    }
    p[HTTPParser.kOnHeaders] = noop
    p[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      _headers: unknown,
      _method: unknown,
      _url: unknown,
      status: number,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ): number => {
      if (this.status !== 0) return 0
      // Interim answers (100 Continue, 103 Early Hints) come before the one that counts.
      if (status >= 100 && status < 200 && status !== SWITCHING_PROTOCOLS) return 0
      this.status = status
      this.keepAlive = keepAlive && !upgrade && status !== SWITCHING_PROTOCOLS
      return 0
    }
    p[HTTPParser.kOnBody] = noop
    p[HTTPParser.kOnMessageComplete] = () => {
      if (this.status !== 0) this.complete = true
    }
    p[HTTPParser.kOnExecute] = noop
  }

  /**
   * A new answer (a new request was sent). On a connection whose previous answer was complete
   * the parser is at the start of the next message already (`newConnection` false), as node:http's
   * client reuses a kept socket's parser; a new connection gets a fresh parser state.
   */
  begin(newConnection: boolean): void {
    if (newConnection) this.parser.initialize(HTTPParser.RESPONSE, RESOURCE, MAX_HEADER_BYTES, HTTPParser.kLenientNone)
    this.status = 0
    this.keepAlive = false
    this.complete = false
    this.extra = false
    this.error = null
    this.started = false
  }

  /** Bytes of the answer as they arrive. */
  feed(chunk: Buffer): void {
    if (this.error !== null) return
    if (!this.started) {
      this.started = true
      // The parser is at the start of a message (a new connection, or a kept one whose last answer was complete).
      if (this.plain(chunk)) return
    }
    const r = this.parser.execute(chunk)
    if (typeof r !== 'number') this.error = `the answer is not HTTP (${r.reason ?? r.code ?? r.message})`
  }

  /** The server closed the connection: an answer delimited by the close ends here. */
  end(): void {
    if (this.error !== null || this.complete) return
    const r = this.parser.finish()
    if (r !== undefined) this.error = `the answer ended early (${r.reason ?? r.code ?? r.message})`
  }

  /**
   * The whole answer in `chunk` when it is exactly one HTTP/1.1 answer of status 200–399 (not 204
   * or 304) framed by one Content-Length, with no Transfer-Encoding, Upgrade or `Connection:
   * upgrade`, and nothing after its body: sets status, keepAlive and complete and returns true.
   * Otherwise false, and nothing is changed (llhttp reads the chunk).
   */
  private plain(chunk: Buffer): boolean {
    const n = chunk.length
    // "HTTP/1.1 " and three digits, then SP.
    if (n < 17 || chunk[0] !== 0x48 || chunk[1] !== 0x54 || chunk[2] !== 0x54 || chunk[3] !== 0x50 || chunk[4] !== 0x2f) return false
    if (chunk[5] !== 0x31 || chunk[6] !== 0x2e || chunk[7] !== 0x31 || chunk[8] !== 0x20 || chunk[12] !== 0x20) return false
    const d0 = chunk[9]! - 0x30
    const d1 = chunk[10]! - 0x30
    const d2 = chunk[11]! - 0x30
    if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false
    const status = d0 * 100 + d1 * 10 + d2
    if (status < 200 || status > 399 || status === 204 || status === 304) return false
    // Reason phrase: HTAB, SP, visible ASCII (anything else is llhttp's to judge); then CRLF.
    let at = 13
    for (; at < n; at++) {
      const b = chunk[at]!
      if (b === 0x0d) break
      if (b !== 0x09 && (b < 0x20 || b >= 0x7f)) return false
    }
    if (at + 1 >= n || chunk[at + 1] !== 0x0a) return false
    at += 2
    let length = -1
    let close = false
    // Header lines up to the empty line.
    for (;;) {
      if (at + 1 >= n) return false
      if (chunk[at] === 0x0d) {
        if (chunk[at + 1] !== 0x0a) return false
        at += 2
        break
      }
      const name = at
      while (at < n && TOKEN[chunk[at]!] === 1) at++
      if (at === name || at >= n || chunk[at] !== 0x3a) return false
      const nameEnd = at
      at++
      while (at < n && (chunk[at] === 0x20 || chunk[at] === 0x09)) at++
      const value = at
      let valueEnd = at
      for (; at < n; at++) {
        const b = chunk[at]!
        if (b === 0x0d) break
        if (b !== 0x09 && (b < 0x20 || b >= 0x7f)) return false
        if (b !== 0x20 && b !== 0x09) valueEnd = at + 1
      }
      if (at + 1 >= n || chunk[at + 1] !== 0x0a) return false
      at += 2
      const kind = headerKind(chunk, name, nameEnd)
      if (kind === HEADER_OTHER) continue
      if (kind === HEADER_REFUSED || (kind === HEADER_LENGTH && length >= 0)) return false
      if (kind === HEADER_LENGTH) {
        if (valueEnd === value || valueEnd - value > 15) return false
        length = 0
        for (let i = value; i < valueEnd; i++) {
          const d = chunk[i]! - 0x30
          if (d < 0 || d > 9) return false
          length = length * 10 + d
        }
      } else {
        // Connection: comma-separated tokens; `close` ends the connection, `upgrade` is llhttp's to judge.
        for (let i = value; i < valueEnd; ) {
          while (i < valueEnd && (chunk[i] === 0x20 || chunk[i] === 0x09 || chunk[i] === 0x2c)) i++
          const t = i
          while (i < valueEnd && chunk[i] !== 0x2c) i++
          let e = i
          while (e > t && (chunk[e - 1] === 0x20 || chunk[e - 1] === 0x09)) e--
          if (tokenIs(chunk, t, e, 'close')) close = true
          else if (tokenIs(chunk, t, e, 'upgrade')) return false
        }
      }
    }
    if (length < 0 || at + length !== n) return false
    this.status = status
    this.keepAlive = !close
    this.complete = true
    return true
  }
}

/** tchar of RFC 9110 §5.6.2, by byte. */
const TOKEN = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1
for (let b = 0x30; b <= 0x39; b++) TOKEN[b] = 1
for (let b = 0x41; b <= 0x5a; b++) TOKEN[b] = 1
for (let b = 0x61; b <= 0x7a; b++) TOKEN[b] = 1

const HEADER_OTHER = 0
const HEADER_LENGTH = 1
const HEADER_CONNECTION = 2
/** A header only llhttp frames by (Transfer-Encoding, Upgrade, Proxy-Connection). */
const HEADER_REFUSED = 3

function headerKind(b: Buffer, from: number, to: number): number {
  const len = to - from
  if (len === 14 && tokenIs(b, from, to, 'content-length')) return HEADER_LENGTH
  if (len === 10 && tokenIs(b, from, to, 'connection')) return HEADER_CONNECTION
  if ((len === 17 && tokenIs(b, from, to, 'transfer-encoding')) || (len === 7 && tokenIs(b, from, to, 'upgrade'))) return HEADER_REFUSED
  if (len === 16 && tokenIs(b, from, to, 'proxy-connection')) return HEADER_REFUSED
  return HEADER_OTHER
}

/** b[from, to) is `lower` (ASCII, case-insensitive). */
function tokenIs(b: Buffer, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false
  for (let i = 0; i < lower.length; i++) if ((b[from + i]! | 0x20) !== lower.charCodeAt(i)) return false
  return true
}
