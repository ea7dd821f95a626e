/**
 * The state dir's journal store: a change writes one line, compaction, crash
 * safety (torn tails, interrupted compactions, kill -9 of a real writer),
 * corrupt files refused and left alone, and the upgrade from a config.json-only
 * state dir.
 */
import t from 'tap'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { JOURNAL_FILE_NAME, JournalStore, STATE_FILE_NAME } from '../../lib/control/journal-store'
import { applyChangeSet, changesBetween, documentOf, resourcesOf } from '../../lib/control/store'
import { LOCK_FILE_NAME } from '../../lib/control/state-lock'
import { validateConfig } from '../../lib/control/config-validate'
import { referenceConfig } from './reference-config'
import { configWithBackends } from './helpers/state-writer'

const KEPT = [STATE_FILE_NAME, JOURNAL_FILE_NAME, LOCK_FILE_NAME]

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function open(t: { teardown: (fn: () => void) => void }, dir: string): Promise<JournalStore> {
  const store = await JournalStore.open(dir)
  t.teardown(() => store.close())
  return store
}

/** Opens, loads and closes: what a restart sees. */
async function reload(dir: string) {
  const store = await JournalStore.open(dir)
  try {
    return await store.load()
  } finally {
    store.close()
  }
}

t.test('first start: nothing stored loads as null; the directory is created private', async (t) => {
  const dir = join(tempDir(t), 'nested', 'state')
  const store = await open(t, dir)
  t.ok(statSync(dir).isDirectory())
  t.equal(statSync(dir).mode & 0o777, 0o700, 'state dir is private')
  t.equal(store.location, join(dir, STATE_FILE_NAME))
  t.equal(await store.load(), null)
})

t.test('a change writes one journal line with only what it changes; a restart sees every change', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const big = validateConfig(configWithBackends(2000))
  t.equal(await store.apply(changesBetween(undefined, big), 0), 1)
  // A change of most of the document is written as the base at once, not as a journal line.
  t.notOk(existsSync(join(dir, JOURNAL_FILE_NAME)), 'the first document went to the base')
  t.equal(JSON.parse(readFileSync(join(dir, STATE_FILE_NAME), 'utf8')).generation, 1)
  const afterFirst = statSync(join(dir, STATE_FILE_NAME)).size
  const next = validateConfig(configWithBackends(2000))
  next.vips[0]!.rules[0]!.idleTimeoutSeconds = 99
  const changes = changesBetween(big, next)
  t.same(changes.put.map(([k]) => k), ['vips/blue-public'], 'one resource changed')
  t.same(changes.remove, [])
  t.equal(await store.apply(changes, 1), 2)
  const grown = statSync(join(dir, JOURNAL_FILE_NAME)).size
  t.ok(grown < 1000, `the second change wrote ${grown} bytes for a ${afterFirst}-byte document`)
  t.equal(statSync(join(dir, JOURNAL_FILE_NAME)).mode & 0o777, 0o600, 'journal is private')
  store.close()
  const loaded = await reload(dir)
  t.equal(loaded?.revision, 2)
  t.same(loaded?.config, next)
})

t.test('the expected revision must be the stored one: 412 otherwise, nothing written', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  await store.apply(changesBetween(undefined, validateConfig(referenceConfig())), 0)
  const before = readFileSync(join(dir, JOURNAL_FILE_NAME))
  await t.rejects(store.apply({ put: [], remove: ['vips/blue-public'] }, 0), { code: ErrorCodes.PRECONDITION_FAILED, statusCode: 412 })
  t.same(readFileSync(join(dir, JOURNAL_FILE_NAME)), before)
})

t.test('watch sees every applied change set in revision order', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const seen: number[] = []
  const stop = store.watch((a) => seen.push(a.revision))
  const a = validateConfig(referenceConfig())
  await store.apply(changesBetween(undefined, a), 0)
  await store.apply(changesBetween(a, a), 1)
  stop()
  await store.apply(changesBetween(a, a), 2)
  t.same(seen, [1, 2])
})

t.test('upgrade: a state dir holding only config.json (earlier nvlb) loads as it is, and changes go on from there', async (t) => {
  const dir = tempDir(t)
  const config = validateConfig(referenceConfig())
  // Exactly what the earlier store wrote.
  const old = JSON.stringify({ generation: 7, savedAt: '2026-11-30T10:00:00.000Z', config }, null, 2) + '\n'
  writeFileSync(join(dir, STATE_FILE_NAME), old, { mode: 0o600 })
  const store = await open(t, dir)
  const loaded = await store.load()
  t.equal(loaded?.revision, 7)
  t.same(loaded?.config, config)
  const next = validateConfig({ ...referenceConfig(), vips: referenceConfig().vips.slice(1) })
  t.equal(await store.apply(changesBetween(loaded!.config, next), 7), 8)
  t.equal(readFileSync(join(dir, STATE_FILE_NAME), 'utf8'), old, 'the old file is the base, untouched until a compaction')
  store.close()
  const again = await reload(dir)
  t.equal(again?.revision, 8)
  t.same(again?.config, next)
})

t.test('compaction folds the journal into the base once it outgrows it; a restart sees the same', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const small = validateConfig(configWithBackends(0))
  const large = validateConfig(configWithBackends(3000))
  let previous = small
  await store.apply(changesBetween(undefined, small), 0)
  let compacted = false
  for (let rev = 1; rev < 40 && !compacted; rev++) {
    const next = rev % 2 === 1 ? large : small
    await store.apply(changesBetween(previous, next), rev)
    previous = next
    if (statSync(join(dir, JOURNAL_FILE_NAME)).size === 0) compacted = true
  }
  t.ok(compacted, 'the journal was emptied')
  const base = JSON.parse(readFileSync(join(dir, STATE_FILE_NAME), 'utf8'))
  store.close()
  const loaded = await reload(dir)
  t.equal(base.generation, loaded?.revision, 'the base holds the latest revision')
  t.same(loaded?.config, previous)
  t.same(readdirSync(dir).sort(), [...KEPT].sort(), 'no temporary file left')
})

t.test('a torn last journal line (a write cut short) is cut off; the state before it loads', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const a = validateConfig(referenceConfig())
  await store.apply(changesBetween(undefined, a), 0)
  store.close()
  const journal = join(dir, JOURNAL_FILE_NAME)
  const good = readFileSync(journal)
  for (const torn of ['0badc0de {"rev":2,"put":[["vips/x"', '', `${'0'.repeat(8)} {"rev":2,"put":[],"remove":[]}\n`]) {
    writeFileSync(journal, Buffer.concat([good, Buffer.from(torn)]))
    const loaded = await reload(dir)
    t.equal(loaded?.revision, 1, `tail ${JSON.stringify(torn.slice(0, 20))}: revision 1`)
    t.same(readFileSync(journal), good, 'the torn tail is cut off')
  }
})

t.test('lines a compaction already folded into the base are skipped (crash between rename and truncate)', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const a = validateConfig(referenceConfig())
  const b = validateConfig({ ...referenceConfig(), vips: [] })
  await store.apply(changesBetween(undefined, a), 0)
  await store.apply(changesBetween(a, b), 1)
  const journal = readFileSync(join(dir, JOURNAL_FILE_NAME))
  await store.compact()
  store.close()
  writeFileSync(join(dir, JOURNAL_FILE_NAME), journal)
  const loaded = await reload(dir)
  t.equal(loaded?.revision, 2)
  t.same(loaded?.config, b)
})

t.test('a journal that does not read back in the middle, or skips a revision, is refused and left as it is', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const a = validateConfig(referenceConfig())
  await store.apply(changesBetween(undefined, a), 0)
  await store.apply(changesBetween(a, a), 1)
  store.close()
  const journal = join(dir, JOURNAL_FILE_NAME)
  const lines = readFileSync(journal, 'utf8').split('\n')
  const cases: Array<[string, string, RegExp]> = [
    ['bad middle line', [lines[0]!.replace('"rev":1', '"rev":9'), lines[1], ''].join('\n'), /line 1 does not read back/],
    ['revision gap', [lines[1], ''].join('\n'), /line 1 has revision 2 where 1 comes next/],
  ]
  for (const [name, content, message] of cases) {
    writeFileSync(journal, content)
    const err = await reload(dir).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof NvlbError, name)
    t.equal((err as NvlbError).code, ErrorCodes.STATE_CORRUPT, name)
    t.match((err as NvlbError).message, message, name)
    t.equal(readFileSync(journal, 'utf8'), content, `${name}: untouched`)
  }
})

t.test('order survives: a reordered document comes back in its order', async (t) => {
  const dir = tempDir(t)
  const store = await open(t, dir)
  await store.load()
  const a = validateConfig(referenceConfig())
  const b = validateConfig({ ...referenceConfig(), vips: [...referenceConfig().vips].reverse() })
  await store.apply(changesBetween(undefined, a), 0)
  const changes = changesBetween(a, b)
  t.same(changes.put, [], 'nothing changed but the order')
  t.ok(changes.order?.vips !== undefined)
  await store.apply(changes, 1)
  store.close()
  t.same((await reload(dir))?.config, b)
})

t.test('changesBetween + applyChangeSet turn any document into any other (property)', async (t) => {
  const item = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd', 'e'), v: fc.integer({ min: 0, max: 3 }) })
  const doc = fc.record(
    {
      node: fc.record({ x: fc.integer({ min: 0, max: 2 }) }),
      pools: fc.uniqueArray(item, { maxLength: 5, selector: (i) => i.name }),
      vips: fc.uniqueArray(item, { maxLength: 5, selector: (i) => i.name }),
      probes: fc.array(fc.record({ v: fc.integer() }), { maxLength: 2 }),
      // Not a known section: named items become resources unless a name repeats.
      extras: fc.array(item, { maxLength: 4 }),
    },
    { requiredKeys: ['node'] },
  )
  fc.assert(
    fc.property(doc, doc, (a, b) => {
      const resources = new Map(resourcesOf(a))
      applyChangeSet(resources, changesBetween(a, b))
      const rebuilt = documentOf(resources)
      const expected = JSON.parse(JSON.stringify(b))
      return JSON.stringify(Object.keys(rebuilt).sort()) === JSON.stringify(Object.keys(expected).sort()) &&
        Object.keys(expected).every((k) => JSON.stringify(rebuilt[k]) === JSON.stringify(expected[k]))
    }),
    { numRuns: 2000 },
  )
  t.pass('2000 random pairs')
})

const corruptFiles: Array<[string, string]> = [
  ['garbage bytes', '\u0000\u0001garbage\uFFFD'],
  ['empty file', ''],
  ['truncated JSON', JSON.stringify({ generation: 2, config: referenceConfig() }).slice(0, 200)],
  ['a JSON array', '[1,2,3]'],
  ['no generation', JSON.stringify({ config: referenceConfig() })],
  ['generation zero', JSON.stringify({ generation: 0, config: referenceConfig() })],
  ['generation a string', JSON.stringify({ generation: '2', config: referenceConfig() })],
  ['no config', JSON.stringify({ generation: 2 })],
  ['valid JSON, invalid configuration', JSON.stringify({ generation: 2, config: { ...referenceConfig(), pools: [] } })],
  ['two records of one identity', JSON.stringify({ generation: 2, config: { ...referenceConfig(), lookupRecords: [referenceConfig().lookupRecords[1], ...referenceConfig().lookupRecords] } })],
]

for (const [name, content] of corruptFiles) {
  t.test(`a corrupt base file is refused and left untouched: ${name}`, async (t) => {
    const dir = tempDir(t)
    const file = join(dir, STATE_FILE_NAME)
    writeFileSync(file, content)
    const store = await open(t, dir)
    const err = await store.load().then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof NvlbError, 'NvlbError')
    t.equal((err as NvlbError).code, ErrorCodes.STATE_CORRUPT)
    t.match((err as NvlbError).message, file, 'the message names the file')
    t.match((err as NvlbError).message, 'will not overwrite', 'the message says it is not replaced')
    t.equal(readFileSync(file, 'utf8'), content, 'file untouched')
  })
}

t.test('the reason of a configuration that fails validation is in the message', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, STATE_FILE_NAME), JSON.stringify({ generation: 2, config: { ...referenceConfig(), pools: [] } }))
  await t.rejects(reload(dir), { message: /pool 'blue-web' does not exist/ })
})

t.test('open removes temporary files a crash left behind, and nothing else', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, `${STATE_FILE_NAME}.tmp-123-abcd`), '{"gener')
  writeFileSync(join(dir, 'token'), 'secret')
  await open(t, dir)
  t.same(readdirSync(dir).sort(), [LOCK_FILE_NAME, 'token'])
})

t.test('a failed write (state dir gone) fails the change and leaves the store where it was', async (t) => {
  const dir = tempDir(t)
  const stateDir = join(dir, 'state')
  const store = await open(t, stateDir)
  await store.load()
  const a = validateConfig(referenceConfig())
  await store.apply(changesBetween(undefined, a), 0)
  rmSync(stateDir, { recursive: true })
  writeFileSync(stateDir, 'not a directory')
  await t.rejects(store.apply(changesBetween(a, a), 1))
  await t.rejects(store.apply(changesBetween(a, a), 2), { code: ErrorCodes.PRECONDITION_FAILED }, 'still at revision 1')
})

/** Reads `saved N` lines from a child until `count` saves have been reported. */
function waitForSaves(child: ReturnType<typeof spawn>, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    let saves = 0
    let last = 0
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8')
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        const m = /^saved (\d+)$/.exec(line)
        if (m === null) continue
        last = Number(m[1])
        if (++saves >= count) {
          child.stdout!.off('data', onData)
          resolve(last)
          return
        }
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`writer exited early with code ${code}`)))
  })
}

t.test('kill -9 during a stream of writes never leaves a state file that fails to load', async (t) => {
  const dir = tempDir(t)
  const script = join(__dirname, 'helpers', 'state-writer.ts')
  const rounds = 8
  let lastConfirmed = 0
  let tornWrites = 0
  for (let round = 0; round < rounds; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
    // A random number of completed saves, then SIGKILL while the next one is in progress.
    const confirmed = await waitForSaves(child, 1 + Math.floor(Math.random() * 12))
    // The kill moment is random on purpose: up to ~10 ms into the save that follows.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10))
    child.kill('SIGKILL')
    t.equal(await exited, 'SIGKILL', `round ${round}: the writer was killed`)

    if (readdirSync(dir).some((name) => !KEPT.includes(name))) tornWrites++
    const store = await JournalStore.open(dir)
    t.teardown(() => store.close())
    t.same(
      readdirSync(dir).filter((name) => !KEPT.includes(name)),
      [],
      `round ${round}: open removed any half-written temporary file`,
    )
    const state = await store.load()
    t.ok(state !== null, `round ${round}: the state file loads`)
    t.ok(state!.revision >= confirmed, `round ${round}: every confirmed save survived (${state!.revision} ≥ ${confirmed})`)
    t.ok(state!.revision > lastConfirmed, `round ${round}: progress since the previous round`)
    // Before the first compaction the state is the journal alone (an empty dir has no base document yet).
    t.ok(existsSync(store.file) || existsSync(store.journalFile), `round ${round}: the state is on disk`)
    store.close()
    lastConfirmed = confirmed
  }
  t.comment(`${tornWrites} of ${rounds} kills interrupted a save (a temporary file was left)`)
})
