/**
 * Filtered, paginated lists: following the Link header from the first page
 * returns every item exactly once (also with changes between the pages),
 * filters, bad limits and cursors, and the OpenAPI document's parameters.
 */
import t from 'tap'
import { referenceConfig, startApi } from './helpers'

/** The reference deployment plus `n` lookup records spread over three VSIDs of two tenants. */
function manyRecords(n: number): any {
  const doc = referenceConfig()
  for (let i = 0; i < n; i++) {
    const vsid = [7001, 7002, 8001][i % 3]!
    doc.lookupRecords.push({
      customerAddress: `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      virtualSubnetId: vsid,
      providerAddress: `192.168.6.${4 + (i % 4)}`,
      macAddress: '00:15:5d:07:00:01',
      customerId: vsid === 8001 ? 'green' : 'teal',
    })
  }
  return doc
}

const recordKey = (r: any) => `${r.virtualSubnetId}/${r.customerAddress}`

async function allPages(api: any, first: string, between?: (page: number) => Promise<void>) {
  const seen: any[] = []
  let url: string | undefined = first
  let pages = 0
  let total = -1
  while (url !== undefined) {
    const res = await api.call({ method: 'GET', url })
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    total = Number(res.headers['x-total-count'])
    seen.push(...JSON.parse(res.body))
    pages++
    const link = res.headers.link as string | undefined
    url = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)![1]
    if (between !== undefined && url !== undefined) await between(pages)
  }
  return { seen, pages, total }
}

t.test('lookup records: pages cover every record exactly once; filters', async (t) => {
  const doc = manyRecords(2500)
  const api = await startApi(t, { config: doc })
  const expected = doc.lookupRecords.length
  const { seen, pages, total } = await allPages(api, '/v1/policy/lookup-records?limit=97')
  t.equal(total, expected)
  t.equal(seen.length, expected, 'as many items as records')
  t.equal(new Set(seen.map(recordKey)).size, expected, 'each once')
  t.equal(pages, Math.ceil(expected / 97))
  const sorted = [...seen].sort((a, b) => a.virtualSubnetId - b.virtualSubnetId)
  t.same(seen.map((r) => r.virtualSubnetId), sorted.map((r) => r.virtualSubnetId), 'ordered by VSID')

  const green = await allPages(api, '/v1/policy/lookup-records?customerId=green&limit=200')
  t.equal(green.total, doc.lookupRecords.filter((r: any) => r.customerId === 'green').length)
  t.equal(green.seen.length, green.total)
  t.ok(green.seen.every((r: any) => r.customerId === 'green' && r.virtualSubnetId === 8001))
  const one = await api.call({ method: 'GET', url: '/v1/policy/lookup-records?virtualSubnetId=7002&customerId=teal' })
  t.equal(one.statusCode, 200)
  const body = JSON.parse(one.body)
  t.ok(body.length > 800 && body.every((r: any) => r.virtualSubnetId === 7002), 'filter without paging: the whole filtered list')
  t.equal(Number(one.headers['x-total-count']), body.length)
  const byPa = JSON.parse((await api.call({ method: 'GET', url: '/v1/policy/lookup-records?providerAddress=192.168.6.7' })).body)
  t.ok(byPa.length > 600 && byPa.every((r: any) => r.providerAddress === '192.168.6.7'))
  const unpaged = JSON.parse((await api.call({ method: 'GET', url: '/v1/policy/lookup-records' })).body)
  t.equal(unpaged.length, expected, 'no query: every record, as before')
})

t.test('changes between pages: every record present throughout is returned exactly once', async (t) => {
  const doc = manyRecords(600)
  const api = await startApi(t, { config: doc })
  const original = new Set<string>(doc.lookupRecords.map(recordKey))
  const added: string[] = []
  const { seen } = await allPages(api, '/v1/policy/lookup-records?limit=50', async (page) => {
    // Add one record at the front of the order and one at the end.
    for (const vsid of [7001, 8001]) {
      const record = { customerAddress: `10.99.0.${page}`, virtualSubnetId: vsid, providerAddress: '192.168.6.4', macAddress: '00:15:5d:07:00:02', customerId: vsid === 8001 ? 'green' : 'teal' }
      const res = await api.call({ method: 'POST', url: '/v1/policy/lookup-records', payload: record })
      if (res.statusCode !== 201) throw new Error(res.body)
      added.push(recordKey(record))
    }
  })
  const counts = new Map<string, number>()
  for (const r of seen) counts.set(recordKey(r), (counts.get(recordKey(r)) ?? 0) + 1)
  t.ok([...original].every((k) => counts.get(k) === 1), 'every original record once')
  t.ok([...counts.values()].every((n) => n === 1), 'nothing twice')
})

t.test('VIPs, pools and customer routes page and filter the same way', async (t) => {
  const doc = referenceConfig()
  for (let i = 0; i < 40; i++) {
    doc.pools.push({ name: `pool-${String(i).padStart(2, '0')}`, backends: [{ virtualSubnetId: 5001, address: '10.1.6.20' }] })
    doc.vips.push({ name: `vip-${String(i).padStart(2, '0')}`, address: `203.0.113.${100 + i}`, virtualSubnetId: 0, rules: [{ protocol: 'tcp', frontendPort: 80, pool: `pool-${String(i).padStart(2, '0')}` }] })
  }
  const api = await startApi(t, { config: doc })
  for (const [url, count, key] of [
    ['/v1/vips?limit=7', doc.vips.length, (v: any) => v.name],
    ['/v1/pools?limit=6', doc.pools.length, (p: any) => p.name],
    ['/v1/policy/customer-routes?limit=3', doc.customerRoutes.length, (r: any) => `${r.customerId}/${r.virtualSubnetId}/${r.destinationPrefix}`],
  ] as const) {
    const { seen, total } = await allPages(api, url)
    t.equal(total, count, `${url}: total`)
    t.equal(new Set(seen.map(key as (x: any) => string)).size, count, `${url}: each once`)
    t.equal(seen.length, count, `${url}: nothing twice`)
  }
  const publicVips = JSON.parse((await api.call({ method: 'GET', url: '/v1/vips?virtualSubnetId=0' })).body)
  t.equal(publicVips.length, 42)
  const caVip = JSON.parse((await api.call({ method: 'GET', url: '/v1/vips?address=10.1.5.100' })).body)
  t.same(caVip.map((v: any) => v.name).sort(), ['blue-app', 'red-app'])
  const redPools = JSON.parse((await api.call({ method: 'GET', url: '/v1/pools?virtualSubnetId=6001' })).body)
  t.same(redPools.map((p: any) => p.name), ['red-web'])
  const blueRoutes = JSON.parse((await api.call({ method: 'GET', url: '/v1/policy/customer-routes?customerId=blue&virtualSubnetId=5002' })).body)
  t.ok(blueRoutes.length > 0 && blueRoutes.every((r: any) => r.customerId === 'blue' && r.virtualSubnetId === 5002))
})

t.test('a bad limit, cursor or parameter: 400 naming it', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  for (const [url, field] of [
    ['/v1/policy/lookup-records?limit=0', 'limit'],
    ['/v1/policy/lookup-records?limit=20000', 'limit'],
    ['/v1/policy/lookup-records?limit=5&cursor=bm90LWEta2V5', 'cursor'],
    ['/v1/vips?color=blue', 'color'],
    ['/v1/policy/lookup-records?providerAddress=nope', 'providerAddress'],
  ]) {
    const res = await api.call({ method: 'GET', url: url! })
    t.equal(res.statusCode, 400, url)
    t.match(JSON.parse(res.body), { code: /^NVLB_ERR_/ }, url)
    t.match(res.body, field!, `${url}: names ${field}`)
  }
})

t.test('the OpenAPI document describes the list parameters', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const openapi = JSON.parse((await api.call({ method: 'GET', url: '/docs/json' })).body)
  const names = (path: string) => (openapi.paths[path].get.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name).sort()
  t.same(names('/v1/policy/lookup-records'), ['cursor', 'customerId', 'limit', 'providerAddress', 'virtualSubnetId'])
  t.same(names('/v1/policy/customer-routes'), ['cursor', 'customerId', 'limit', 'virtualSubnetId'])
  t.same(names('/v1/vips'), ['address', 'cursor', 'limit', 'virtualSubnetId'])
  t.same(names('/v1/pools'), ['cursor', 'limit', 'virtualSubnetId'])
})
