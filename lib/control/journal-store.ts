/**
 * The state dir's store: a base document and an append-only journal of change sets.
 *
 *   <stateDir>/config.json      { "generation": R, "savedAt": "…", "config": { … } }  (revision R)
 *   <stateDir>/config.journal   one line per change set after R:
 *                               `<crc32 hex> {"rev":R+1,"put":[[key,value],…],"remove":[…]}\n`
 *
 * A change appends one line and fdatasyncs the journal, so it writes what it
 * changes and nothing else. When the journal has grown past the base document
 * (and past 1 MiB), the base is rewritten (temporary file, fsync, rename, fsync
 * of the directory) and the journal emptied: compaction, amortized over the
 * changes that grew it.
 *
 * Crash safety (kill -9, power loss): a line is part of the state once its
 * fdatasync returned, and the change is acknowledged only then. A torn last line
 * (cut short, or its checksum does not match) is a write that never completed:
 * it is cut off at open. Lines at or below the base's revision were folded into
 * the base by a compaction whose truncation did not happen: they are skipped.
 * Anything else that does not read back (a bad line in the middle, a gap in the
 * revisions, a base that does not parse or validate) is NVLB_ERR_STATE_CORRUPT,
 * and the files are left exactly as they are.
 *
 * A state dir of earlier nvlb versions is `config.json` alone: it is this
 * store's base document as it is, so it loads unchanged and the journal starts
 * next to it.
 *
 * Chosen over SQLite (better-sqlite3) after measuring both on a 200,000-record
 * document: see the commit that introduced this file.
 */
import { constants as fsConstants, promises as fs } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { ErrorCodes, NvlbError } from '../errors'
import type { NvlbConfig } from './config-types'
import { validateOwnedConfig } from './config-validate'
import { StateLock } from './state-lock'
import {
  applyChangeSet,
  documentOf,
  resourcesOf,
  revisionConflict,
  type AppliedChangeSet,
  type ChangeSet,
  type ConfigStore,
  type StoredDocument,
} from './store'

export const STATE_FILE_NAME = 'config.json'
export const JOURNAL_FILE_NAME = 'config.journal'
const TEMP_PREFIX = `${STATE_FILE_NAME}.tmp-`
/** The journal is compacted once it is larger than this and than the base document. */
const MIN_COMPACT_BYTES = 1 << 20
/** A change set with more puts than this that replaces most of the document is written as the base. */
const BIG_CHANGE_PUTS = 1000

interface JournalEntry {
  rev: number
  put: Array<[string, unknown]>
  remove: string[]
  order?: Record<string, string[]>
}

function checksum(text: string): string {
  return crc32(text).toString(16).padStart(8, '0')
}

/** `doc` with `changes` applied (for a caller of apply() that does not hand the next document). */
function changedDocument(doc: Record<string, unknown>, changes: ChangeSet): Record<string, unknown> {
  const resources = new Map(resourcesOf(doc))
  applyChangeSet(resources, changes)
  return documentOf(resources)
}

/** About how many resources `doc` is (resourcesOf(doc).length for the known sections), without keying them. */
function resourceCount(doc: Record<string, unknown>): number {
  let count = 0
  for (const key of Object.keys(doc)) {
    const value = doc[key]
    if (value === undefined) continue
    count += key !== 'node' && Array.isArray(value) ? value.length + 1 : 1
  }
  return count
}

export class JournalStore implements ConfigStore {
  readonly dir: string
  /** The base document, for messages. */
  readonly file: string
  readonly journalFile: string
  /**
   * The stored document: what load() returned, then the document of each applied change
   * (the control plane's, which it hands to apply). No index of a million resource keys is
   * kept: a change set says what it writes, and a base is written from the document.
   */
  private document: Record<string, unknown> = {}
  /** Resources of the document (for the size of a change relative to it). */
  private resourceCount = 0
  private revision = 0
  private baseBytes = 0
  private journalBytes = 0
  private journalSynced = false
  private readonly listeners = new Set<(applied: AppliedChangeSet) => void>()

  private constructor(
    dir: string,
    private readonly lock: StateLock,
  ) {
    this.dir = dir
    this.file = join(dir, STATE_FILE_NAME)
    this.journalFile = join(dir, JOURNAL_FILE_NAME)
  }

  get location(): string {
    return this.file
  }

  /**
   * Creates the directory (mode 0700) when missing, takes its lock (one nvlb per
   * state dir: NVLB_ERR_STATE_LOCKED otherwise, with nothing touched) and removes
   * temporary files a crash left behind.
   */
  static async open(dir: string): Promise<JournalStore> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 })
    const store = new JournalStore(dir, StateLock.acquire(dir))
    for (const name of await fs.readdir(dir)) {
      if (name.startsWith(TEMP_PREFIX)) await fs.rm(join(dir, name), { force: true })
    }
    return store
  }

  /** The stored document (base + journal), or null on a first start. A torn last journal line is cut off. */
  async load(): Promise<StoredDocument | null> {
    const base = await this.loadBase()
    const list = base === null ? [] : resourcesOf(base.config as Record<string, unknown>)
    const resources = new Map(list)
    // Two items with one identity (a hand-edited base) would collapse into one resource.
    if (resources.size !== list.length) throw this.corrupt(this.file, 'holds two items with the same identity')
    this.revision = base?.generation ?? 0
    const replayed = await this.replayJournal(resources)
    if (base === null && replayed === 0) return null
    const doc = documentOf(resources)
    let config: NvlbConfig
    try {
      // Validated where it was parsed (no copy of a million objects).
      config = validateOwnedConfig(doc)
    } catch (err) {
      throw this.corrupt(this.journalBytes > 0 ? this.journalFile : this.file, `holds a configuration that fails validation (${(err as Error).message})`)
    }
    this.document = config as unknown as Record<string, unknown>
    this.resourceCount = resources.size
    return { revision: this.revision, config }
  }

  /** `next`: the document `changes` lead to, when the caller has it (the control plane does); else it is computed. */
  async apply(changes: ChangeSet, expectedRevision: number, next?: NvlbConfig): Promise<number> {
    if (expectedRevision !== this.revision) throw revisionConflict(expectedRevision, this.revision)
    const entry: JournalEntry = { rev: this.revision + 1, put: changes.put, remove: changes.remove }
    if (changes.order !== undefined) entry.order = changes.order
    const following = (next as Record<string, unknown> | undefined) ?? changedDocument(this.document, changes)
    if (changes.put.length > BIG_CHANGE_PUTS && changes.put.length * 2 > this.resourceCount) {
      // Most of the document (a first --config, a replace of everything): written as the new
      // base at once, rather than as a journal line that the compaction it triggers rewrites.
      return this.applyAsBase(changes, following)
    }
    const json = JSON.stringify(entry)
    const line = `${checksum(json)} ${json}\n`
    const bytes = Buffer.from(line, 'utf8')
    // Opened per change: a state dir removed or made unwritable underneath fails the change.
    const handle = await fs.open(this.journalFile, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_APPEND, 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.datasync()
      if (!this.journalSynced) {
        // The journal's directory entry must be durable too (once).
        await syncDirectory(this.dir)
        this.journalSynced = true
      }
    } catch (err) {
      // Nothing of this line counts: cut it off again so the next append starts clean.
      await handle.truncate(this.journalBytes).catch(() => undefined)
      throw err
    } finally {
      await handle.close().catch(() => undefined)
    }
    this.journalBytes += bytes.length
    this.revision = entry.rev
    this.document = following
    this.resourceCount = resourceCount(following)
    const applied = { revision: this.revision, changes }
    for (const listener of this.listeners) listener(applied)
    if (this.journalBytes > MIN_COMPACT_BYTES && this.journalBytes > this.baseBytes) await this.compact()
    return this.revision
  }

  watch(listener: (applied: AppliedChangeSet) => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  /**
   * A change set that replaces most of the document, made durable as the base at the
   * next revision (atomic: the rename); the resources are changed only once it is.
   */
  private async applyAsBase(changes: ChangeSet, following: Record<string, unknown>): Promise<number> {
    await this.writeBase(following, this.revision + 1)
    this.document = following
    this.resourceCount = resourceCount(following)
    this.revision++
    const applied = { revision: this.revision, changes }
    for (const listener of this.listeners) listener(applied)
    return this.revision
  }

  /** Rewrites the base document at the current revision and empties the journal. */
  async compact(): Promise<void> {
    await this.writeBase(this.document, this.revision)
  }

  /** Writes `config` as the base at `revision` (temporary file, fsync, rename) and empties the journal. */
  private async writeBase(config: Record<string, unknown>, revision: number): Promise<void> {
    const text = JSON.stringify({ generation: revision, savedAt: new Date().toISOString(), config }) + '\n'
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
    this.baseBytes = Buffer.byteLength(text)
    // The base now holds every journal line: they would be skipped at load; drop them.
    await this.truncateJournal(0)
    this.journalBytes = 0
  }

  /** Releases the state dir's lock; the store is not used afterwards. */
  close(): void {
    this.lock.release()
  }

  private async truncateJournal(length: number): Promise<void> {
    let handle: fs.FileHandle
    try {
      handle = await fs.open(this.journalFile, fsConstants.O_WRONLY)
    } catch (err) {
      // No journal yet (a first document written as the base): nothing to cut.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && length === 0) return
      throw err
    }
    try {
      await handle.truncate(length)
      await handle.datasync()
    } finally {
      await handle.close()
    }
  }

  private async loadBase(): Promise<{ generation: number; config: unknown } | null> {
    let text: string
    try {
      text = await fs.readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw this.corrupt(this.file, `cannot be read (${(err as Error).message})`)
    }
    this.baseBytes = Buffer.byteLength(text)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw this.corrupt(this.file, `is not valid JSON (${(err as Error).message})`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw this.corrupt(this.file, 'does not hold a JSON object')
    const { generation, config } = parsed as { generation?: unknown; config?: unknown }
    if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 1) {
      throw this.corrupt(this.file, `has no valid "generation" (a positive integer), found ${JSON.stringify(generation)}`)
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw this.corrupt(this.file, 'has no "config" document')
    return { generation, config }
  }

  /** Applies the journal's lines above the base revision; returns how many. Cuts off a torn last line. */
  private async replayJournal(resources: Map<string, unknown>): Promise<number> {
    let data: Buffer
    try {
      data = await fs.readFile(this.journalFile)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
      throw this.corrupt(this.journalFile, `cannot be read (${(err as Error).message})`)
    }
    this.journalSynced = true
    const read = data.length
    let offset = 0
    let replayed = 0
    let line = 0
    while (offset < read) {
      line++
      const newline = data.indexOf(0x0a, offset)
      const end = newline < 0 ? read : newline
      const entry = newline < 0 ? undefined : this.parseLine(data.toString('utf8', offset, end))
      if (entry === undefined) {
        // Torn: only the last line may be (a write that never completed).
        if (newline >= 0 && end + 1 < read) {
          throw this.corrupt(this.journalFile, `line ${line} does not read back (bad checksum or JSON) and is not the last one`)
        }
        await this.truncateJournal(offset)
        break
      }
      offset = end + 1
      if (entry.rev <= this.revision) continue
      if (entry.rev !== this.revision + 1) {
        throw this.corrupt(this.journalFile, `line ${line} has revision ${entry.rev} where ${this.revision + 1} comes next`)
      }
      applyChangeSet(resources, entry)
      this.revision = entry.rev
      replayed++
    }
    this.journalBytes = offset
    return replayed
  }

  private parseLine(text: string): JournalEntry | undefined {
    const space = text.indexOf(' ')
    if (space !== 8) return undefined
    const json = text.slice(9)
    if (checksum(json) !== text.slice(0, 8)) return undefined
    try {
      const entry = JSON.parse(json) as JournalEntry
      if (!Number.isSafeInteger(entry.rev) || !Array.isArray(entry.put) || !Array.isArray(entry.remove)) return undefined
      return entry
    } catch {
      return undefined
    }
  }

  private corrupt(file: string, reason: string): NvlbError {
    return new NvlbError(
      ErrorCodes.STATE_CORRUPT,
      `state file ${file} ${reason}. nvlb will not overwrite it: repair or remove the state dir's files ` +
        '(or move them away and start with --config FILE)',
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
