/**
 * One probe, made by the kernel's TCP stack: `tcp` completes a handshake
 * (node:net), `http` sends `GET requestPath` on a fresh connection (node:http)
 * and wants a status 200–399. Both within `timeoutMs`. Never rejects.
 */
import http from 'node:http'
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
    const req = http.request({
      host: request.host,
      port: request.port,
      path: request.requestPath ?? '/',
      method: 'GET',
      agent: false,
      headers: { host: request.hostHeader ?? request.host, connection: 'close', 'user-agent': 'nvlb-health' },
    })
    cleanup = () => req.destroy()
    req.once('response', (res) => {
      const status = res.statusCode ?? 0
      res.resume()
      if (status >= 200 && status <= 399) finish(true, null)
      else finish(false, `HTTP ${status}`)
    })
    req.once('error', (err) => finish(false, errorText(err)))
    req.end()
  })
}
