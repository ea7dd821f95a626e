import t from 'tap'
import { HttpAnswer } from '../../lib/health/http-answer'

/** What an answer says once `chunks` are read (and, when `close`, the server closed the connection). */
function read(chunks: Buffer[], close = false) {
  const a = new HttpAnswer()
  a.begin(true)
  for (const c of chunks) a.feed(c)
  if (close) a.end()
  return { status: a.status, keepAlive: a.keepAlive, complete: a.complete, extra: a.extra, error: a.error !== null }
}

const CRLF = '\r\n'
const answers: [string, string][] = [
  ['plain 200', `HTTP/1.1 200 OK${CRLF}Content-Length: 3${CRLF}${CRLF}ok\n`],
  ['node:http', `HTTP/1.1 200 OK${CRLF}Date: Wed, 02 Dec 2026 14:00:00 GMT${CRLF}Connection: keep-alive${CRLF}Keep-Alive: timeout=5${CRLF}Content-Length: 3${CRLF}${CRLF}ok\n`],
  ['empty body', `HTTP/1.1 200 OK${CRLF}Content-Length: 0${CRLF}${CRLF}`],
  ['no reason', `HTTP/1.1 200 ${CRLF}Content-Length: 0${CRLF}${CRLF}`],
  ['redirect', `HTTP/1.1 302 Found${CRLF}Location: /x${CRLF}Content-Length: 0${CRLF}${CRLF}`],
  ['close', `HTTP/1.1 200 OK${CRLF}Connection: close${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['close among tokens', `HTTP/1.1 200 OK${CRLF}Connection: keep-alive, Close${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['upper-case names', `HTTP/1.1 200 OK${CRLF}CONTENT-LENGTH: 2${CRLF}CONNECTION: CLOSE${CRLF}${CRLF}ok`],
  ['value with spaces around', `HTTP/1.1 200 OK${CRLF}Content-Length:   2  ${CRLF}${CRLF}ok`],
  ['two lengths', `HTTP/1.1 200 OK${CRLF}Content-Length: 2${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['two different lengths', `HTTP/1.1 200 OK${CRLF}Content-Length: 2${CRLF}Content-Length: 3${CRLF}${CRLF}ok`],
  ['length not digits', `HTTP/1.1 200 OK${CRLF}Content-Length: 2x${CRLF}${CRLF}ok`],
  ['length with sign', `HTTP/1.1 200 OK${CRLF}Content-Length: +2${CRLF}${CRLF}ok`],
  ['chunked', `HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}2${CRLF}ok${CRLF}0${CRLF}${CRLF}`],
  ['chunked and length', `HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}Content-Length: 2${CRLF}${CRLF}2${CRLF}ok${CRLF}0${CRLF}${CRLF}`],
  ['no length (close-delimited)', `HTTP/1.1 200 OK${CRLF}${CRLF}ok`],
  ['HTTP/1.0', `HTTP/1.0 200 OK${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['HTTP/1.0 keep-alive', `HTTP/1.0 200 OK${CRLF}Connection: keep-alive${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['204', `HTTP/1.1 204 No Content${CRLF}${CRLF}`],
  ['304 with length', `HTTP/1.1 304 Not Modified${CRLF}Content-Length: 10${CRLF}${CRLF}`],
  ['500', `HTTP/1.1 500 Oops${CRLF}Content-Length: 2${CRLF}${CRLF}no`],
  ['404', `HTTP/1.1 404 Not Found${CRLF}Content-Length: 0${CRLF}${CRLF}`],
  ['100 then 200', `HTTP/1.1 100 Continue${CRLF}${CRLF}HTTP/1.1 200 OK${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['101', `HTTP/1.1 101 Switching Protocols${CRLF}Connection: upgrade${CRLF}Upgrade: websocket${CRLF}${CRLF}`],
  ['upgrade header on 200', `HTTP/1.1 200 OK${CRLF}Connection: upgrade${CRLF}Upgrade: h2c${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['bytes after the body', `HTTP/1.1 200 OK${CRLF}Content-Length: 2${CRLF}${CRLF}okHTTP/1.1 200 OK${CRLF}Content-Length: 0${CRLF}${CRLF}`],
  ['garbage after the body', `HTTP/1.1 200 OK${CRLF}Content-Length: 2${CRLF}${CRLF}ok!!`],
  ['body cut short', `HTTP/1.1 200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}ok`],
  ['head cut short', `HTTP/1.1 200 OK${CRLF}Content-Len`],
  ['bare LF', `HTTP/1.1 200 OK\nContent-Length: 2\n\nok`],
  ['space before colon', `HTTP/1.1 200 OK${CRLF}Content-Length : 2${CRLF}${CRLF}ok`],
  ['obs-fold', `HTTP/1.1 200 OK${CRLF}X-A: a${CRLF} b${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['control character in a value', `HTTP/1.1 200 OK${CRLF}X-A: a\u0001b${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['obs-text in a value', `HTTP/1.1 200 OK${CRLF}X-A: caf\u00e9${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['empty value', `HTTP/1.1 200 OK${CRLF}X-A:${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['status of two digits', `HTTP/1.1 20 OK${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['not HTTP', `SSH-2.0-OpenSSH_9.6${CRLF}`],
  ['lower-case version', `http/1.1 200 OK${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
  ['proxy-connection', `HTTP/1.1 200 OK${CRLF}Proxy-Connection: close${CRLF}Content-Length: 2${CRLF}${CRLF}ok`],
]

t.test('an answer read whole (the plain reader when it applies) is framed exactly as llhttp frames it', async (t) => {
  for (const [name, text] of answers) {
    const bytes = Buffer.from(text, 'latin1')
    // One byte first: the plain reader never sees the answer, llhttp frames all of it.
    const byParser = read([bytes.subarray(0, 1), bytes.subarray(1)])
    const whole = read([bytes])
    t.same(whole, byParser, name)
    t.same(read([bytes], true), read([bytes.subarray(0, 1), bytes.subarray(1)], true), `${name}, then the server closes`)
  }
})

t.test('the common answers are read whole and judged', async (t) => {
  t.same(read([Buffer.from(answers[1]![1], 'latin1')]), { status: 200, keepAlive: true, complete: true, extra: false, error: false })
  t.same(read([Buffer.from(answers[5]![1], 'latin1')]), { status: 200, keepAlive: false, complete: true, extra: false, error: false })
})

t.test('a kept connection: the next answer after one read whole, and bytes nobody asked for', async (t) => {
  const a = new HttpAnswer()
  a.begin(true)
  const ok = Buffer.from(answers[0]![1], 'latin1')
  a.feed(ok)
  t.ok(a.complete && a.keepAlive)
  const b = new HttpAnswer()
  b.begin(true)
  b.feed(ok)
  b.feed(Buffer.from('HTTP/1.1 200 OK\r\n', 'latin1'))
  t.ok(b.extra, 'bytes after a complete answer make the connection unusable')
  a.begin(false)
  a.feed(Buffer.from(answers[2]![1], 'latin1'))
  t.same([a.status, a.complete], [200, true])
  // llhttp picks up where the plain reader left the connection: at the start of a message.
  a.begin(false)
  a.feed(Buffer.from(answers[13]![1], 'latin1'))
  t.same([a.status, a.complete, a.keepAlive, a.error], [200, true, true, null])
})
