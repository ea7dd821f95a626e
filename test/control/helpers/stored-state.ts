/**
 * What a state dir holds, read the way the journal store reads it but without
 * opening the store (whose lock the running control plane holds): the base
 * document plus every journal line that reads back.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { JOURNAL_FILE_NAME, STATE_FILE_NAME } from '../../../lib/control/journal-store'
import { applyChangeSet, documentOf, resourcesOf, type ChangeSet } from '../../../lib/control/store'

export { JOURNAL_FILE_NAME, STATE_FILE_NAME }

export function storedState(dir: string): { generation: number; config: any; journalLines: number } {
  const basePath = join(dir, STATE_FILE_NAME)
  const base = existsSync(basePath) ? JSON.parse(readFileSync(basePath, 'utf8')) : { generation: 0, config: {} }
  const resources = new Map(resourcesOf(base.config))
  let generation = base.generation as number
  let journalLines = 0
  const journalPath = join(dir, JOURNAL_FILE_NAME)
  if (existsSync(journalPath)) {
    for (const line of readFileSync(journalPath, 'utf8').split('\n')) {
      if (line === '') continue
      const json = line.slice(9)
      if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) break
      const entry = JSON.parse(json) as ChangeSet & { rev: number }
      journalLines++
      if (entry.rev <= generation) continue
      applyChangeSet(resources, entry)
      generation = entry.rev
    }
  }
  return { generation, config: documentOf(resources), journalLines }
}

/** Every byte the state dir holds for the configuration (base, then journal). */
export function stateBytes(dir: string): Buffer {
  const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : Buffer.alloc(0))
  return Buffer.concat([read(STATE_FILE_NAME), Buffer.from('\n--journal--\n'), read(JOURNAL_FILE_NAME)])
}
