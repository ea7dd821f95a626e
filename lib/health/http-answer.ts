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
  }

  /** Bytes of the answer as they arrive. */
  feed(chunk: Buffer): void {
    if (this.error !== null) return
    const r = this.parser.execute(chunk)
    if (typeof r !== 'number') this.error = `the answer is not HTTP (${r.reason ?? r.code ?? r.message})`
  }

  /** The server closed the connection: an answer delimited by the close ends here. */
  end(): void {
    if (this.error !== null || this.complete) return
    const r = this.parser.finish()
    if (r !== undefined) this.error = `the answer ended early (${r.reason ?? r.code ?? r.message})`
  }
}
