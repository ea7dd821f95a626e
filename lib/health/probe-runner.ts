/**
 * One probe, made by the kernel's TCP stack on a fresh connection: `tcp`
 * completes a handshake (node:net), `http` sends `GET requestPath` as HTTP/1.1
 * and wants a status 200–399 in the answer's status line. Both within
 * `timeoutMs`. Never rejects.
 */
import net from 'node:net'

export interface ProbeRequest {
  protocol: 'tcp' | 'http'
  /** Where the kernel connects (a probe target address, or any address in tests). */
  host: string
  port: number
  requestPath?: string
  /** Host header of HTTP probes (the backend's CA). */
  hostHeader?: string
  timeoutMs: number
  /**
   * The check's interval: a transport that keeps connections (the probe tunnel) keeps an
   * HTTP probe's connection for the check's next probe. Without it, every probe opens a new one.
   */
  intervalMs?: number
}

export interface ProbeResult {
  ok: boolean
  error: string | null
  latencyMs: number
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e.code ?? e.message ?? String(err)
}

export function runProbe(request: ProbeRequest): Promise<ProbeResult> {
  const started = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6
  return new Promise((resolve) => {
    let done = false
    let cleanup: () => void = () => {}
    const finish = (ok: boolean, error: string | null) => {
      if (done) return
      done = true
      clearTimeout(timer)
      cleanup()
      resolve({ ok, error, latencyMs: elapsed() })
    }
    const timer = setTimeout(() => finish(false, `no answer within ${request.timeoutMs / 1000} s`), request.timeoutMs)
    if (request.protocol === 'tcp') {
      const socket = net.connect({ host: request.host, port: request.port })
      cleanup = () => socket.destroy()
      socket.once('connect', () => finish(true, null))
      socket.once('error', (err) => finish(false, errorText(err)))
      return
    }
    // HTTP/1.1 on a fresh connection of the kernel's TCP: the request line and headers, then the
    // status line of the answer is all a probe needs (node:http's client costs about twice the CPU
    // per probe, measured with bench/health.ts).
    const socket = net.connect({ host: request.host, port: request.port })
    cleanup = () => socket.destroy()
    socket.setNoDelay(true)
    socket.once('connect', () => {
      socket.write(
        `GET ${request.requestPath ?? '/'} HTTP/1.1\r\nHost: ${request.hostHeader ?? request.host}\r\n` +
          'User-Agent: nvlb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n',
      )
    })
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      if (head.length < STATUS_LINE_MAX) head += chunk.toString('latin1', 0, Math.min(chunk.length, STATUS_LINE_MAX))
      const m = STATUS_LINE.exec(head)
      if (m !== null) {
        const status = Number(m[1])
        if (status >= 200 && status <= 399) finish(true, null)
        else finish(false, `HTTP ${status}`)
      } else if (head.length >= 12 || head.includes('\n')) {
        finish(false, 'the answer is not HTTP')
      }
    })
    socket.once('end', () => finish(false, 'connection closed before an HTTP status line'))
    socket.once('error', (err) => finish(false, errorText(err)))
  })
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/
const STATUS_LINE_MAX = 64
