/**
 * Drive load-runner.ts inside a namespace and collect its JSON lines: progress
 * callbacks while it runs, the final LoadResult when it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { LoadProgress, LoadResult } from './load-runner'
import { nodeMainCommand } from './topology'

export type { LoadProgress, LoadResult }

export interface LoadOptions {
  durationSeconds: number
  connections: number
  /** New connection every this many requests per connection (0: keep-alive for the whole run). */
  reconnectRate?: number
  progressMs?: number
  onProgress?: (progress: LoadProgress) => void
}

export interface LoadRun {
  result: Promise<LoadResult>
  child: ChildProcess
  /** Stop the runner early (SIGTERM); `result` then rejects. */
  stop(): void
}

/** Load on `url`, or on several URLs with the connections spread over them. */
export function startLoad(namespace: string, url: string | readonly string[], options: LoadOptions): LoadRun {
  const urls = typeof url === 'string' ? [url] : url
  const args = [
    ...urls.flatMap((u) => ['--url', u]),
    '--duration', String(options.durationSeconds),
    '--connections', String(options.connections),
    '--reconnect-rate', String(options.reconnectRate ?? 100),
    '--progress-ms', String(options.progressMs ?? 500),
  ]
  const child = spawn('ip', ['netns', 'exec', namespace, ...nodeMainCommand('examples/blue-red/load-runner', args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let final: LoadResult | undefined
  const stderr: string[] = []
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let message: LoadProgress | LoadResult
    try {
      message = JSON.parse(line) as LoadProgress | LoadResult
    } catch {
      stderr.push(line)
      return
    }
    if (message.type === 'progress') options.onProgress?.(message)
    else if (message.type === 'result') final = message
  })
  const result = new Promise<LoadResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (final !== undefined && code === 0) resolve(final)
      else reject(new Error(`load on ${urls.join(' ')} from ${namespace} failed (${code ?? signal}): ${stderr.slice(-10).join('\n')}`))
    })
  })
  return {
    result,
    child,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    },
  }
}
