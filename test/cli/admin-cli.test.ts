/**
 * The admin sub-commands of the nvlb CLI, spawned as processes against a real
 * admin API listening on 127.0.0.1 (port 0) in this process.
 */
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TOKEN, referenceConfig, startApi } from '../api/helpers'
import { cleanEnv, nvlb } from './helpers'

const FIXTURES = join(__dirname, '..', 'fixtures', 'powershell')

async function listeningApi(t: Parameters<typeof startApi>[0], opts: Parameters<typeof startApi>[1] = {}) {
  const api = await startApi(t, opts)
  const url = await api.app.listen({ host: '127.0.0.1', port: 0 })
  const conn = ['--api', url, '--token', TOKEN]
  return { api, url, conn }
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('--help of every admin command', async (t) => {
  const commands = ['vip', 'pool', 'backend', 'policy', 'simulate', 'stats', 'config', 'run']
  const results = await Promise.all(commands.map((c) => nvlb([c, '--help'])))
  results.forEach((r, i) => {
    t.equal(r.code, 0, `${commands[i]} --help exits 0`)
    t.match(r.stdout, new RegExp(`^usage: nvlb ${commands[i]}`), `${commands[i]} --help prints its usage`)
  })
  const bad = await nvlb(['vip', 'frobnicate'])
  t.equal(bad.code, 2, 'an unknown action is a usage error')
  t.match(bad.stderr, /^nvlb: unknown action 'frobnicate'/)
  const badFlag = await nvlb(['backend', 'list', 'x', '--colour'])
  t.equal(badFlag.code, 2)
})

t.test('vip list, show, create, set, delete', async (t) => {
  const { api, conn } = await listeningApi(t, { config: referenceConfig() })

  const list = await nvlb(['vip', 'list', ...conn])
  t.equal(list.code, 0, list.stderr)
  const lines = list.stdout.trimEnd().split('\n')
  t.match(lines[0], /^NAME\s+ADDRESS\s+VSID\s+NAT\s+RULES$/)
  t.match(lines[1], /^blue-public\s+203\.0\.113\.10\s+0\s+dnat\s+tcp:80=blue-web$/)
  t.match(lines[4], /^red-app\s+10\.1\.5\.100\s+6002\s+fullnat\s+tcp:80=red-web$/)

  const json = await nvlb(['vip', 'list', '--json', ...conn])
  t.same(JSON.parse(json.stdout), JSON.parse(JSON.stringify(api.control.config.vips)))

  const show = await nvlb(['vip', 'show', 'blue-app', ...conn])
  t.equal(show.code, 0)
  t.match(show.stdout, /vsid:\s+5002/)
  t.match(show.stdout, /tcp\s+80\s+80\s+blue-web\s+5-tuple\s+240s/)

  const created = await nvlb(['vip', 'create', '--name', 'blue-tls', '--address', '203.0.113.10', '--rule', 'tcp:443:8443=blue-web', ...conn])
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^vip blue-tls created \(generation 2\)/)
  t.match(api.control.config.vips.find((v) => v.name === 'blue-tls'), {
    virtualSubnetId: 0,
    natMode: 'dnat',
    rules: [{ protocol: 'tcp', frontendPort: 443, backendPort: 8443, pool: 'blue-web' }],
  })

  const unknownPool = await nvlb(['vip', 'create', '--name', 'x', '--address', '203.0.113.99', '--rule', 'tcp:80=nope', ...conn])
  t.equal(unknownPool.code, 1)
  t.equal(unknownPool.stderr, "nvlb: NVLB_ERR_UNKNOWN_POOL vips[5].rules[0].pool: pool 'nope' does not exist\n", 'one clear line')
  t.equal(unknownPool.stdout, '')

  const dir = tmp(t)
  const file = join(dir, 'vip.json')
  writeFileSync(file, JSON.stringify({ name: 'red-dns', address: '203.0.113.20', virtualSubnetId: 0, rules: [{ protocol: 'udp', frontendPort: 53, pool: 'red-web' }] }))
  const fromFile = await nvlb(['vip', 'create', '--file', file, '--json', ...conn])
  t.equal(fromFile.code, 0, fromFile.stderr)
  t.equal(JSON.parse(fromFile.stdout).natMode, 'dnat')

  const set = await nvlb(['vip', 'set', 'red-dns', '--rule', 'udp:53=red-web', '--rule', 'tcp:53=red-web', '--distribution', '3-tuple', ...conn])
  t.equal(set.code, 0, set.stderr)
  t.same(
    api.control.config.vips.find((v) => v.name === 'red-dns')!.rules.map((r) => `${r.protocol}/${r.frontendPort}/${r.distribution}`),
    ['udp/53/3-tuple', 'tcp/53/3-tuple'],
  )

  const stale = await nvlb(['vip', 'delete', 'red-dns', '--if-match', '1', ...conn])
  t.equal(stale.code, 1)
  t.match(stale.stderr, /^nvlb: NVLB_ERR_PRECONDITION_FAILED /)

  const deleted = await nvlb(['vip', 'delete', 'red-dns', '--if-match', String(api.control.generation), ...conn])
  t.equal(deleted.code, 0, deleted.stderr)
  t.notOk(api.control.config.vips.some((v) => v.name === 'red-dns'))

  const missing = await nvlb(['vip', 'show', 'red-dns', ...conn])
  t.equal(missing.code, 1)
  t.equal(missing.stderr, "nvlb: NVLB_ERR_NOT_FOUND vip 'red-dns' does not exist\n")

  const badRule = await nvlb(['vip', 'create', '--name', 'y', '--address', '203.0.113.98', '--rule', 'http:80', ...conn])
  t.equal(badRule.code, 2, 'a malformed --rule is a usage error')
})

t.test('pool and backend commands', async (t) => {
  const { api, conn } = await listeningApi(t, { config: referenceConfig() })

  const pools = await nvlb(['pool', 'list', ...conn])
  t.equal(pools.code, 0, pools.stderr)
  t.match(pools.stdout, /^blue-web\s+4\s+4\s+0\s+0\s+blue-public,blue-app$/m)

  const created = await nvlb(['pool', 'create', 'blue-canary', '--backend', '5001/10.1.6.22*3', ...conn])
  t.equal(created.code, 0, created.stderr)
  t.same(api.control.config.pools.find((p) => p.name === 'blue-canary')!.backends, [
    { virtualSubnetId: 5001, address: '10.1.6.22', weight: 3, state: 'active' },
  ])

  const added = await nvlb(['backend', 'add', 'blue-canary', '--vsid', '5001', '--address', '10.1.6.23', '--weight', '2', ...conn])
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, /backend 5001\/10\.1\.6\.23 weight 2 active added to pool blue-canary/)

  const noRecord = await nvlb(['backend', 'add', 'blue-canary', '--vsid', '5001', '--address', '10.1.6.99', ...conn])
  t.equal(noRecord.code, 1)
  t.match(noRecord.stderr, /^nvlb: NVLB_ERR_NO_LOOKUP_RECORD pools\[2\]\.backends\[2\]/)
  t.equal(noRecord.stderr.split('\n').length, 2, 'one line')

  const drained = await nvlb(['backend', 'set', 'blue-web', '5001', '10.1.6.21', '--state', 'draining', '--weight', '3', ...conn])
  t.equal(drained.code, 0, drained.stderr)
  t.match(api.control.config.pools[0]!.backends[1], { address: '10.1.6.21', state: 'draining', weight: 3 })

  const list = await nvlb(['backend', 'list', 'blue-web', ...conn])
  t.match(list.stdout, /^5001\s+10\.1\.6\.21\s+3\s+draining$/m)
  const show = await nvlb(['pool', 'show', 'blue-web', '--json', ...conn])
  t.equal(JSON.parse(show.stdout).backends.length, 4)

  const nothing = await nvlb(['backend', 'set', 'blue-web', '5001', '10.1.6.21', ...conn])
  t.equal(nothing.code, 2, 'set without --state or --weight is a usage error')

  const removed = await nvlb(['backend', 'remove', 'blue-canary', '5001', '10.1.6.23', ...conn])
  t.equal(removed.code, 0, removed.stderr)
  t.equal(api.control.config.pools.find((p) => p.name === 'blue-canary')!.backends.length, 1)

  const inUse = await nvlb(['pool', 'delete', 'blue-web', ...conn])
  t.equal(inUse.code, 1)
  t.match(inUse.stderr, /^nvlb: NVLB_ERR_POOL_IN_USE /)
  const deleted = await nvlb(['pool', 'delete', 'blue-canary', ...conn])
  t.equal(deleted.code, 0, deleted.stderr)
})

t.test('policy lookup, route and import', async (t) => {
  const { api, conn } = await listeningApi(t, { config: referenceConfig() })

  const lookups = await nvlb(['policy', 'lookup', 'list', ...conn])
  t.equal(lookups.code, 0, lookups.stderr)
  t.match(lookups.stdout, /^5001\s+10\.1\.6\.21\s+192\.168\.6\.4\s+00:15:5d:01:06:21\s+blue\s+Encap$/m)

  const added = await nvlb(
    ['policy', 'lookup', 'add', '--vsid', '6001', '--ca', '10.1.6.23', '--pa', '192.168.6.6', '--mac', '00155D020623', '--customer-id', 'red', ...conn],
  )
  t.equal(added.code, 0, added.stderr)
  t.match(api.control.config.lookupRecords.at(-1), { virtualSubnetId: 6001, customerAddress: '10.1.6.23', macAddress: '00:15:5d:02:06:23' })

  const badMac = await nvlb(['policy', 'lookup', 'add', '--vsid', '6001', '--ca', '10.1.6.24', '--pa', '192.168.6.6', '--mac', 'nope', ...conn])
  t.equal(badMac.code, 1)
  t.match(badMac.stderr, /^nvlb: NVLB_ERR_BAD_MAC lookupRecords\[15\]\.macAddress: /)

  const removed = await nvlb(['policy', 'lookup', 'remove', '6001', '10.1.6.23', ...conn])
  t.equal(removed.code, 0, removed.stderr)

  const route = await nvlb(
    ['policy', 'route', 'add', '--customer-id', 'red', '--vsid', '6001', '--prefix', '172.16.0.0/12', '--next-hop', '10.1.6.1', ...conn],
  )
  t.equal(route.code, 0, route.stderr)
  const routes = await nvlb(['policy', 'route', 'list', ...conn])
  t.match(routes.stdout, /^red\s+6001\s+172\.16\.0\.0\/12\s+10\.1\.6\.1\s+0$/m)
  const routeGone = await nvlb(['policy', 'route', 'remove', 'red', '6001', '172.16.0.0/12', ...conn])
  t.equal(routeGone.code, 0, routeGone.stderr)
  t.equal(api.control.config.customerRoutes.length, 8)

  // The fixtures carry the tenants' GUIDs as customer IDs: import into a fabric that uses them.
  const conflict = await nvlb(['policy', 'import', join(FIXTURES, 'blue-red-lookup-records.ps51.json'), ...conn])
  t.equal(conflict.code, 1)
  t.match(conflict.stderr, /^nvlb: NVLB_ERR_CUSTOMER_ID_CONFLICT /)
})

t.test('policy import of PowerShell exports, UTF-8 and UTF-16', async (t) => {
  const { api, conn } = await listeningApi(t, {
    config: { node: { providerAddress: '192.168.6.2', providerMac: '02:00:c0:a8:06:02', gatewayMac: '02:00:00:00:00:01' } },
  })
  const file = join(FIXTURES, 'blue-red-lookup-records.ps51.json')
  const first = await nvlb(['policy', 'import', file, ...conn])
  t.equal(first.code, 0, first.stderr)
  const total = api.control.config.lookupRecords.length
  t.ok(total >= 10)
  t.match(first.stdout, new RegExp(`: ${total} added, 0 updated, 0 unchanged; ${total} lookup records`))

  // Windows PowerShell's `> file` writes UTF-16LE with a byte-order mark.
  const dir = tmp(t)
  const utf16 = join(dir, 'export-utf16.json')
  writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(readFileSync(file, 'utf8'), 'utf16le')]))
  const again = await nvlb(['policy', 'import', utf16, '--json', ...conn])
  t.equal(again.code, 0, again.stderr)
  t.match(JSON.parse(again.stdout), { added: 0, updated: 0, unchanged: total, total })

  const replaced = await nvlb(['policy', 'import', join(FIXTURES, 'blue-vm2-lookup-record.ps51.json'), '--replace', ...conn])
  t.equal(replaced.code, 0, replaced.stderr)
  t.match(replaced.stdout, new RegExp(`0 added, 0 updated, 1 unchanged, ${total - 1} removed; 1 lookup records`))

  const missing = await nvlb(['policy', 'import', join(dir, 'nope.json'), ...conn])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /^nvlb: cannot read .*nope\.json: ENOENT/)
})

t.test('policy import of a long export: one bulk change, progress on stderr', async (t) => {
  const { api, conn } = await listeningApi(t, {
    config: { node: { providerAddress: '192.168.6.2', providerMac: '02:00:c0:a8:06:02', gatewayMac: '02:00:00:00:00:01' } },
  })
  const exported = Array.from({ length: 3000 }, (_, i) => ({
    CustomerAddress: `10.40.${i >> 8}.${i & 255}`,
    VirtualSubnetID: 7001 + (i % 2),
    ProviderAddress: `192.168.6.${4 + (i % 4)}`,
    MACAddress: `00155D07${(i >> 8).toString(16).padStart(2, '0')}${(i & 255).toString(16).padStart(2, '0')}`.toUpperCase(),
    CustomerID: '{8F0E6B1C-3A5D-4C2E-9B7A-1D2C3E4F5A09}',
    Rule: 'TranslationMethodEncap',
  }))
  const dir = tmp(t)
  const file = join(dir, 'host-export.json')
  writeFileSync(file, JSON.stringify(exported))
  const before = api.control.generation
  const r = await nvlb(['policy', 'import', file, ...conn])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /3000 lookup records read/)
  t.match(r.stderr, /sending 3000 records .* MB\) as one change/)
  t.match(r.stderr, new RegExp(`applied as generation ${before + 1}`))
  t.match(r.stdout, /: 3000 added, 0 updated, 0 unchanged; 3000 lookup records/)
  t.equal(api.control.generation, before + 1, 'one change')
  const small = await nvlb(['policy', 'import', join(FIXTURES, 'blue-vm2-lookup-record.ps51.json'), '--replace', ...conn])
  t.equal(small.code, 0, small.stderr)
  t.equal(small.stderr, '', 'no progress for a short import')
  t.match(small.stdout, /1 added, 0 updated, 0 unchanged, 3000 removed; 1 lookup records/)
  t.equal(api.control.generation, before + 2, 'the replace was one change too')
})

t.test('simulate, stats and config get/put', async (t) => {
  const { api, conn } = await listeningApi(t, { config: referenceConfig() })

  const sim = await nvlb(['simulate', '--vsid', '0', '--protocol', 'tcp', '--source', '198.51.100.10:40000', '--destination', '203.0.113.10:80', ...conn])
  t.equal(sim.code, 0, sim.stderr)
  t.match(sim.stdout, /^tcp 198\.51\.100\.10:40000 → 203\.0\.113\.10:80 \(VSID 0\)$/m)
  t.match(sim.stdout, /^vip:\s+blue-public/m)
  t.match(sim.stdout, /^backend:\s+5001\/10\.1\.6\.2[0-3]:80$/m)
  const simJson = await nvlb(['simulate', '--source', '198.51.100.10:40000', '--destination', '203.0.113.10:80', '--json', ...conn])
  t.equal(JSON.parse(simJson.stdout).matched, true)
  const badEndpoint = await nvlb(['simulate', '--source', '198.51.100.10', '--destination', '203.0.113.10:80', ...conn])
  t.equal(badEndpoint.code, 2)

  const stats = await nvlb(['stats', ...conn])
  t.equal(stats.code, 0, stats.stderr)
  t.match(stats.stdout, /^generation:\s+1$/m)
  t.match(stats.stdout, /^drops: none$/m)
  const statsJson = await nvlb(['stats', '--json', ...conn])
  t.equal(JSON.parse(statsJson.stdout).generation, 1)

  const got = await nvlb(['config', 'get', ...conn])
  t.equal(got.code, 0, got.stderr)
  const doc = JSON.parse(got.stdout)
  t.same(doc, JSON.parse(JSON.stringify(api.control.config)))

  const dir = tmp(t)
  const file = join(dir, 'nvlb.json')
  doc.vips = doc.vips.filter((v: { name: string }) => v.name !== 'red-app')
  writeFileSync(file, JSON.stringify(doc, null, 2))
  const put = await nvlb(['config', 'put', file, '--if-match', '1', ...conn])
  t.equal(put.code, 0, put.stderr)
  t.match(put.stdout, /^configuration replaced \(generation 2\): .*3 VIPs/)
  t.equal(api.control.config.vips.length, 3)

  doc.vips[0].rules[0].pool = 'gone'
  writeFileSync(file, JSON.stringify(doc))
  const refused = await nvlb(['config', 'put', file, ...conn])
  t.equal(refused.code, 1)
  t.equal(refused.stderr, "nvlb: NVLB_ERR_UNKNOWN_POOL vips[0].rules[0].pool: pool 'gone' does not exist\n")
  t.equal(api.control.generation, 2)
})

t.test('address and token from flags, environment or the state dir', async (t) => {
  const { url } = await listeningApi(t, { config: referenceConfig() })
  const dir = tmp(t)

  const fromEnv = await nvlb(['vip', 'list'], cleanEnv({ NVLB_API: url, NVLB_TOKEN: TOKEN }))
  t.equal(fromEnv.code, 0, fromEnv.stderr)

  writeFileSync(join(dir, 'token'), TOKEN + '\n', { mode: 0o600 })
  const fromStateDir = await nvlb(['vip', 'list', '--api', url, '--state-dir', dir])
  t.equal(fromStateDir.code, 0, fromStateDir.stderr)
  const fromStateDirEnv = await nvlb(['pool', 'list'], cleanEnv({ NVLB_API: url, NVLB_STATE_DIR: dir }))
  t.equal(fromStateDirEnv.code, 0, fromStateDirEnv.stderr)

  const wrong = await nvlb(['vip', 'list', '--api', url, '--token', 'wrong'])
  t.equal(wrong.code, 1)
  t.equal(wrong.stderr, 'nvlb: NVLB_ERR_UNAUTHORIZED the bearer token is not valid\n')

  const none = await nvlb(['vip', 'list', '--api', url, '--state-dir', join(dir, 'empty')])
  t.equal(none.code, 1)
  t.match(none.stderr, /^nvlb: NVLB_ERR_UNAUTHORIZED missing Authorization/)

  // A port nothing listens on: bind one, close it, use it.
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const unreachable = await nvlb(['stats', '--api', `http://127.0.0.1:${port}`, '--token', TOKEN])
  t.equal(unreachable.code, 1)
  t.match(unreachable.stderr, new RegExp(`^nvlb: cannot reach the admin API at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`))
  t.equal(unreachable.stderr.split('\n').length, 2, 'one line')
})
