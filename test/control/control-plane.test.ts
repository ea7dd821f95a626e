import t from 'tap'
import pino from 'pino'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { ControlPlane } from '../../lib/control/control-plane'
import { STATE_FILE_NAME, JOURNAL_FILE_NAME, stateBytes, storedState } from './helpers/stored-state'
import { flowTableField, interfaceFields, providerMtuField } from '../../lib/control/fixed-fields'
import type { NvlbConfig } from '../../lib/control/config-types'
import { minimalConfig, referenceConfig } from './reference-config'
import { documentOf, invalidConfigs } from './invalid-configs'

interface TestSnapshot {
  generation: number
  vips: number
  backends: number
}

const compile = (config: NvlbConfig, generation: number): TestSnapshot => ({
  generation,
  vips: config.vips.length,
  backends: config.pools.reduce((n, p) => n + p.backends.length, 0),
})

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-cp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A pino logger whose lines are collected as objects. */
function captureLogger(): { logger: pino.Logger; lines: any[] } {
  const lines: any[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  return { logger, lines }
}

async function openPlane(t: any, dir: string, extra: { initialConfig?: unknown; compile?: typeof compile } = {}) {
  const { logger, lines } = captureLogger()
  const plane = await ControlPlane.open<TestSnapshot>({ stateDir: dir, logger, compile: extra.compile ?? compile, initialConfig: extra.initialConfig })
  t.teardown(() => plane.close())
  return { plane, lines }
}

const changes = (lines: any[]) => lines.filter((l) => l.msg === 'configuration changed')

t.test('a first start has generation 0, an empty document and is not ready', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  t.equal(plane.generation, 0)
  t.equal(plane.ready, false)
  t.equal(plane.snapshot, undefined)
  t.same(plane.config, { node: {}, neighbors: [], lookupRecords: [], customerRoutes: [], pools: [], vips: [] })
  let calls = 0
  plane.subscribe(() => calls++)
  t.equal(calls, 0, 'no snapshot to announce yet')
  t.notOk(existsSync(join(dir, STATE_FILE_NAME)), 'nothing written before the first change')
  t.notOk(existsSync(join(dir, JOURNAL_FILE_NAME)), 'no journal either')
})

t.test('replace validates, compiles, persists, publishes and logs once', async (t) => {
  const dir = tempDir(t)
  const { plane, lines } = await openPlane(t, dir)
  const seen: Array<[TestSnapshot, number]> = []
  plane.subscribe((s, g) => seen.push([s, g]))

  const applied = await plane.replace(referenceConfig(), 0)
  t.equal(applied.generation, 1)
  t.equal(plane.generation, 1)
  t.equal(plane.ready, true)
  t.same(plane.snapshot, { generation: 1, vips: 4, backends: 6 })
  t.equal(applied.config, plane.config)
  t.equal(plane.config.lookupRecords[2]!.macAddress, '00:15:5d:01:06:21', 'the running document is normalized')
  t.same(seen, [[{ generation: 1, vips: 4, backends: 6 }, 1]], 'listener called once, synchronously with the change')
  t.match(applied.summary, /^initial configuration: .*4 VIPs/)

  const logged = changes(lines)
  t.equal(logged.length, 1)
  t.equal(logged[0].generation, 1)
  t.equal(logged[0].summary, applied.summary)
  t.equal(logged[0].level, 30, 'info')

  const onDisk = storedState(dir)
  t.equal(onDisk.generation, 1)
  t.same(onDisk.config, plane.config)

  const second = await plane.update((draft) => {
    draft.pools[0]!.backends[1]!.state = 'draining'
  })
  t.equal(second.generation, 2)
  t.equal(second.summary, 'pools: blue-web changed (backend 5001/10.1.6.21 state active→draining)')
  t.equal(changes(lines)[1].summary, second.summary)
  t.equal(seen.length, 2)
})

t.test('a late subscriber gets the current snapshot at once; unsubscribe stops calls', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const seen: number[] = []
  const unsubscribe = plane.subscribe((_s, g) => seen.push(g))
  t.same(seen, [1])
  await plane.update((d) => void (d.vips = []))
  t.same(seen, [1, 2])
  unsubscribe()
  await plane.update((d) => void (d.pools = []))
  t.same(seen, [1, 2])
})

t.test('a listener that throws does not undo the change and is logged', async (t) => {
  const dir = tempDir(t)
  const { plane, lines } = await openPlane(t, dir)
  plane.subscribe(() => {
    throw new Error('listener broke')
  })
  let after = 0
  plane.subscribe(() => after++)
  const applied = await plane.replace(referenceConfig())
  t.equal(applied.generation, 1)
  t.equal(after, 1, 'the other listeners still run')
  t.ok(lines.some((l) => l.level === 50 && l.err?.message === 'listener broke'))
})

t.test('the running document is deep-frozen; edits go through update', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  t.throws(() => {
    ;(plane.config.pools[0]!.backends[0] as any).weight = 9
  })
  t.throws(() => {
    plane.config.vips.push({} as any)
  })
  await plane.update((draft) => {
    draft.pools[0]!.backends[0]!.weight = 9
  })
  t.equal(plane.config.pools[0]!.backends[0]!.weight, 9)
})

t.test(`each of ${invalidConfigs.length} invalid documents is refused; config, snapshot and state file unchanged`, async (t) => {
  const dir = tempDir(t)
  const { plane, lines } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const bytes = stateBytes(dir)
  const config = JSON.stringify(plane.config)
  const snapshot = plane.snapshot
  let published = 0
  plane.subscribe(() => published++)
  published = 0

  for (const c of invalidConfigs) {
    const err = await plane.replace(documentOf(c), 1).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof NvlbError, `${c.name}: refused`)
    t.equal((err as NvlbError).code, c.code, `${c.name}: code`)
    t.equal((err as NvlbError).field, c.field, `${c.name}: field`)
    t.equal(plane.generation, 1, `${c.name}: generation unchanged`)
  }
  t.equal(JSON.stringify(plane.config), config, 'running document unchanged')
  t.equal(plane.snapshot, snapshot, 'snapshot unchanged')
  t.same(stateBytes(dir), bytes, 'state files byte for byte unchanged')
  t.equal(published, 0, 'nothing published')
  t.equal(changes(lines).length, 1, 'only the first, valid change was logged')
})

t.test('invalid edits through update are refused the same way', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const bytes = stateBytes(dir)
  const config = JSON.stringify(plane.config)

  await t.rejects(
    plane.update((d) => void (d.vips[0]!.rules[0]!.pool = 'nope')),
    { code: ErrorCodes.UNKNOWN_POOL, field: 'vips[0].rules[0].pool', statusCode: 400 },
  )
  await t.rejects(
    plane.update((d) => void d.pools[0]!.backends.push({ virtualSubnetId: 5001, address: '10.1.6.99', weight: 1, state: 'active' })),
    { code: ErrorCodes.NO_LOOKUP_RECORD, field: 'pools[0].backends[4].address' },
  )
  await t.rejects(
    plane.update((d) => void d.pools.splice(0, 1)),
    { code: ErrorCodes.UNKNOWN_POOL, message: /pool 'blue-web' does not exist/ },
    'removing a pool a VIP uses',
  )
  await t.rejects(
    plane.update(() => {
      throw new NvlbError(ErrorCodes.NOT_FOUND, "pool 'green' does not exist", undefined, 404)
    }),
    { code: ErrorCodes.NOT_FOUND, statusCode: 404 },
    'an error thrown by the edit passes through',
  )
  await t.rejects(
    plane.update((d) => {
      d.vips = []
      throw new NvlbError(ErrorCodes.DUPLICATE_NAME, 'exists', 'name', 409)
    }),
    { code: ErrorCodes.DUPLICATE_NAME, statusCode: 409 },
    'a half-done edit that throws changes nothing',
  )
  t.equal(plane.generation, 1)
  t.equal(JSON.stringify(plane.config), config)
  t.same(stateBytes(dir), bytes)
})

t.test('a failing compile changes nothing', async (t) => {
  const dir = tempDir(t)
  let fail = false
  const { plane } = await openPlane(t, dir, {
    compile: (c, g) => {
      if (fail) throw new NvlbError(ErrorCodes.INVALID_CONFIG, 'cannot compile', 'vips')
      return compile(c, g)
    },
  })
  await plane.replace(referenceConfig())
  const bytes = stateBytes(dir)
  fail = true
  await t.rejects(plane.update((d) => void (d.vips = [])), { code: ErrorCodes.INVALID_CONFIG, field: 'vips' })
  t.equal(plane.generation, 1)
  t.equal(plane.config.vips.length, 4)
  t.equal(plane.snapshot!.generation, 1)
  t.same(stateBytes(dir), bytes)
})

t.test('a failing disk write changes nothing in memory', async (t) => {
  const dir = tempDir(t)
  const stateDir = join(dir, 'state')
  const { plane } = await openPlane(t, stateDir)
  await plane.replace(referenceConfig())
  rmSync(stateDir, { recursive: true })
  writeFileSync(stateDir, 'not a directory')
  await t.rejects(plane.update((d) => void (d.vips = [])))
  t.equal(plane.generation, 1)
  t.equal(plane.config.vips.length, 4)
  t.equal(plane.snapshot!.generation, 1)
})

t.test('the packet path gets a change only once it is written; a failing write leaves it on the old snapshot', async (t) => {
  const dir = tempDir(t)
  const stateDir = join(dir, 'state')
  const { plane } = await openPlane(t, stateDir)
  await plane.replace(referenceConfig())
  const seen: number[] = []
  const storedAtPublish: number[] = []
  plane.subscribe((_snapshot, generation) => {
    seen.push(generation)
    storedAtPublish.push(storedState(stateDir).generation)
  })
  await plane.update((d) => void (d.vips = d.vips.slice(1)))
  t.same(seen, [1, 2])
  t.same(storedAtPublish, [1, 2], 'generation 2 was on disk when the packet path got it')
  t.equal(plane.generation, 2)
  rmSync(stateDir, { recursive: true })
  writeFileSync(stateDir, 'not a directory')
  await t.rejects(plane.update((d) => void (d.vips = [])))
  t.same(seen, [1, 2], 'the packet path never saw generation 3')
  t.equal(plane.snapshot!.generation, 2)
  t.equal(plane.generation, 2)
})

t.test('a change is answered only once the packet workers run it (awaitRunning)', async (t) => {
  const dir = tempDir(t)
  const { logger } = captureLogger()
  const waits: Array<{ generation: number; stored: number; published: number; resolve: () => void }> = []
  let published = 0
  const plane = await ControlPlane.open<TestSnapshot>({
    stateDir: dir,
    logger,
    compile,
    awaitRunning: (generation) =>
      new Promise<void>((resolve) => {
        const stored = storedState(dir).generation
        waits.push({ generation, stored, published, resolve })
      }),
  })
  t.teardown(() => plane.close())
  plane.subscribe((_s, g) => void (published = g))
  let answered = false
  const change = plane.replace(referenceConfig()).then((a) => {
    answered = true
    return a
  })
  while (waits.length === 0) await new Promise((r) => setImmediate(r))
  t.match(waits[0], { generation: 1, stored: 1, published: 1 }, 'asked after the write and the publication')
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  t.equal(answered, false, 'not answered while the workers have not run it')
  t.equal(plane.generation, 1, 'committed: later changes build on it')
  waits[0]!.resolve()
  t.equal((await change).generation, 1)
  t.equal(answered, true)
})

t.test('workers that do not run a change in time: 503 NVLB_ERR_NOT_RUNNING, the change stays stored', async (t) => {
  const dir = tempDir(t)
  const { logger, lines } = captureLogger()
  const plane = await ControlPlane.open<TestSnapshot>({
    stateDir: dir,
    logger,
    compile,
    awaitRunning: () => new Promise<void>(() => undefined),
    runningTimeoutMs: 50,
  })
  t.teardown(() => plane.close())
  await t.rejects(plane.replace(referenceConfig()), { code: ErrorCodes.NOT_RUNNING, statusCode: 503, message: /stored as generation 1, but/ })
  t.equal(plane.generation, 1)
  t.equal(storedState(dir).generation, 1)
  t.ok(lines.some((l) => l.level === 50 && /did not run/.test(l.msg)), 'logged as an error')
})

t.test('If-Match: the running generation passes, any other gets 412', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await t.rejects(plane.replace(referenceConfig(), 1), { code: ErrorCodes.PRECONDITION_FAILED, statusCode: 412 })
  await plane.replace(referenceConfig(), 0)
  await plane.update((d) => void (d.vips = []), 1)
  const stale = await plane.update((d) => void (d.pools = []), 1).then(
    () => undefined,
    (e: unknown) => e as NvlbError,
  )
  t.equal(stale?.code, ErrorCodes.PRECONDITION_FAILED)
  t.equal(stale?.statusCode, 412)
  t.match(stale?.message, /generation 1.*running one is 2/)
  t.equal(plane.generation, 2)
  t.equal(plane.config.pools.length, 2, 'the stale write did nothing')
  await t.rejects(plane.replace(referenceConfig(), 3), { code: ErrorCodes.PRECONDITION_FAILED, statusCode: 412 }, 'a future generation is also refused')
  const ok = await plane.replace(referenceConfig(), 2)
  t.equal(ok.generation, 3)
})

t.test('concurrent If-Match writes from one generation: exactly one wins', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => plane.update((d) => void (d.pools[0]!.backends[0]!.weight = i + 2), 1)),
  )
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
  for (const r of results) {
    if (r.status === 'rejected') t.equal((r.reason as NvlbError).code, ErrorCodes.PRECONDITION_FAILED)
  }
  t.equal(plane.generation, 2)
  t.equal(plane.config.pools[0]!.backends[0]!.weight, 2, 'the first in arrival order won')
})

t.test('many parallel updates: all applied in arrival order, generations strictly increasing, no lost update', async (t) => {
  const dir = tempDir(t)
  const { plane, lines } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const published: number[] = []
  plane.subscribe((_s, g) => published.push(g))
  published.length = 0
  const count = 60
  const order: number[] = []
  const pending = Array.from({ length: count }, (_, i) =>
    plane
      .update((draft) => {
        const backend = draft.pools[0]!.backends[i % 4]!
        backend.weight += 1
        ;(draft as any).touchedBy = i
      })
      .then((applied) => {
        order.push(applied.generation)
        return applied
      }),
  )
  const applied = await Promise.all(pending)
  t.same(
    applied.map((a) => a.generation),
    Array.from({ length: count }, (_, i) => i + 2),
    'the i-th request got generation i + 2',
  )
  t.same(order, [...order].sort((a, b) => a - b), 'generations resolve in strictly increasing order')
  t.same(published, applied.map((a) => a.generation), 'every generation was published once, in order')
  t.equal(plane.generation, count + 1)
  t.same(
    plane.config.pools[0]!.backends.map((b) => b.weight),
    [1 + count / 4, 1 + count / 4, 1 + count / 4, 1 + count / 4],
    'no update was lost',
  )
  t.equal((plane.config as any).touchedBy, count - 1)
  t.equal(changes(lines).length, count + 1, 'every change logged once')
  const onDisk = storedState(dir)
  t.equal(onDisk.generation, count + 1)
  t.same(onDisk.config, plane.config)
})

t.test('a failed change in a queue of changes does not disturb the others', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const results = await Promise.allSettled([
    plane.update((d) => void (d.pools[0]!.backends[0]!.weight = 5)),
    plane.update((d) => void (d.vips[0]!.rules[0]!.pool = 'missing')),
    plane.update((d) => void (d.pools[0]!.backends[1]!.weight = 6)),
  ])
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  )
  t.equal(plane.generation, 3)
  t.same(plane.config.pools[0]!.backends.slice(0, 2).map((b) => b.weight), [5, 6])
})

t.test('restart: the stored generation and document come back', async (t) => {
  const dir = tempDir(t)
  const first = await openPlane(t, dir)
  await first.plane.replace(referenceConfig())
  await first.plane.update((d) => void (d.pools[1]!.backends[0]!.state = 'disabled'))
  const config = JSON.stringify(first.plane.config)
  await first.plane.close()
  await t.rejects(first.plane.replace(referenceConfig()), /closed/, 'a closed control plane refuses changes')

  const second = await openPlane(t, dir)
  t.equal(second.plane.generation, 2)
  t.equal(JSON.stringify(second.plane.config), config)
  t.equal(second.plane.ready, true)
  t.same(second.plane.snapshot, { generation: 2, vips: 4, backends: 6 }, 'compiled at open')
  t.ok(second.lines.some((l) => l.msg === 'configuration restored from the state directory' && l.generation === 2))
  const next = await second.plane.update((d) => void (d.vips = []))
  t.equal(next.generation, 3, 'generations continue after a restart')
})

t.test('close waits for pending changes', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  const pending = plane.replace(referenceConfig())
  await plane.close()
  t.equal(plane.generation, 1)
  t.equal((await pending).generation, 1)
})

t.test('initialConfig replaces the stored document as the next generation', async (t) => {
  const dir = tempDir(t)
  const first = await openPlane(t, dir)
  await first.plane.replace(referenceConfig())
  await first.plane.update((d) => void (d.vips = []))
  await first.plane.close()

  const initial = referenceConfig()
  initial.pools[0].backends[0].weight = 7
  const second = await openPlane(t, dir, { initialConfig: initial })
  t.equal(second.plane.generation, 3)
  t.equal(second.plane.config.pools[0]!.backends[0]!.weight, 7)
  t.equal(second.plane.config.vips.length, 4)
  t.same(second.plane.snapshot, { generation: 3, vips: 4, backends: 6 })
  const logged = second.lines.find((l) => l.msg === 'configuration loaded from --config')
  t.equal(logged?.generation, 3)
  t.match(logged?.summary, /vips: \+blue-public/)
  t.equal(storedState(dir).generation, 3, 'persisted')
  await second.plane.close()

  const bytes = stateBytes(dir)
  const third = await openPlane(t, dir, { initialConfig: initial })
  t.equal(third.plane.generation, 3, 'the same document again keeps the generation')
  t.same(stateBytes(dir), bytes, 'and does not rewrite the file')
})

t.test('initialConfig on a first start is generation 1', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir, { initialConfig: minimalConfig() })
  t.equal(plane.generation, 1)
  t.equal(plane.ready, true)
  t.equal(plane.config.node.providerMtu, 1500)
})

t.test('an invalid initialConfig refuses to start and writes nothing', async (t) => {
  const dir = tempDir(t)
  const first = await openPlane(t, dir)
  await first.plane.replace(referenceConfig())
  await first.plane.close()
  const bytes = stateBytes(dir)
  const bad = referenceConfig()
  bad.vips[0].rules[0].pool = 'nope'
  const { logger } = captureLogger()
  await t.rejects(ControlPlane.open({ stateDir: dir, logger, compile, initialConfig: bad }), {
    code: ErrorCodes.UNKNOWN_POOL,
    field: 'vips[0].rules[0].pool',
  })
  t.same(stateBytes(dir), bytes)
})

t.test('a corrupt state file refuses the start, also with initialConfig, and stays untouched', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, STATE_FILE_NAME)
  const content = '{"generation": 4, "config": {"node": '
  writeFileSync(file, content)
  const { logger } = captureLogger()
  await t.rejects(ControlPlane.open({ stateDir: dir, logger, compile }), { code: ErrorCodes.STATE_CORRUPT, message: new RegExp(file) })
  await t.rejects(ControlPlane.open({ stateDir: dir, logger, compile, initialConfig: referenceConfig() }), {
    code: ErrorCodes.STATE_CORRUPT,
  })
  t.equal(readFileSync(file, 'utf8'), content)
})

t.test('update from an empty start builds a configuration step by step', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await t.rejects(
    plane.update((d) => void d.pools.push({ name: 'web', backends: [] })),
    { code: ErrorCodes.INVALID_FIELD, field: 'node.providerAddress' },
    'nothing works without a node',
  )
  await plane.update((d) => void (d.node = minimalConfig().node))
  const applied = await plane.update((d) => void d.pools.push({ name: 'web', backends: [] }))
  t.equal(applied.generation, 2)
  t.equal(applied.summary, 'pools: +web')
})

t.test('writing the same document again is still a change with a new generation', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir)
  await plane.replace(referenceConfig())
  const again = await plane.replace(referenceConfig())
  t.equal(again.generation, 2)
  t.equal(again.summary, 'no change')
})

t.test('a field the packet path fixed at start: a change of it is refused naming the field, nothing changes', async (t) => {
  const dir = tempDir(t)
  const { plane, lines } = await openPlane(t, dir)
  const start = referenceConfig()
  start.node.providerInterface = 'eth0'
  await plane.replace(start)
  plane.fixFields([flowTableField(1048576), ...interfaceFields('eth0', undefined), providerMtuField(1966)])
  const bytes = stateBytes(dir)
  const seen: number[] = []
  plane.subscribe((_s, g) => seen.push(g))
  const refused: Array<[string, (d: NvlbConfig) => void]> = [
    ['node.maxFlows', (d) => void (d.node.maxFlows = 2000)],
    ['node.providerInterface', (d) => void (d.node.providerInterface = 'eth1')],
    ['node.externalInterface', (d) => void (d.node.externalInterface = 'eth1')],
    ['node.providerMtu', (d) => void (d.node.providerMtu = 9000)],
  ]
  for (const [field, edit] of refused) {
    const err = await plane.update(edit).then(
      () => undefined,
      (e: NvlbError) => e,
    )
    t.ok(err instanceof NvlbError, `${field}: refused`)
    t.equal(err?.code, ErrorCodes.FIXED_AT_START, `${field}: code`)
    t.equal(err?.field, field, `${field}: names the field`)
    t.equal(err?.statusCode, 409, `${field}: 409`)
    t.match(err?.message, /cannot change while nvlb runs/, `${field}: says why`)
  }
  t.equal(plane.generation, 1, 'no generation was used up')
  t.same(seen, [1], 'the packet path saw no refused change')
  t.same(stateBytes(dir), bytes, 'state file unchanged')
  t.equal(changes(lines).length, 1)

  // The same values, the defaults spelled out, and a smaller MTU all apply.
  await plane.update((d) => {
    d.node.maxFlows = 1048576
    d.node.providerInterface = 'eth0'
    d.node.externalInterface = 'eth0'
  })
  await plane.update((d) => void (d.node.providerMtu = 1400))
  await plane.update((d) => void (d.node.providerMtu = 1966))
  t.equal(plane.generation, 4)
  t.equal(plane.config.node.providerMtu, 1966)
  // A whole-document replace is checked the same way.
  await t.rejects(plane.replace({ ...start, node: { ...start.node, maxFlows: 10 } }), {
    code: ErrorCodes.FIXED_AT_START,
    field: 'node.maxFlows',
  })
})

t.test('an update focused on one item copies that item alone; the others stay the running objects', async (t) => {
  const dir = tempDir(t)
  const { plane } = await openPlane(t, dir, { initialConfig: referenceConfig() })
  const before = plane.config
  const focus = { section: 'pools' as const, matches: (item: unknown) => (item as { name: string }).name === 'red-web' }
  await plane.update((draft) => {
    draft.pools.find((p) => p.name === 'red-web')!.backends[0]!.weight = 7
  }, undefined, focus)
  t.equal(plane.config.pools.find((p) => p.name === 'red-web')!.backends[0]!.weight, 7, 'the focused pool changed')
  t.equal(plane.config.pools.find((p) => p.name === 'blue-web'), before.pools.find((p) => p.name === 'blue-web'), 'the other pool is the running object')
  t.equal(plane.config.vips, before.vips, 'the other sections too')
  const generation = plane.generation
  await t.rejects(
    plane.update((draft) => {
      draft.pools.find((p) => p.name === 'blue-web')!.backends[0]!.weight = 9
    }, undefined, focus),
    TypeError,
    'an item outside the focus cannot be changed',
  )
  t.equal(plane.generation, generation, 'and nothing changed')
})
