/** Shared pieces of the end-to-end tests: a deployment per test, clients inside namespaces, captures. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { deploy, type DeployOptions, type Deployment } from '../../examples/blue-red/deploy'
import { nodeMainCommand } from '../../examples/blue-red/topology'
import type { Answer, ConnStats } from './keepalive-client'

export type { Answer, ConnStats }

export const needsRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)'

interface Teardownable {
  teardown(fn: () => unknown): void
  comment(...args: unknown[]): void
}

/** A deployment removed in the test's teardown, also when the test fails. */
export async function deployForTest(t: Teardownable, options: DeployOptions = {}): Promise<Deployment> {
  let deployment: Deployment | undefined
  t.teardown(async () => {
    await deployment?.teardown()
  })
  const started = Date.now()
  deployment = await deploy(options)
  t.comment(`deployment '${deployment.prefix}' up in ${Date.now() - started} ms`)
  return deployment
}

/** test/e2e/keepalive-client.ts inside a namespace, one JSON answer per command. */
export class KeepaliveClient {
  private readonly child: ChildProcess
  private readonly waiting: Array<(line: string) => void> = []
  private readonly stderr: string[] = []
  private readonly exited: Promise<void>

  constructor(namespace: string, url: string, connections: number) {
    const argv = nodeMainCommand('test/e2e/keepalive-client', ['--url', url, '--connections', String(connections)])
    this.child = spawn('ip', ['netns', 'exec', namespace, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()))
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line))
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.waiting.shift()?.(line))
  }

  send<T>(command: string, timeoutMs = 30000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to '${command}': ${this.stderr.join('\n')}`)), timeoutMs)
      const onExit = (): void => reject(new Error(`keepalive client exited during '${command}': ${this.stderr.join('\n')}`))
      this.child.once('close', onExit)
      this.waiting.push((line) => {
        clearTimeout(timer)
        this.child.off('close', onExit)
        resolve(JSON.parse(line) as T)
      })
      this.child.stdin!.write(command + '\n')
    })
  }

  async request(): Promise<Answer[]> {
    return (await this.send<{ answers: Answer[] }>('request')).answers
  }

  async fresh(count: number): Promise<{ bodies: Record<string, number>; errors: string[] }> {
    return this.send('fresh ' + count, 60000)
  }

  async stats(command: 'stats' | 'stop' = 'stats'): Promise<ConnStats[]> {
    return (await this.send<{ conns: ConnStats[] }>(command)).conns
  }

  async close(): Promise<void> {
    this.child.stdin!.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Pids of processes whose network namespace is one of `<prefix>-*`. */
export function pidsInNamespaces(prefix: string): number[] {
  const dir = '/run/netns'
  if (!existsSync(dir)) return []
  const inodes = new Set(
    readdirSync(dir)
      .filter((name) => name.startsWith(`${prefix}-`))
      .map((name) => `net:[${statSync(join(dir, name)).ino}]`),
  )
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (inodes.has(readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return pids
}

/** A process as pid and start time, so that a recycled pid is not taken for the same process. */
export interface ProcessIdentity {
  pid: number
  startTime: string
  command: string
}

/** Start time of a live process; undefined when it is gone or only a zombie waiting to be reaped. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name: 3 (state) … 22 (starttime).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19]
  } catch {
    return undefined
  }
}

export function identify(pids: number[]): ProcessIdentity[] {
  return pids.flatMap((pid) => {
    const startTime = startTimeOf(pid)
    if (startTime === undefined) return []
    let command = ''
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 160)
    } catch {
      // exited meanwhile
    }
    return [{ pid, startTime, command }]
  })
}

/** The same process (pid and start time) still exists. */
export function alive(p: ProcessIdentity): boolean {
  return startTimeOf(p.pid) === p.startTime
}

export function namespacesWithPrefix(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(`${prefix}-`))
}

/** Resolve when `predicate` holds (polled), reject with `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 15000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** Lines of a child's stdout and stderr, and a way to wait for one. */
export class OutputWatcher {
  readonly lines: string[] = []
  private readonly waiters: Array<{ match: RegExp; resolve: (line: string) => void; reject: (err: Error) => void }> = []
  private closed = false

  constructor(child: ChildProcess) {
    child.once('close', (code, signal) => {
      this.closed = true
      for (const w of this.waiters.splice(0)) w.reject(new Error(`exited (${code ?? signal}) before a line matched ${w.match}:\n${this.lines.join('\n')}`))
    })
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line)
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          if (this.waiters[i]!.match.test(line)) this.waiters.splice(i, 1)[0]!.resolve(line)
        }
      })
    }
  }

  waitFor(match: RegExp, timeoutMs = 60000): Promise<string> {
    const seen = this.lines.find((line) => match.test(line))
    if (seen !== undefined) return Promise.resolve(seen)
    if (this.closed) return Promise.reject(new Error(`exited before a line matched ${match}:\n${this.lines.join('\n')}`))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${match} within ${timeoutMs} ms:\n${this.lines.join('\n')}`)), timeoutMs)
      this.waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer)
          resolve(line)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
    })
  }
}
