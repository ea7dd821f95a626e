/**
 * N keep-alive HTTP connections to one URL, each sending GET after GET on its own TCP connection,
 * for `nvlb bench ha`. Runs inside the client namespace; talks JSON lines on stdout:
 *   {"ready":true}                 every connection has had an answer
 * then, after a line "mark" on stdin (the failure happens now), once `--observe-ms` have passed:
 *   {"broken":B,"recovered":R,"failoverMs":F,"connections":N,"requests":Q}
 * broken: connections that ended with an error or a close (reset) after the mark; each is replaced
 * by a new one. failoverMs: until every connection (or its replacement) has had an answer again, the
 * longest gap after the mark; null when some never did within the window.
 */
import { connect, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline'

interface Conn {
  socket: Socket | null
  /** ms since mark of the first answer after the mark, per connection slot. */
  recoveredAt: number | null
  pending: boolean
  buffer: string
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '80' },
      connections: { type: 'string', default: '32' },
      'observe-ms': { type: 'string', default: '5000' },
    },
  })
  const host = values.host!
  const port = Number(values.port)
  const n = Number(values.connections)
  const observeMs = Number(values['observe-ms'])
  let mark: number | null = null
  let broken = 0
  let requests = 0
  let readySent = false
  const answered = new Set<number>()
  const conns: Conn[] = Array.from({ length: n }, () => ({ socket: null, recoveredAt: null, pending: false, buffer: '' }))
  const now = (): number => Number(process.hrtime.bigint() / 1000n) / 1000

  const send = (c: Conn): void => {
    c.pending = true
    c.socket!.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`)
  }
  const open = (i: number): void => {
    const c = conns[i]!
    const socket = connect({ host, port })
    c.socket = socket
    c.buffer = ''
    socket.setNoDelay(true)
    socket.on('connect', () => send(c))
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      c.buffer += d
      // One answer: headers plus Content-Length bytes.
      for (;;) {
        const end = c.buffer.indexOf('\r\n\r\n')
        if (end < 0) return
        const m = /content-length:\s*(\d+)/i.exec(c.buffer.slice(0, end))
        const total = end + 4 + (m === null ? 0 : Number(m[1]))
        if (c.buffer.length < total) return
        c.buffer = c.buffer.slice(total)
        requests++
        c.pending = false
        answered.add(i)
        if (mark !== null && c.recoveredAt === null) c.recoveredAt = now() - mark
        if (!readySent && answered.size === n) {
          readySent = true
          process.stdout.write('{"ready":true}\n')
        }
        setTimeout(() => send(c), 10)
      }
    })
    const lost = (): void => {
      if (c.socket !== socket) return
      c.socket = null
      if (mark !== null) broken++
      setTimeout(() => open(i), 50)
    }
    socket.on('error', lost)
    socket.on('close', lost)
  }
  for (let i = 0; i < n; i++) open(i)

  await new Promise<void>((resolve) => {
    createInterface({ input: process.stdin }).on('line', (line) => {
      if (line.trim() !== 'mark' || mark !== null) return
      mark = now()
      setTimeout(resolve, observeMs)
    })
  })
  const times = conns.map((c) => c.recoveredAt)
  const failoverMs = times.every((t) => t !== null) ? Math.max(...(times as number[])) : null
  process.stdout.write(
    JSON.stringify({ broken, recovered: times.filter((t) => t !== null).length, failoverMs, connections: n, requests }) + '\n',
  )
  for (const c of conns) c.socket?.destroy()
  return 0
}
