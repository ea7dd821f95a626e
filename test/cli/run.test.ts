/**
 * `nvlb run` as a process: refusing bad input before anything starts, the
 * token file, the API on a real port, persistence across restarts and
 * kill -9, SIGTERM.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { referenceConfig } from '../api/helpers'
import { cleanEnv, collect, nvlb, startNvlb, waitForLine } from './helpers'
import { SKIP_NOT_ROOT, createVethPair } from '../io/helpers/veth'

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-run-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

interface Running {
  child: ChildProcess
  url: string
  exited: ReturnType<typeof collect>
}

/** Starts nvlb run on a free port and waits for its "admin API listening" log line. */
async function run(t: { teardown(fn: () => unknown): void }, args: string[], env = cleanEnv()): Promise<Running> {
  const child = startNvlb(['run', '--api-listen', '127.0.0.1:0', '--no-dataplane', ...args], env)
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const lines: string[] = []
  const url = waitForLine(child, (line) => {
    lines.push(line)
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string }
      return entry.msg === 'admin API listening' ? entry.url : undefined
    } catch {
      return undefined
    }
  })
  const exited = collect(child)
  return { child, url: await url, exited }
}

async function stop(r: Running, signal: NodeJS.Signals = 'SIGTERM') {
  r.child.kill(signal)
  return r.exited
}

async function get(url: string, token: string): Promise<{ status: number; etag: string | null; body: any }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, etag: res.headers.get('etag'), body: await res.json() }
}

t.test('a bad --config: one line on stderr, exit 2, nothing started or written', async (t) => {
  const dir = tmp(t)
  const stateDir = join(dir, 'state')
  const cases: Array<[string, string, RegExp]> = [
    ['unknown-pool.json', JSON.stringify({ ...referenceConfig(), pools: [] }), /^nvlb: cannot use --config .*unknown-pool\.json: NVLB_ERR_UNKNOWN_POOL vips\[0\]\.rules\[0\]\.pool: /],
    ['not-json.json', '{"node": ', /^nvlb: cannot use --config .*not-json\.json: .*JSON/],
    ['bad-mac.json', JSON.stringify({ ...referenceConfig(), node: { ...referenceConfig().node, providerMac: 'xx' } }), /NVLB_ERR_BAD_MAC node\.providerMac/],
  ]
  for (const [name, text, expected] of cases) {
    writeFileSync(join(dir, name), text)
    const r = await nvlb(['run', '--config', join(dir, name), '--state-dir', stateDir, '--api-listen', '127.0.0.1:0', '--no-dataplane'])
    t.equal(r.code, 2, `${name}: exit 2`)
    t.match(r.stderr, expected, `${name}: says why`)
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${name}: one line`)
    t.equal(r.stdout, '', `${name}: nothing logged`)
  }
  const missing = await nvlb(['run', '--config', join(dir, 'nope.json'), '--state-dir', stateDir, '--no-dataplane'])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^nvlb: cannot use --config .*nope\.json: cannot read .*ENOENT/)
  for (const [args, message] of [
    [['--io=xdp'], /--io must be rings or af-xdp, not 'xdp'/],
    [['--io=af-xdp', '--workers=2'], /--io af-xdp runs one packet worker/],
  ] as const) {
    const bad = await nvlb(['run', ...args, '--state-dir', stateDir, '--no-dataplane'])
    t.equal(bad.code, 2, `${args.join(' ')}: refused`)
    t.match(bad.stderr, message)
  }
  t.notOk(existsSync(stateDir), 'no state dir was created')

  const badListen = await nvlb(['run', '--api-listen', 'localhost', '--state-dir', stateDir, '--no-dataplane'])
  t.equal(badListen.code, 2)
  t.match(badListen.stderr, /--api-listen must be HOST:PORT/)

  for (const bad of ['-5', '1.5', '1000001', 'fast']) {
    const badPoll = await nvlb(['run', `--busy-poll=${bad}`, '--state-dir', stateDir, '--no-dataplane'])
    t.equal(badPoll.code, 2, `--busy-poll ${bad}: refused`)
    t.match(badPoll.stderr, /--busy-poll must be microseconds 0\.\.1000000/)
  }
  t.notOk(existsSync(stateDir), 'no state dir was created')
})

t.test('start, serve, persist, restart, SIGTERM', async (t) => {
  const dir = tmp(t)
  const stateDir = join(dir, 'state')
  const configFile = join(dir, 'nvlb.json')
  writeFileSync(configFile, JSON.stringify(referenceConfig()))

  const first = await run(t, ['--config', configFile, '--state-dir', stateDir])
  const tokenFile = join(stateDir, 'token')
  t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'token file mode 0600')
  const token = readFileSync(tokenFile, 'utf8').trim()

  const health = await fetch(`${first.url}/healthz`)
  t.equal(health.status, 200, 'healthz without a token')
  t.equal((await fetch(`${first.url}/v1/vips`)).status, 401, 'the rest needs the token')
  const ready = await get(`${first.url}/readyz`, token)
  t.same(ready.body, { status: 'ready', generation: 1 })

  // The CLI finds the token in the state dir.
  const drained = await nvlb(['backend', 'set', 'blue-web', '5001', '10.1.6.21', '--state', 'draining', '--api', first.url, '--state-dir', stateDir])
  t.equal(drained.code, 0, drained.stderr)
  const stats = await get(`${first.url}/v1/stats`, token)
  t.equal(stats.body.generation, 2, 'the in-process engine adopted the new snapshot')
  t.ok(stats.body.backends.some((b: any) => b.address === '10.1.6.21' && b.state === 'draining'))
  const sim = await nvlb(['simulate', '--source', '198.51.100.10:40000', '--destination', '203.0.113.20:80', '--json', '--api', first.url, '--state-dir', stateDir])
  t.equal(sim.code, 0, sim.stderr)
  t.match(JSON.parse(sim.stdout), { matched: true, vip: { name: 'red-public' }, backend: { virtualSubnetId: 6001 } })
  const metrics = await fetch(`${first.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  t.match(await metrics.text(), /^nvlb_snapshot_generation 2$/m)

  const exit = await stop(first)
  t.equal(exit.code, 0, 'SIGTERM → exit 0')
  t.match(exit.stdout, /"msg":"stopped"/)

  // Restart without --config: the stored configuration, same generation, same token.
  const second = await run(t, ['--state-dir', stateDir])
  const config = await get(`${second.url}/v1/config`, token)
  t.equal(config.status, 200)
  t.equal(config.etag, '"2"')
  t.equal(config.body.pools[0].backends[1].state, 'draining')
  t.equal((await stop(second, 'SIGINT')).code, 0, 'SIGINT → exit 0')
})

t.test('NVLB_TOKEN replaces the token file', async (t) => {
  const dir = tmp(t)
  const r = await run(t, ['--state-dir', dir], cleanEnv({ NVLB_TOKEN: 'from-the-environment' }))
  t.notOk(existsSync(join(dir, 'token')), 'no token file written')
  const ready = await get(`${r.url}/readyz`, 'from-the-environment')
  t.equal(ready.status, 503, 'first start, empty state: not ready')
  t.equal(ready.body.generation, 0)
  t.equal((await stop(r)).code, 0)
})

t.test('a corrupt state file is refused and left as it is', async (t) => {
  const dir = tmp(t)
  writeFileSync(join(dir, 'config.json'), '{"generation": 3, "config": {')
  const r = await nvlb(['run', '--state-dir', dir, '--no-dataplane', '--api-listen', '127.0.0.1:0'])
  t.equal(r.code, 2)
  t.match(r.stderr, /^nvlb: NVLB_ERR_STATE_CORRUPT .*config\.json/)
  t.equal(readFileSync(join(dir, 'config.json'), 'utf8'), '{"generation": 3, "config": {')
})

t.test('the packet path without interfaces in the configuration: a clear error', async (t) => {
  const dir = tmp(t)
  const configFile = join(dir, 'nvlb.json')
  writeFileSync(configFile, JSON.stringify(referenceConfig()))
  const r = await nvlb(['run', '--config', configFile, '--state-dir', join(dir, 'state'), '--api-listen', '127.0.0.1:0'])
  t.equal(r.code, 2)
  t.match(r.stderr, /^nvlb: NVLB_ERR_INTERFACE_NOT_FOUND node\.providerInterface: the AF_PACKET data plane needs node\.providerInterface/)
  t.match(r.stderr, /--no-dataplane/)
})

t.test('kill -9 during a stream of writes never leaves a state file that fails to load', async (t) => {
  const dir = tmp(t)
  const stateDir = join(dir, 'state')
  const configFile = join(dir, 'nvlb.json')
  writeFileSync(configFile, JSON.stringify(referenceConfig()))
  const token = 'kill-test-token'
  const env = cleanEnv({ NVLB_TOKEN: token })

  for (let round = 0; round < 3; round++) {
    const r = await run(t, round === 0 ? ['--config', configFile, '--state-dir', stateDir] : ['--state-dir', stateDir], env)
    let acknowledged = 0
    let writes = 0
    const target = 15 + round * 10
    let stopWriting = false
    const writer = (async () => {
      while (!stopWriting) {
        try {
          const res = await fetch(`${r.url}/v1/pools/blue-web/backends/5001/10.1.6.21`, {
            method: 'PATCH',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ weight: 1 + (writes++ % 7) }),
          })
          if (res.status === 200) acknowledged = Number(res.headers.get('etag')!.replace(/"/g, ''))
          await res.arrayBuffer()
        } catch {
          return // the process is gone
        }
        if (writes === target) r.child.kill('SIGKILL')
      }
    })()
    const exit = await r.exited
    stopWriting = true
    await writer
    t.equal(exit.code, null, `round ${round}: killed`)
    t.ok(acknowledged > 0, `round ${round}: writes were acknowledged (up to generation ${acknowledged})`)

    const restarted = await run(t, ['--state-dir', stateDir], env)
    const config = await get(`${restarted.url}/v1/config`, token)
    t.equal(config.status, 200, `round ${round}: the state file loads after kill -9`)
    const generation = Number(config.etag!.replace(/"/g, ''))
    t.ok(generation >= acknowledged, `round ${round}: no acknowledged write lost (${generation} ≥ ${acknowledged})`)
    t.equal((await stop(restarted)).code, 0)
  }
})

async function put(url: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/v1/config`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

t.test('--no-dataplane: node.maxFlows cannot change while running; a clear 409, the configuration unchanged', async (t) => {
  const dir = tmp(t)
  const token = 'fixed-fields-token'
  const configFile = join(dir, 'nvlb.json')
  const config = referenceConfig()
  config.node.maxFlows = 5000
  writeFileSync(configFile, JSON.stringify(config))
  const r = await run(t, ['--config', configFile, '--state-dir', join(dir, 'state')], cleanEnv({ NVLB_TOKEN: token }))
  const refused = await put(r.url, token, { ...config, node: { ...config.node, maxFlows: 6000 } })
  t.equal(refused.status, 409)
  t.equal(refused.body.code, 'NVLB_ERR_FIXED_AT_START')
  t.equal(refused.body.field, 'node.maxFlows')
  t.match(refused.body.message, /^node\.maxFlows: cannot change while nvlb runs .*5000.*6000/)
  const now = await get(`${r.url}/v1/config`, token)
  t.equal(now.etag, '"1"', 'no new generation')
  t.equal(now.body.node.maxFlows, 5000)
  // Interfaces are not used without the data plane: they may change; an MTU change applies live.
  const fine = await put(r.url, token, { ...config, node: { ...config.node, providerInterface: 'eth9', providerMtu: 9000 } })
  t.equal(fine.status, 200, fine.status === 200 ? 'applied' : JSON.stringify(fine.body))
  const stats = await get(`${r.url}/v1/stats`, token)
  t.equal(stats.body.generation, 2, 'the engine runs the change')
  t.equal((await stop(r)).code, 0)
})

t.test('the AF_PACKET packet path: interfaces, maxFlows and an MTU beyond the receive slots are refused while running', { skip: SKIP_NOT_ROOT }, async (t) => {
  const dir = tmp(t)
  const token = 'fixed-fields-token'
  const veth = createVethPair()
  t.teardown(() => veth.remove())
  const configFile = join(dir, 'nvlb.json')
  const config = referenceConfig()
  config.node.providerInterface = veth.a
  writeFileSync(configFile, JSON.stringify(config))
  const child = startNvlb(['run', '--api-listen', '127.0.0.1:0', '--config', configFile, '--state-dir', join(dir, 'state')], cleanEnv({ NVLB_TOKEN: token }))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const url = await waitForLine(child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string }
      return entry.msg === 'admin API listening' ? entry.url : undefined
    } catch {
      return undefined
    }
  })
  const exited = collect(child)
  const cases: Array<[string, object]> = [
    ['node.providerInterface', { providerInterface: veth.b }],
    ['node.externalInterface', { externalInterface: veth.b }],
    ['node.maxFlows', { maxFlows: 1000 }],
    ['node.providerMtu', { providerMtu: 9000 }],
  ]
  for (const [field, change] of cases) {
    const refused = await put(url, token, { ...config, node: { ...config.node, ...change } })
    t.equal(refused.status, 409, field)
    t.equal(refused.body.code, 'NVLB_ERR_FIXED_AT_START', field)
    t.equal(refused.body.field, field)
  }
  t.equal((await get(`${url}/v1/config`, token)).etag, '"1"', 'nothing applied')
  // Within the receive slots the MTU applies live, and the external side may be named as the provider interface.
  const fine = await put(url, token, { ...config, node: { ...config.node, providerMtu: 1400, externalInterface: veth.a } })
  t.equal(fine.status, 200, fine.status === 200 ? 'applied' : JSON.stringify(fine.body))
  // Answered only once every packet worker runs it.
  const running = (await get(`${url}/v1/stats`, token)).body
  t.equal(running.generation, 2, 'the workers run generation 2 when the answer arrives')
  // The packet workers' I/O: worker count, restarts and handoffs, in /v1/stats and /metrics.
  t.equal(running.io?.workers, 1, '/v1/stats names the packet workers')
  t.equal(running.io?.workerRestarts, 0, 'no worker restarted')
  t.equal(typeof running.io?.handoffs, 'number')
  const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text()
  t.match(metrics, /^nvlb_worker_restarts_total 0$/m, '/metrics counts worker restarts')
  t.match(metrics, /^nvlb_worker_handoffs_total \d+$/m, '/metrics counts handoffs')
  child.kill('SIGTERM')
  t.equal((await exited).code, 0)
})

t.test('two nvlb on one state dir: the second exits 2 with one line and touches nothing; a dead holder is taken over', async (t) => {
  const dir = tmp(t)
  const stateDir = join(dir, 'state')
  const configFile = join(dir, 'nvlb.json')
  writeFileSync(configFile, JSON.stringify(referenceConfig()))
  const env = cleanEnv({ NVLB_TOKEN: 'lock-test-token' })
  const first = await run(t, ['--config', configFile, '--state-dir', stateDir], env)
  // What the first one's write in flight would look like.
  const inFlight = join(stateDir, 'config.json.tmp-1-abcd')
  writeFileSync(inFlight, '{"generation": 2')
  const listing = readdirSync(stateDir).sort()

  const second = await nvlb(['run', '--state-dir', stateDir, '--no-dataplane', '--api-listen', '127.0.0.1:0'], env)
  t.equal(second.code, 2, 'exit 2')
  t.equal(second.stderr, `nvlb: NVLB_ERR_STATE_LOCKED state dir ${stateDir} is in use by another nvlb (pid ${first.child.pid}); stop that one first or give another --state-dir\n`)
  t.equal(second.stdout, '', 'nothing logged')
  t.same(readdirSync(stateDir).sort(), listing, 'the state dir is as it was')
  t.ok(existsSync(inFlight), "the first one's temporary file is still there")
  t.equal((await get(`${first.url}/v1/config`, 'lock-test-token')).status, 200, 'the first one still serves')

  // kill -9 leaves the lock file with a dead pid: the next start takes it over.
  first.child.kill('SIGKILL')
  await first.exited
  t.equal(readFileSync(join(stateDir, 'lock'), 'utf8').trim(), String(first.child.pid))
  const third = await run(t, ['--state-dir', stateDir], env)
  t.equal(readFileSync(join(stateDir, 'lock'), 'utf8').trim(), String(third.child.pid), 'the lock names the new holder')
  t.notOk(existsSync(inFlight), "the dead one's temporary file is cleaned up")
  t.equal((await get(`${third.url}/v1/config`, 'lock-test-token')).etag, '"1"')
  t.equal((await stop(third)).code, 0)
})
