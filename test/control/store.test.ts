import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { STATE_FILE_NAME, Store } from '../../lib/control/store'
import { LOCK_FILE_NAME } from '../../lib/control/state-lock'
import { validateConfig } from '../../lib/control/config-validate'
import { referenceConfig } from './reference-config'

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('first start: no state file loads as null; the directory is created', async (t) => {
  const dir = join(tempDir(t), 'nested', 'state')
  const store = await Store.open(dir)
  t.ok(statSync(dir).isDirectory())
  t.equal(statSync(dir).mode & 0o777, 0o700, 'state dir is private')
  t.equal(store.file, join(dir, STATE_FILE_NAME))
  t.equal(await store.load(), null)
})

t.test('save then load returns the same generation and document', async (t) => {
  const dir = tempDir(t)
  const store = await Store.open(dir)
  const config = validateConfig(referenceConfig())
  await store.save({ generation: 3, config })
  const loaded = await store.load()
  t.equal(loaded?.generation, 3)
  t.same(loaded?.config, config)
  const onDisk = JSON.parse(readFileSync(store.file, 'utf8'))
  t.equal(onDisk.generation, 3)
  t.type(onDisk.savedAt, 'string')
  t.same(onDisk.config, config)
  t.equal(statSync(store.file).mode & 0o777, 0o600, 'state file is private')
  t.same(readdirSync(dir).sort(), [STATE_FILE_NAME, LOCK_FILE_NAME].sort(), 'no temporary file is left behind')

  await store.save({ generation: 4, config: validateConfig({ ...referenceConfig(), vips: [] }) })
  store.close()
  t.equal((await (await Store.open(dir)).load())?.generation, 4, 'a second save replaces the first')
})

t.test('open removes temporary files a crash left behind, and nothing else', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, `${STATE_FILE_NAME}.tmp-123-abcd`), '{"gener')
  writeFileSync(join(dir, 'token'), 'secret')
  await Store.open(dir)
  t.same(readdirSync(dir).sort(), [LOCK_FILE_NAME, 'token'])
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
]

for (const [name, content] of corruptFiles) {
  t.test(`a corrupt state file is refused and left untouched: ${name}`, async (t) => {
    const dir = tempDir(t)
    const file = join(dir, STATE_FILE_NAME)
    writeFileSync(file, content)
    const store = await Store.open(dir)
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
  await t.rejects((await Store.open(dir)).load(), { message: /pool 'blue-web' does not exist/ })
})

t.test('a state file that is a directory cannot be read: refused', async (t) => {
  const dir = tempDir(t)
  const { mkdirSync } = await import('node:fs')
  mkdirSync(join(dir, STATE_FILE_NAME))
  await t.rejects((await Store.open(dir)).load(), { code: ErrorCodes.STATE_CORRUPT })
})

t.test('a failed save leaves the previous state file as it was', async (t) => {
  const dir = tempDir(t)
  const store = await Store.open(dir)
  await store.save({ generation: 1, config: validateConfig(referenceConfig()) })
  const before = readFileSync(store.file)
  // A value JSON cannot represent makes the save fail before anything is written.
  const broken = { ...validateConfig(referenceConfig()), extra: 1n } as any
  await t.rejects(store.save({ generation: 2, config: broken }))
  t.same(readFileSync(store.file), before)
  t.same(readdirSync(dir).sort(), [STATE_FILE_NAME, LOCK_FILE_NAME].sort())
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

    if (readdirSync(dir).some((name) => name !== STATE_FILE_NAME && name !== LOCK_FILE_NAME)) tornWrites++
    const store = await Store.open(dir)
    t.teardown(() => store.close())
    t.same(
      readdirSync(dir).filter((name) => name !== STATE_FILE_NAME && name !== LOCK_FILE_NAME),
      [],
      `round ${round}: open removed any half-written temporary file`,
    )
    const state = await store.load()
    t.ok(state !== null, `round ${round}: the state file loads`)
    t.ok(state!.generation >= confirmed, `round ${round}: every confirmed save survived (${state!.generation} ≥ ${confirmed})`)
    t.ok(state!.generation > lastConfirmed, `round ${round}: progress since the previous round`)
    t.ok(existsSync(store.file))
    store.close()
    lastConfirmed = confirmed
  }
  t.comment(`${tornWrites} of ${rounds} kills interrupted a save (a temporary file was left)`)
})
