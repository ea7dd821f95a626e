/**
 * The admin API's bearer token: NVLB_TOKEN when set, otherwise the one stored
 * in `<stateDir>/token`, generated (mode 0600) on the first start.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const TOKEN_FILE = 'token'

export interface ResolvedToken {
  token: string
  /** The file the token came from or was written to; undefined when it came from NVLB_TOKEN. */
  path: string | undefined
  generated: boolean
}

export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE)
}

/** Reads `<stateDir>/token`; undefined when there is none. */
export function readTokenFile(stateDir: string): string | undefined {
  try {
    const token = readFileSync(tokenPath(stateDir), 'utf8').trim()
    return token === '' ? undefined : token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url')
}

/** The token `nvlb run` serves with: environment first, then the state dir, else a new one written there. */
export function resolveServerToken(stateDir: string, env: NodeJS.ProcessEnv = process.env): ResolvedToken {
  const fromEnv = env.NVLB_TOKEN
  if (fromEnv !== undefined && fromEnv !== '') return { token: fromEnv, path: undefined, generated: false }
  const stored = readTokenFile(stateDir)
  const path = tokenPath(stateDir)
  if (stored !== undefined) return { token: stored, path, generated: false }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  const token = generateToken()
  // 'wx': never overwrite a token another process wrote in the meantime.
  writeFileSync(path, token + '\n', { mode: 0o600, flag: 'wx' })
  return { token, path, generated: true }
}
