/**
 * All error codes live in lib/errors.ts: each one is unique,
 * spelled NVLB_ERR_<KEY>, and used somewhere in lib/ or bin/.
 */
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, NvlbError } from '../lib/errors'

const ROOT = join(__dirname, '..')

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sources(path))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

t.test('codes are unique and spelled NVLB_ERR_<KEY>', async (t) => {
  const entries = Object.entries(ErrorCodes)
  t.ok(entries.length > 0)
  const values = entries.map(([, v]) => v)
  t.equal(new Set(values).size, values.length, 'no two codes share a value')
  for (const [key, value] of entries) {
    t.match(value, /^NVLB_ERR_[A-Z0-9_]+$/, `${key} is an NVLB_ERR_* code`)
    t.equal(value, `NVLB_ERR_${key}`, `${key}'s value repeats its key`)
  }
})

t.test('every code is used in lib/ or bin/ outside lib/errors.ts', async (t) => {
  const errorsFile = join(ROOT, 'lib', 'errors.ts')
  const text = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'bin'))]
    .filter((f) => f !== errorsFile)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n')
  for (const [key, value] of Object.entries(ErrorCodes)) {
    const used = new RegExp(`ErrorCodes\\.${key}\\b`).test(text) || text.includes(`'${value}'`) || text.includes(`"${value}"`)
    t.ok(used, `${value} is used`)
  }
})

t.test('NvlbError carries code, field and status', async (t) => {
  const err = new NvlbError(ErrorCodes.UNKNOWN_POOL, "pool 'x' does not exist", 'vips[0].rules[0].pool')
  t.equal(err.code, 'NVLB_ERR_UNKNOWN_POOL')
  t.equal(err.field, 'vips[0].rules[0].pool')
  t.equal(err.statusCode, 400)
  t.equal(err.message, "vips[0].rules[0].pool: pool 'x' does not exist")
  t.equal(new NvlbError(ErrorCodes.NOT_FOUND, 'gone', undefined, 404).message, 'gone')
})
