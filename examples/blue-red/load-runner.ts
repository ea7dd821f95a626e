/**
 * HTTP load from inside one namespace: autocannon against one URL, counting which VM
 * answered each request (the first line of the body), printing JSON lines on stdout:
 *
 *   {"type":"progress","elapsed":1.5,"requests":1234,"errors":0}     every --progress-ms
 *   {"type":"result","requests":…,"rps":…,"p50Us":…,"p99Us":…,"errors":…,"backends":{…}}
 *
 * Latency percentiles come from every response's own duration (µs resolution);
 * autocannon's histogram keeps whole milliseconds only.
 *
 *   ip netns exec <ns> node load-runner.js --url http://203.0.113.10/ [--duration 3]
 *     [--connections 16] [--reconnect-rate 100] [--progress-ms 500]
 */
import type { EventEmitter } from 'node:events'
import { parseArgs } from 'node:util'

/** The part of autocannon's result used here (autocannon ships no type declarations). */
interface AutocannonResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => EventEmitter

export interface LoadProgress {
  type: 'progress'
  elapsed: number
  requests: number
  errors: number
}

export interface LoadResult {
  type: 'result'
  url: string
  durationSeconds: number
  connections: number
  requests: number
  /** Responses per second over the whole run. */
  rps: number
  p50Us: number
  p99Us: number
  /** Connection errors and timeouts. */
  errors: number
  timeouts: number
  non2xx: number
  /** Answering VM name → responses. */
  backends: Record<string, number>
  /** CPU seconds the load generator itself used (user + system). */
  cpuSeconds: number
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index]!
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      duration: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16' },
      'reconnect-rate': { type: 'string', default: '100' },
      'progress-ms': { type: 'string', default: '500' },
    },
  })
  if (values.url === undefined) {
    process.stderr.write('usage: load-runner --url URL [--duration S] [--connections N] [--reconnect-rate R] [--progress-ms MS]\n')
    return 2
  }
  const duration = Number(values.duration)
  const connections = Number(values.connections)
  const reconnectRate = Number(values['reconnect-rate'])
  const backends: Record<string, number> = {}
  let latencies = new Float64Array(1 << 16)
  let count = 0
  let errors = 0
  const started = process.hrtime.bigint()

  const instance = autocannon({
    url: values.url,
    duration,
    connections,
    ...(reconnectRate > 0 ? { reconnectRate } : {}),
    requests: [
      {
        method: 'GET',
        path: '/',
        onResponse: (_status: number, body: string) => {
          const name = body.split('\n', 1)[0]!.trim()
          backends[name] = (backends[name] ?? 0) + 1
        },
      },
    ],
  })
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode > 299) return
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = responseTime * 1000
  })
  instance.on('reqError', () => {
    errors++
  })
  const progressTimer = setInterval(() => {
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9
    const line: LoadProgress = { type: 'progress', elapsed: Number(elapsed.toFixed(2)), requests: count, errors }
    process.stdout.write(JSON.stringify(line) + '\n')
  }, Number(values['progress-ms']))

  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    instance.once('done', resolve)
    instance.once('error', reject)
  }).finally(() => clearInterval(progressTimer))

  const sorted = latencies.subarray(0, count).sort()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const out: LoadResult = {
    type: 'result',
    url: values.url,
    durationSeconds: Number(seconds.toFixed(3)),
    connections,
    requests: count,
    rps: count / (result.duration > 0 ? result.duration : seconds),
    p50Us: Math.round(percentile(sorted, 0.5)),
    p99Us: Math.round(percentile(sorted, 0.99)),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    backends,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  return 0
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`load-runner: ${(err as Error).message}\n`)
      process.exitCode = 1
    },
  )
}
