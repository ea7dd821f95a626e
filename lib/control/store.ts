/**
 * Persistent state of the control plane: one file, `<stateDir>/config.json`, holding
 *
 *   { "generation": 7, "savedAt": "2024-05-01T12:00:00.000Z", "config": { ...the configuration document... } }
 *
 * A save writes a temporary file in the same directory, fsyncs it, renames it over
 * `config.json` and fsyncs the directory, so after a crash (kill -9, power loss) the
 * file is either the old state or the new one, never a mix. A file that cannot be read
 * back is refused with NVLB_ERR_STATE_CORRUPT and left exactly as it is.
 */
import { promises as fs, constants as fsConstants } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { ErrorCodes, NvlbError } from '../errors'
import type { NvlbConfig } from './config-types'
import { validateConfig } from './config-validate'

export const STATE_FILE_NAME = 'config.json'
const TEMP_PREFIX = `${STATE_FILE_NAME}.tmp-`

export interface StoredState {
  generation: number
  config: NvlbConfig
}

export class Store {
  readonly dir: string
  readonly file: string

  private constructor(dir: string) {
    this.dir = dir
    this.file = join(dir, STATE_FILE_NAME)
  }

  /** Creates the directory (mode 0700) when missing and removes temporary files a crash left behind. */
  static async open(dir: string): Promise<Store> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 })
    const store = new Store(dir)
    for (const name of await fs.readdir(dir)) {
      if (name.startsWith(TEMP_PREFIX)) await fs.rm(join(dir, name), { force: true })
    }
    return store
  }

  /** The stored state, or null on a first start (no state file yet). */
  async load(): Promise<StoredState | null> {
    let text: string
    try {
      text = await fs.readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw this.corrupt(`cannot be read (${(err as Error).message})`)
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw this.corrupt(`is not valid JSON (${(err as Error).message})`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw this.corrupt('does not hold a JSON object')
    }
    const { generation, config } = parsed as { generation?: unknown; config?: unknown }
    if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 1) {
      throw this.corrupt(`has no valid "generation" (a positive integer), found ${JSON.stringify(generation)}`)
    }
    if (config === undefined) throw this.corrupt('has no "config" document')
    let valid: NvlbConfig
    try {
      valid = validateConfig(config)
    } catch (err) {
      throw this.corrupt(`holds a configuration that fails validation (${(err as Error).message})`)
    }
    return { generation, config: valid }
  }

  /** Atomically replaces the state file. On error the previous file is untouched. */
  async save(state: StoredState): Promise<void> {
    const text =
      JSON.stringify({ generation: state.generation, savedAt: new Date().toISOString(), config: state.config }, null, 2) + '\n'
    const temp = join(this.dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`)
    let handle: fs.FileHandle | undefined
    try {
      handle = await fs.open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600)
      await handle.writeFile(text, 'utf8')
      await handle.sync()
      await handle.close()
      handle = undefined
      await fs.rename(temp, this.file)
    } catch (err) {
      if (handle !== undefined) await handle.close().catch(() => undefined)
      await fs.rm(temp, { force: true }).catch(() => undefined)
      throw err
    }
    await syncDirectory(this.dir)
  }

  private corrupt(reason: string): NvlbError {
    return new NvlbError(
      ErrorCodes.STATE_CORRUPT,
      `state file ${this.file} ${reason}. nvlb will not overwrite it: repair or remove the file ` +
        '(or move it away and start with --config FILE)',
      undefined,
      500,
    )
  }
}

/**
 * Makes the rename durable. It runs after the rename, when the new state is already
 * the visible one, so a failure here cannot be reported as "nothing changed" and is
 * ignored (some file systems also refuse fsync on a directory).
 */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined
  try {
    handle = await fs.open(dir, fsConstants.O_RDONLY)
    await handle.sync()
  } catch {
    // see above
  } finally {
    await handle?.close().catch(() => undefined)
  }
}
