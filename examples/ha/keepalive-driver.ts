/**
 * Drives keepalive-client.ts inside a namespace: start N keep-alive connections, then run phases
 * (mark → something happens → every connection answered again, or a bound → report) and read each
 * phase's outcome. For `nvlb bench ha` and test/ha.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { nodeMainCommand } from '../blue-red/topology'

export interface PhaseOutcome {
  /** Connections reset or closed during the phase. */
  broken: number
  /** Connections whose request sent after the mark was answered. */
  recovered: number
  /** Mark → every connection answered again (null: some never was by the report). */
  failoverMs: number | null
  /** The longest a request waited for its answer during the phase. */
  stallMs: number
  connections: number
  requests: number
}

export interface KeepaliveDriver {
  /**
   * Mark, run `during`, wait until every connection has been answered again (at most
   * `recoverTimeoutMs` after `during` resolved), report.
   */
  phase(during: () => Promise<void>, recoverTimeoutMs: number): Promise<PhaseOutcome>
  stop(): Promise<void>
}

export async function startKeepalive(namespace: string, host: string, connections: number, readyTimeoutMs = 30000): Promise<KeepaliveDriver> {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', namespace, ...nodeMainCommand('examples/ha/keepalive-client', ['--host', host, '--connections', String(connections)])],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  )
  const errors: string[] = []
  createInterface({ input: child.stderr! }).on('line', (l) => errors.push(l))
  const queue: Record<string, unknown>[] = []
  let wake: (() => void) | null = null
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      queue.push(JSON.parse(l) as Record<string, unknown>)
    } catch {
      errors.push(l)
    }
    wake?.()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  /** The next line that has `key`, lines before it dropped; undefined after `timeoutMs`. */
  const take = async (key: string, timeoutMs: number): Promise<Record<string, unknown> | undefined> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      while (queue.length > 0) {
        const line = queue.shift()!
        if (key in line) return line
      }
      const left = deadline - Date.now()
      if (left <= 0 || child.exitCode !== null) return undefined
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = null
    }
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.stdin!.write('quit\n')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }
  if ((await take('ready', readyTimeoutMs)) === undefined) {
    await stop()
    throw new Error(`keep-alive client: not every connection answered within ${readyTimeoutMs} ms\n${errors.join('\n')}`)
  }
  return {
    async phase(during, recoverTimeoutMs) {
      queue.length = 0
      child.stdin!.write('mark\n')
      await during()
      await take('allRecovered', recoverTimeoutMs)
      child.stdin!.write('report\n')
      const report = await take('broken', 10000)
      if (report === undefined) throw new Error(`keep-alive client: no report\n${errors.join('\n')}`)
      return report as unknown as PhaseOutcome
    },
    stop,
  }
}
