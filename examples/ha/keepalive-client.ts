/**
 * N keep-alive HTTP connections to one URL, each sending GET after GET on its own TCP connection,
 * for `nvlb bench ha` and test/ha. Runs inside the client namespace; talks JSON lines:
 *   stdout {"ready":true}        every connection has had an answer
 *   stdin  "mark"                a phase starts (the failure happens now)
 *   stdout {"allRecovered":true} once every connection has been answered again in the phase
 *   stdin  "report"              the phase ends; stdout gets
 *          {"broken":B,"recovered":R,"failoverMs":F,"stallMs":S,"connections":N,"requests":Q}
 *   stdin  "quit"                close everything and exit
 * broken: connections that ended with an error or a close (a reset) during the phase; each is
 * replaced by a new one. recovered: connections (slots) whose request sent after the mark has been
 * answered. failoverMs: from the mark until every connection had such an answer (null when some had
 * none by the report). stallMs: the longest a request waited for its answer during the phase (a
 * request still waiting at the report counts until then). requests: answers during the phase.
 */
import { connect, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline'

interface Conn {
  socket: Socket | null
  /** ms after the mark of the first answer to a request sent after the mark. */
  recoveredAt: number | null
  /** When the outstanding request was sent (ms, monotonic), or null. */
  sentAt: number | null
  buffer: string
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '80' },
      connections: { type: 'string', default: '32' },
    },
  })
  const host = values.host!
  const port = Number(values.port)
  const n = Number(values.connections)
  const now = (): number => Number(process.hrtime.bigint() / 1000n) / 1000
  let mark: number | null = null
  let broken = 0
  let requests = 0
  let stallMs = 0
  let readySent = false
  let quitting = false
  const answered = new Set<number>()
  const conns: Conn[] = Array.from({ length: n }, () => ({ socket: null, recoveredAt: null, sentAt: null, buffer: '' }))

  const send = (c: Conn): void => {
    if (c.socket === null || quitting) return
    c.sentAt = now()
    c.socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`)
  }
  const open = (i: number): void => {
    if (quitting) return
    const c = conns[i]!
    const socket = connect({ host, port })
    c.socket = socket
    c.buffer = ''
    c.sentAt = null
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
        const t = now()
        if (mark !== null) {
          requests++
          if (c.sentAt !== null) {
            stallMs = Math.max(stallMs, t - Math.max(c.sentAt, mark))
            if (c.recoveredAt === null && c.sentAt >= mark) {
              c.recoveredAt = t - mark
              if (conns.every((x) => x.recoveredAt !== null)) process.stdout.write('{"allRecovered":true}\n')
            }
          }
        }
        c.sentAt = null
        answered.add(i)
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
      if (mark !== null && !quitting) broken++
      setTimeout(() => open(i), 50)
    }
    socket.on('error', lost)
    socket.on('close', lost)
  }
  for (let i = 0; i < n; i++) open(i)

  await new Promise<void>((resolve) => {
    createInterface({ input: process.stdin }).on('line', (line) => {
      const command = line.trim()
      if (command === 'mark') {
        mark = now()
        broken = 0
        requests = 0
        stallMs = 0
        for (const c of conns) c.recoveredAt = null
      } else if (command === 'report' && mark !== null) {
        const t = now()
        for (const c of conns) if (c.sentAt !== null) stallMs = Math.max(stallMs, t - Math.max(c.sentAt, mark))
        const times = conns.map((c) => c.recoveredAt)
        const failoverMs = times.every((x) => x !== null) ? Math.max(...(times as number[])) : null
        const recovered = times.filter((x) => x !== null).length
        process.stdout.write(JSON.stringify({ broken, recovered, failoverMs, stallMs: Math.round(stallMs), connections: n, requests }) + '\n')
        mark = null
      } else if (command === 'quit') {
        resolve()
      }
    })
  })
  quitting = true
  for (const c of conns) c.socket?.destroy()
  return 0
}
