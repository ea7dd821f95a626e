/** Spawning the nvlb CLI from TypeScript sources (no build needed). */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

export const ROOT = join(__dirname, '..', '..')
const ENTRY = join(ROOT, 'bin', 'nvlb.ts')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Environment without the NVLB_* variables of whoever runs the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NVLB_')) env[k] = v
  return { ...env, ...extra }
}

export function startNvlb(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

export function nvlb(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<CliResult> {
  const child = startNvlb(args, env)
  return collect(child)
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Waits until a line of the child's stdout satisfies `match`; rejects when the child exits first. */
export function waitForLine<T>(child: ChildProcess, match: (line: string) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    let seen = ''
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        seen += line + '\n'
        const found = match(line)
        if (found !== undefined) {
          child.stdout!.off('data', onData)
          child.off('exit', onExit)
          resolve(found)
          return
        }
      }
    }
    const onExit = (code: number | null) => reject(new Error(`nvlb exited (${code}) before the expected line; output:\n${seen}`))
    child.stdout!.on('data', onData)
    child.once('exit', onExit)
  })
}
