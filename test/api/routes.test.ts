/**
 * Contract tests of every admin API route through fastify.inject, against a
 * real ControlPlane (temporary state dir) and the real compiler.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { minimalConfig } from '../control/reference-config'
import { emptyStats, referenceConfig, startApi } from './helpers'

const BLUE_VM2 = '/v1/pools/blue-web/backends/5001/10.1.6.21'

t.test('GET /v1/config returns the normalized document with ETag = generation', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const res = await api.call({ method: 'GET', url: '/v1/config' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers.etag, '"1"')
  const doc = api.json(res)
  t.same(doc, JSON.parse(JSON.stringify(api.control.config)))
  t.equal(doc.vips.length, 4)
  t.equal(doc.lookupRecords[1].macAddress, '00:15:5d:01:06:20', 'MACs come back canonical')

  const cached = await api.call({ method: 'GET', url: '/v1/config', headers: { 'if-none-match': '"1"' } })
  t.equal(cached.statusCode, 304, 'If-None-Match of the running generation → 304')
  t.equal(cached.body, '')
})

t.test('GET /v1/config before any configuration: the empty document, generation 0, not ready', async (t) => {
  const api = await startApi(t)
  const res = await api.call({ method: 'GET', url: '/v1/config' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers.etag, '"0"')
  t.same(api.json(res).vips, [])
  const ready = await api.call({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
})

t.test('PUT /v1/config replaces the document, persists it and keeps extra fields', async (t) => {
  const api = await startApi(t)
  const doc = referenceConfig()
  doc.comment = 'kept'
  doc.vips[0].owner = 'team-blue'
  const res = await api.call({ method: 'PUT', url: '/v1/config', payload: doc })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers.etag, '"1"')
  const body = api.json(res)
  t.equal(body.comment, 'kept')
  t.equal(body.vips[0].owner, 'team-blue')
  t.equal(api.control.generation, 1)
  const stored = api.stored()
  t.equal(stored.generation, 1)
  t.equal(stored.config.vips[0].owner, 'team-blue')

  const again = await api.call({ method: 'PUT', url: '/v1/config', payload: doc, headers: { 'if-match': '"1"' } })
  t.equal(again.statusCode, 200)
  t.equal(again.headers.etag, '"2"')

  const stale = await api.call({ method: 'PUT', url: '/v1/config', payload: doc, headers: { 'if-match': '"1"' } })
  t.equal(stale.statusCode, 412)
  t.equal(api.json(stale).code, 'NVLB_ERR_PRECONDITION_FAILED')
  t.equal(api.control.generation, 2)

  const star = await api.call({ method: 'PUT', url: '/v1/config', payload: doc, headers: { 'if-match': '*' } })
  t.equal(star.statusCode, 200, 'If-Match: * matches any generation')
  const weak = await api.call({ method: 'PUT', url: '/v1/config', payload: doc, headers: { 'if-match': 'W/"3"' } })
  t.equal(weak.statusCode, 200, 'a weak ETag names the generation too')
  t.equal(weak.headers.etag, '"4"')
})

t.test('VIPs: list, create, show, replace, patch, delete', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })

  const list = await api.call({ method: 'GET', url: '/v1/vips' })
  t.equal(list.statusCode, 200)
  t.equal(list.headers.etag, '"1"')
  t.match(list.headers['content-type'], /application\/json/)
  t.same(
    api.json(list).map((v: any) => v.name),
    ['blue-public', 'red-public', 'blue-app', 'red-app'],
  )

  const vip = {
    name: 'blue-dns',
    address: '203.0.113.11',
    virtualSubnetId: 0,
    rules: [{ protocol: 'udp', frontendPort: 53, pool: 'blue-web' }],
  }
  const created = await api.call({ method: 'POST', url: '/v1/vips', payload: vip })
  t.equal(created.statusCode, 201, created.body)
  t.equal(created.headers.etag, '"2"')
  t.equal(created.headers.location, '/v1/vips/blue-dns')
  t.same(api.json(created), {
    ...vip,
    natMode: 'dnat',
    rules: [{ protocol: 'udp', frontendPort: 53, backendPort: 53, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
  })

  const listed = await api.call({ method: 'GET', url: '/v1/vips' })
  t.equal(api.json(listed).length, 5, 'the cached list follows the new generation')
  t.equal(listed.headers.etag, '"2"')

  const dup = await api.call({ method: 'POST', url: '/v1/vips', payload: vip })
  t.equal(dup.statusCode, 409)
  t.equal(api.json(dup).code, 'NVLB_ERR_DUPLICATE_NAME')

  const shown = await api.call({ method: 'GET', url: '/v1/vips/blue-dns' })
  t.equal(shown.statusCode, 200)
  t.equal(api.json(shown).address, '203.0.113.11')

  const replaced = await api.call({
    method: 'PUT',
    url: '/v1/vips/blue-dns',
    payload: { ...vip, address: '203.0.113.12' },
    headers: { 'if-match': '"2"' },
  })
  t.equal(replaced.statusCode, 200, replaced.body)
  t.equal(api.json(replaced).address, '203.0.113.12')
  t.equal(replaced.headers.etag, '"3"')

  const patched = await api.call({
    method: 'PATCH',
    url: '/v1/vips/blue-dns',
    payload: { rules: [{ protocol: 'udp', frontendPort: 5353, backendPort: 53, pool: 'red-web' }] },
  })
  t.equal(patched.statusCode, 200, patched.body)
  t.equal(api.json(patched).address, '203.0.113.12', 'PATCH keeps the fields it does not name')
  t.equal(api.json(patched).rules[0].pool, 'red-web')

  const renamed = await api.call({ method: 'PUT', url: '/v1/vips/blue-dns', payload: { ...vip, name: 'other' } })
  t.equal(renamed.statusCode, 400)
  t.equal(api.json(renamed).field, 'name')

  const deleted = await api.call({ method: 'DELETE', url: '/v1/vips/blue-dns' })
  t.equal(deleted.statusCode, 204)
  t.equal(deleted.headers.etag, '"5"')
  const gone = await api.call({ method: 'GET', url: '/v1/vips/blue-dns' })
  t.equal(gone.statusCode, 404)
  t.equal(api.json(gone).code, 'NVLB_ERR_NOT_FOUND')
  const goneAgain = await api.call({ method: 'DELETE', url: '/v1/vips/blue-dns' })
  t.equal(goneAgain.statusCode, 404)
  for (const method of ['PUT', 'PATCH'] as const) {
    const missing = await api.call({ method, url: '/v1/vips/nope', payload: { ...vip, name: 'nope' } })
    t.equal(missing.statusCode, 404, `${method} of a missing VIP`)
  }
  t.equal(api.control.generation, 5, 'failed requests did not change the generation')
})

t.test('pools: list, create, show, replace, delete (refused while in use)', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const list = await api.call({ method: 'GET', url: '/v1/pools' })
  t.same(
    api.json(list).map((p: any) => p.name),
    ['blue-web', 'red-web'],
  )

  const pool = { name: 'blue-spare', backends: [{ virtualSubnetId: 5001, address: '10.1.6.20' }] }
  const created = await api.call({ method: 'POST', url: '/v1/pools', payload: pool })
  t.equal(created.statusCode, 201, created.body)
  t.equal(created.headers.location, '/v1/pools/blue-spare')
  t.same(api.json(created).backends, [{ virtualSubnetId: 5001, address: '10.1.6.20', weight: 1, state: 'active' }])

  const dup = await api.call({ method: 'POST', url: '/v1/pools', payload: pool })
  t.equal(dup.statusCode, 409)

  const shown = await api.call({ method: 'GET', url: '/v1/pools/blue-spare' })
  t.equal(shown.statusCode, 200)
  t.equal(shown.headers.etag, '"2"')

  const replaced = await api.call({
    method: 'PUT',
    url: '/v1/pools/blue-spare',
    payload: { name: 'blue-spare', backends: [{ virtualSubnetId: 5001, address: '10.1.6.22', weight: 3 }] },
  })
  t.equal(replaced.statusCode, 200, replaced.body)
  t.equal(api.json(replaced).backends[0].weight, 3)

  const inUse = await api.call({ method: 'DELETE', url: '/v1/pools/blue-web' })
  t.equal(inUse.statusCode, 409)
  t.equal(api.json(inUse).code, 'NVLB_ERR_POOL_IN_USE')
  t.match(api.json(inUse).message, /blue-public/)

  const deleted = await api.call({ method: 'DELETE', url: '/v1/pools/blue-spare' })
  t.equal(deleted.statusCode, 204)
  t.equal((await api.call({ method: 'GET', url: '/v1/pools/blue-spare' })).statusCode, 404)
  t.equal((await api.call({ method: 'DELETE', url: '/v1/pools/blue-spare' })).statusCode, 404)
})

t.test('backends: list, add, show, patch state/weight only, remove', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const list = await api.call({ method: 'GET', url: '/v1/pools/blue-web/backends' })
  t.equal(list.statusCode, 200)
  t.equal(api.json(list).length, 4)
  t.equal((await api.call({ method: 'GET', url: '/v1/pools/nope/backends' })).statusCode, 404)

  const shown = await api.call({ method: 'GET', url: BLUE_VM2 })
  t.equal(shown.statusCode, 200)
  t.same(api.json(shown), { virtualSubnetId: 5001, address: '10.1.6.21', weight: 1, state: 'active' })

  const drained = await api.call({ method: 'PATCH', url: BLUE_VM2, payload: { state: 'draining' }, headers: { 'if-match': '"1"' } })
  t.equal(drained.statusCode, 200, drained.body)
  t.same(api.json(drained), { virtualSubnetId: 5001, address: '10.1.6.21', weight: 1, state: 'draining' })
  t.equal(drained.headers.etag, '"2"')

  const weighted = await api.call({ method: 'PATCH', url: BLUE_VM2, payload: { weight: 3 } })
  t.same(api.json(weighted), { virtualSubnetId: 5001, address: '10.1.6.21', weight: 3, state: 'draining' }, 'state kept')
  const pool = api.control.config.pools.find((p) => p.name === 'blue-web')!
  t.same(
    pool.backends.map((b) => `${b.address}:${b.state}:${b.weight}`),
    ['10.1.6.20:active:1', '10.1.6.21:draining:3', '10.1.6.22:active:1', '10.1.6.23:active:1'],
    'the rest of the pool is untouched',
  )

  // Add blue-vm11's CA as a web backend: it has a lookup record in VSID 5002.
  const added = await api.call({
    method: 'POST',
    url: '/v1/pools/blue-web/backends',
    payload: { virtualSubnetId: 5002, address: '10.1.5.20', weight: 2 },
  })
  t.equal(added.statusCode, 201, added.body)
  t.equal(added.headers.location, '/v1/pools/blue-web/backends/5002/10.1.5.20')
  t.same(api.json(added), { virtualSubnetId: 5002, address: '10.1.5.20', weight: 2, state: 'active' })
  const dup = await api.call({
    method: 'POST',
    url: '/v1/pools/blue-web/backends',
    payload: { virtualSubnetId: 5002, address: '10.1.5.20' },
  })
  t.equal(dup.statusCode, 409)
  t.equal(api.json(dup).code, 'NVLB_ERR_DUPLICATE_NAME')

  const removed = await api.call({ method: 'DELETE', url: '/v1/pools/blue-web/backends/5002/10.1.5.20' })
  t.equal(removed.statusCode, 204)
  t.equal((await api.call({ method: 'GET', url: '/v1/pools/blue-web/backends/5002/10.1.5.20' })).statusCode, 404)
  t.equal((await api.call({ method: 'DELETE', url: '/v1/pools/blue-web/backends/5002/10.1.5.20' })).statusCode, 404)
  t.equal((await api.call({ method: 'PATCH', url: '/v1/pools/blue-web/backends/6001/10.1.6.21', payload: { weight: 1 } })).statusCode, 404)
  t.equal((await api.call({ method: 'PATCH', url: '/v1/pools/nope/backends/5001/10.1.6.21', payload: { weight: 1 } })).statusCode, 404)
})

t.test('lookup records: list, add, show, replace, remove', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const list = await api.call({ method: 'GET', url: '/v1/policy/lookup-records' })
  t.equal(api.json(list).length, 14)

  const record = {
    customerAddress: '10.1.6.30',
    virtualSubnetId: 5001,
    providerAddress: '192.168.6.6',
    macAddress: '00155D010630',
    customerId: 'blue',
  }
  const added = await api.call({ method: 'POST', url: '/v1/policy/lookup-records', payload: record })
  t.equal(added.statusCode, 201, added.body)
  t.equal(added.headers.location, '/v1/policy/lookup-records/5001/10.1.6.30')
  t.equal(api.json(added).macAddress, '00:15:5d:01:06:30')
  t.equal(api.json(added).rule, 'TranslationMethodEncap')

  const dup = await api.call({ method: 'POST', url: '/v1/policy/lookup-records', payload: record })
  t.equal(dup.statusCode, 409)

  const shown = await api.call({ method: 'GET', url: '/v1/policy/lookup-records/5001/10.1.6.30' })
  t.equal(api.json(shown).providerAddress, '192.168.6.6')
  // Same CA in another tenant is another record.
  t.equal((await api.call({ method: 'GET', url: '/v1/policy/lookup-records/6001/10.1.6.30' })).statusCode, 404)

  const moved = await api.call({
    method: 'PUT',
    url: '/v1/policy/lookup-records/5001/10.1.6.30',
    payload: { ...record, providerAddress: '192.168.6.7' },
  })
  t.equal(moved.statusCode, 200, moved.body)
  t.equal(api.json(moved).providerAddress, '192.168.6.7')

  const removed = await api.call({ method: 'DELETE', url: '/v1/policy/lookup-records/5001/10.1.6.30' })
  t.equal(removed.statusCode, 204)
  t.equal(api.control.config.lookupRecords.length, 14)

  const needed = await api.call({ method: 'DELETE', url: '/v1/policy/lookup-records/5001/10.1.6.21' })
  t.equal(needed.statusCode, 400, 'a record a backend needs cannot go')
  t.equal(api.json(needed).code, 'NVLB_ERR_NO_LOOKUP_RECORD')
})

t.test('customer routes: list, add, show, remove', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const list = await api.call({ method: 'GET', url: '/v1/policy/customer-routes' })
  t.equal(api.json(list).length, 8)

  const route = { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '172.16.0.0/12', nextHop: '10.1.6.1' }
  const added = await api.call({ method: 'POST', url: '/v1/policy/customer-routes', payload: route })
  t.equal(added.statusCode, 201, added.body)
  t.equal(added.headers.location, '/v1/policy/customer-routes/blue/5001/172.16.0.0/12')
  const dup = await api.call({ method: 'POST', url: '/v1/policy/customer-routes', payload: route })
  t.equal(dup.statusCode, 409)

  const shown = await api.call({ method: 'GET', url: '/v1/policy/customer-routes/blue/5001/172.16.0.0/12' })
  t.equal(shown.statusCode, 200)
  t.equal(api.json(shown).nextHop, '10.1.6.1')
  const defaultRoute = await api.call({ method: 'GET', url: '/v1/policy/customer-routes/red/6001/0.0.0.0/0' })
  t.equal(api.json(defaultRoute).nextHop, '10.1.6.1')

  const removed = await api.call({ method: 'DELETE', url: '/v1/policy/customer-routes/blue/5001/172.16.0.0/12' })
  t.equal(removed.statusCode, 204)
  t.equal((await api.call({ method: 'DELETE', url: '/v1/policy/customer-routes/blue/5001/172.16.0.0/12' })).statusCode, 404)
  t.equal(api.control.config.customerRoutes.length, 8)
})

t.test('POST /v1/policy/import merges a PowerShell export per (VSID, CA)', async (t) => {
  const api = await startApi(t, { config: minimalConfig() })
  const single = JSON.parse(readFileSync('test/fixtures/powershell/blue-vm2-lookup-record.ps51.json', 'utf8'))
  const one = await api.call({ method: 'POST', url: '/v1/policy/import', payload: single })
  t.equal(one.statusCode, 200, one.body)
  t.match(api.json(one), { added: 1, updated: 0, unchanged: 0, total: 1, generation: 2 })
  t.equal(one.headers.etag, '"2"')
  t.match(api.control.config.lookupRecords[0], {
    customerAddress: '10.1.6.21',
    virtualSubnetId: 5001,
    providerAddress: '192.168.6.4',
    macAddress: '00:15:5d:01:06:21',
    rule: 'TranslationMethodEncap',
  })

  const again = await api.call({ method: 'POST', url: '/v1/policy/import', payload: single })
  t.match(api.json(again), { added: 0, updated: 0, unchanged: 1, total: 1 })

  const moved = { ...single, ProviderAddress: '192.168.6.5' }
  const updated = await api.call({ method: 'POST', url: '/v1/policy/import', payload: [moved] })
  t.match(api.json(updated), { added: 0, updated: 1, unchanged: 0, total: 1 })
  t.equal(api.control.config.lookupRecords[0]!.providerAddress, '192.168.6.5')
})

t.test('POST /v1/policy/import?mode=replace makes the records exactly the export', async (t) => {
  const api = await startApi(t, { config: minimalConfig() })
  const all = JSON.parse(readFileSync('test/fixtures/powershell/blue-red-lookup-records.ps51.json', 'utf8'))
  const first = await api.call({ method: 'POST', url: '/v1/policy/import', payload: all })
  t.equal(first.statusCode, 200, first.body)
  const total = api.json(first).total
  t.equal(api.json(first).added, total)
  t.ok(total >= 10, `a multi-record export (${total} records)`)

  const some = all.slice(0, 3)
  const replaced = await api.call({ method: 'POST', url: '/v1/policy/import?mode=replace', payload: some })
  t.equal(replaced.statusCode, 200, replaced.body)
  t.match(api.json(replaced), { added: 0, unchanged: 3, removed: total - 3, total: 3 })
})

t.test('POST /v1/simulate answers which backend takes a flow', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const flow = {
    virtualSubnetId: 0,
    protocol: 'tcp',
    source: '198.51.100.10',
    sourcePort: 40000,
    destination: '203.0.113.10',
    destinationPort: 80,
  }
  const res = await api.call({ method: 'POST', url: '/v1/simulate', payload: flow })
  t.equal(res.statusCode, 200, res.body)
  const result = api.json(res)
  t.equal(result.matched, true)
  t.equal(result.vip.name, 'blue-public')
  t.equal(result.rule.pool, 'blue-web')
  t.equal(result.backend.virtualSubnetId, 5001)
  t.match(result.backend.address, /^10\.1\.6\.2[0-3]$/)
  t.same(api.json(await api.call({ method: 'POST', url: '/v1/simulate', payload: flow })), result, 'the same flow, the same answer')

  const miss = await api.call({ method: 'POST', url: '/v1/simulate', payload: { ...flow, destinationPort: 81 } })
  t.equal(miss.statusCode, 200)
  t.equal(api.json(miss).matched, false)
  t.type(api.json(miss).reason, 'string')

  // The Red CA VIP has the same address as Blue's: VSID decides.
  const red = await api.call({
    method: 'POST',
    url: '/v1/simulate',
    payload: { ...flow, virtualSubnetId: 6002, source: '10.1.5.20', destination: '10.1.5.100' },
  })
  t.equal(api.json(red).vip.name, 'red-app')
  t.equal(api.json(red).backend.virtualSubnetId, 6001)
})

t.test('POST /v1/simulate without a configuration says nothing matches', async (t) => {
  const api = await startApi(t)
  const res = await api.call({
    method: 'POST',
    url: '/v1/simulate',
    payload: { virtualSubnetId: 0, protocol: 'udp', source: '198.51.100.10', sourcePort: 1, destination: '203.0.113.10', destinationPort: 53 },
  })
  t.equal(res.statusCode, 200)
  t.same(api.json(res).matched, false)
})

t.test('GET /v1/stats returns the StatsReport of the stats source', async (t) => {
  const report = {
    ...emptyStats(1),
    activeFlows: 3,
    rxPackets: 10,
    drops: { bad_checksum: 2, no_vip: 0 },
    vips: [
      { vip: 'blue-public', address: '203.0.113.10', virtualSubnetId: 0, protocol: 'tcp' as const, frontendPort: 80, packets: 7, bytes: 700, flowsCreated: 3 },
    ],
    backends: [
      {
        name: '5001/10.1.6.21:80',
        pool: 'blue-web',
        virtualSubnetId: 5001,
        address: '10.1.6.21',
        port: 80,
        state: 'active' as const,
        packets: 7,
        bytes: 994,
        flowsCreated: 3,
      },
    ],
  }
  const api = await startApi(t, { config: referenceConfig(), stats: () => report })
  const res = await api.call({ method: 'GET', url: '/v1/stats' })
  t.equal(res.statusCode, 200)
  t.same(api.json(res), report)
})

t.test('GET /metrics: Prometheus text from the stats source', async (t) => {
  let scrapes = 0
  const report = {
    ...emptyStats(1),
    activeFlows: 3,
    txBytes: 1234,
    drops: { bad_checksum: 2, no_vip: 5 },
    vips: [
      { vip: 'blue-public', address: '203.0.113.10', virtualSubnetId: 0, protocol: 'tcp' as const, frontendPort: 80, packets: 7, bytes: 700, flowsCreated: 3 },
    ],
    backends: [
      {
        name: '5001/10.1.6.21:80',
        pool: 'blue-web',
        virtualSubnetId: 5001,
        address: '10.1.6.21',
        port: 80,
        state: 'draining' as const,
        packets: 9,
        bytes: 994,
        flowsCreated: 3,
      },
    ],
  }
  const api = await startApi(t, {
    config: referenceConfig(),
    stats: () => {
      scrapes++
      return report
    },
  })
  const res = await api.call({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain/)
  const text = res.body
  t.equal(scrapes, 1, 'one StatsReport per scrape')
  t.match(text, /^nvlb_active_flows 3$/m)
  t.match(text, /^nvlb_snapshot_generation 1$/m)
  t.match(text, /^nvlb_config_generation 1$/m)
  t.match(text, /^nvlb_ready 1$/m)
  t.match(text, /^nvlb_tx_bytes_total 1234$/m)
  t.match(text, /^# TYPE nvlb_drops_total counter$/m)
  t.match(text, /^nvlb_drops_total\{reason="no_vip"\} 5$/m)
  t.match(text, /^nvlb_vip_rule_packets_total\{vip="blue-public",address="203.0.113.10",vsid="0",protocol="tcp",port="80"\} 7$/m)
  t.match(
    text,
    /^nvlb_backend_packets_total\{pool="blue-web",backend="5001\/10.1.6.21:80",vsid="5001",address="10.1.6.21",port="80"\} 9$/m,
  )
  t.match(text, /^nvlb_backend_state\{pool="blue-web",backend="5001\/10.1.6.21:80",state="draining"\} 1$/m)
  t.match(text, /^nvlb_backend_state\{pool="blue-web",backend="5001\/10.1.6.21:80",state="active"\} 0$/m)

  report.backends = []
  const later = await api.call({ method: 'GET', url: '/metrics' })
  t.notMatch(later.body, /10\.1\.6\.21/, 'a removed backend disappears from the metrics')
})

t.test('health, readiness and the OpenAPI document', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const health = await api.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.same(api.json(health), { status: 'ok' })
  const ready = await api.call({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(api.json(ready), { status: 'ready', generation: 1 })

  const docs = await api.call({ method: 'GET', url: '/docs/json' })
  t.equal(docs.statusCode, 200)
  const openapi = api.json(docs)
  t.match(openapi.openapi, /^3\./)
  for (const path of [
    '/v1/config',
    '/v1/vips',
    '/v1/vips/{name}',
    '/v1/pools',
    '/v1/pools/{name}',
    '/v1/pools/{name}/backends',
    '/v1/pools/{name}/backends/{vsid}/{address}',
    '/v1/policy/lookup-records',
    '/v1/policy/lookup-records/{vsid}/{address}',
    '/v1/policy/customer-routes',
    '/v1/policy/customer-routes/{customerId}/{vsid}/{prefixAddress}/{prefixLength}',
    '/v1/policy/import',
    '/v1/simulate',
    '/v1/stats',
    '/metrics',
    '/healthz',
    '/readyz',
  ]) {
    t.ok(openapi.paths[path], `OpenAPI documents ${path}`)
  }
  t.ok(openapi.components.schemas.Vip, 'shared schemas are components')
  t.ok(openapi.components.securitySchemes.bearer)
  const ui = await api.call({ method: 'GET', url: '/docs' })
  t.ok(ui.statusCode === 200 || ui.statusCode === 302, `swagger-ui answers (${ui.statusCode})`)
})

t.test('writes are serialized: concurrent PATCHes with the same If-Match, exactly one wins', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const results = await Promise.all(
    ['draining', 'disabled', 'active'].map((state) =>
      api.call({ method: 'PATCH', url: BLUE_VM2, payload: { state }, headers: { 'if-match': '"1"' } }),
    ),
  )
  t.same(
    results.map((r) => r.statusCode).sort(),
    [200, 412, 412],
  )
  t.equal(api.control.generation, 2)
})
