import { readFileSync } from 'node:fs'
import { NvlbError } from '../errors'
import type { NvlbConfig } from './config-types'
import { validateConfig } from './config-validate'

/**
 * Read and validate a configuration document from a file. Errors come back
 * as one line naming the file, the field and the reason.
 */
export function loadConfigFile(path: string): NvlbConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`)
  }
  try {
    return validateConfig(doc)
  } catch (err) {
    if (err instanceof NvlbError) throw new Error(`${path}: ${err.code} ${err.message}`)
    throw err
  }
}
