/**
 * HTTP load from inside one namespace: autocannon against one URL (or several, the
 * connections spread over them, one autocannon each, results merged), counting which VM
 * answered each request (the first line of the body), printing JSON lines on stdout:
 *
 *   {"type":"progress","elapsed":1.5,"requests":1234,"errors":0}     every --progress-ms
 *   {"type":"result","requests":…,"rps":…,"p50Us":…,"p99Us":…,"errors":…,"backends":{…}}
 *
 * Latency percentiles come from every response's own duration (µs resolution);
 * autocannon's histogram keeps whole milliseconds only.
 *
 *   ip netns exec <ns> node load-runner.js --url http://203.0.113.10/ [--url …] [--duration 3]
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
      url: { type: 'string', multiple: true },
      duration: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16' },
      'reconnect-rate': { type: 'string', default: '100' },
      'progress-ms': { type: 'string', default: '500' },
    },
  })
  const urls = values.url ?? []
  if (urls.length === 0) {
    process.stderr.write('usage: load-runner --url URL [--duration S] [--connections N] [--reconnect-rate R] [--progress-ms MS]\n')
    return 2
  }
  const duration = Number(values.duration)
  const connections = Number(values.connections)
  if (!Number.isInteger(connections) || connections < urls.length) {
    process.stderr.write(`load-runner: --connections must be an integer of at least one per --url (${urls.length})\n`)
    return 2
  }
  const reconnectRate = Number(values['reconnect-rate'])
  const backends: Record<string, number> = {}
  let latencies = new Float64Array(1 << 16)
  let count = 0
  let errors = 0
  const started = process.hrtime.bigint()

  const onResponse = (_client: unknown, statusCode: number, _bytes: number, responseTime: number): void => {
    if (statusCode < 200 || statusCode > 299) return
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = responseTime * 1000
  }
  const runs = urls.map((url, i) => {
    // Connections spread as evenly as they go: the first ones take the remainder.
    const share = Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0)
    const instance = autocannon({
      url,
      duration,
      connections: share,
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
    instance.on('response', onResponse)
    instance.on('reqError', () => {
      errors++
    })
    return new Promise<AutocannonResult>((resolve, reject) => {
      instance.once('done', resolve)
      instance.once('error', reject)
    })
  })
  const progressTimer = setInterval(() => {
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9
    const line: LoadProgress = { type: 'progress', elapsed: Number(elapsed.toFixed(2)), requests: count, errors }
    process.stdout.write(JSON.stringify(line) + '\n')
  }, Number(values['progress-ms']))

  const results = await Promise.all(runs).finally(() => clearInterval(progressTimer))
  const result: AutocannonResult = {
    duration: Math.max(...results.map((r) => r.duration)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
  }

  const sorted = latencies.subarray(0, count).sort()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const out: LoadResult = {
    type: 'result',
    url: urls.join(' '),
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
