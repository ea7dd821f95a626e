/**
 * The configuration document as JSON text in chunks, for answers of tens of MB
 * (a million lookup records): each top-level section is written on its own and
 * list sections item by item, batched into chunks of about CHUNK_CHARS
 * characters, instead of one JSON.stringify of the whole document. The text is
 * what JSON.stringify(config) gives (same keys, same order, same values);
 * the document is immutable (the control plane replaces, never changes it), so
 * a reader that is slow to take the chunks sees one generation throughout.
 */
import { Readable } from 'node:stream'

const CHUNK_CHARS = 64 * 1024

/** JSON.stringify of one array item: what the whole document's serialization writes for it. */
function itemJson(item: unknown): string {
  return JSON.stringify(item) ?? 'null'
}

export function* configJsonChunks(config: object): Generator<string> {
  const doc = config as Record<string, unknown>
  let out = '{'
  let first = true
  for (const key of Object.keys(doc)) {
    const value = doc[key]
    const text = Array.isArray(value) ? undefined : JSON.stringify(value)
    // Members JSON leaves out (undefined, functions) are left out here too.
    if (!Array.isArray(value) && text === undefined) continue
    out += (first ? '' : ',') + JSON.stringify(key) + ':'
    first = false
    if (text !== undefined) {
      out += text
      continue
    }
    const list = value as unknown[]
    out += '['
    for (let i = 0; i < list.length; i++) {
      out += (i === 0 ? '' : ',') + itemJson(list[i])
      if (out.length >= CHUNK_CHARS) {
        yield out
        out = ''
      }
    }
    out += ']'
  }
  yield out + '}'
}

/** A byte stream of the document's JSON (UTF-8). */
export function configJsonStream(config: object): Readable {
  return Readable.from(configJsonChunks(config), { objectMode: false, encoding: 'utf8' })
}
