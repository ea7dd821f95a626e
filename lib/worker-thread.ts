import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * Starts a worker thread on `file`. Runs from TypeScript sources (tsx, tap) load
 * the worker through tsx's CommonJS hook, which a worker thread does not always
 * inherit from the main thread's loader; compiled runs start the .js file directly.
 */
export function startWorker(file: string, options: WorkerOptions): Worker {
  if (!file.endsWith('.ts')) return new Worker(file, options)
  const hook = require.resolve('tsx/cjs')
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(file)})`, { ...options, eval: true })
}
