/**
 * POST /v1/policy/lookup-records/bulk: thousands of records added and removed
 * atomically with counts; bad input names the first offending items by index
 * and field and applies nothing.
 */
import t from 'tap'
import { referenceConfig, startApi } from './helpers'

function record(i: number, vsid = 7001): any {
  return {
    customerAddress: `10.${30 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    virtualSubnetId: vsid,
    providerAddress: `192.168.6.${4 + (i % 4)}`,
    macAddress: '00-15-5D-07-00-01',
    customerId: 'teal',
  }
}

t.test('thousands of records added, replaced and removed in one change, with counts', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const before = referenceConfig().lookupRecords.length
  const add = Array.from({ length: 5000 }, (_, i) => record(i))
  const res = await api.call({ method: 'POST', url: '/v1/policy/lookup-records/bulk', payload: { add } })
  t.equal(res.statusCode, 200, res.statusCode === 200 ? 'applied' : res.body)
  t.same(JSON.parse(res.body), { generation: 2, added: 5000, updated: 0, unchanged: 0, removed: 0, total: before + 5000 })
  t.equal(res.headers.etag, '"2"')
  t.equal(api.control.generation, 2, 'one change')

  const again = await api.call({
    method: 'POST',
    url: '/v1/policy/lookup-records/bulk',
    headers: { 'if-match': '"2"' },
    payload: {
      add: [{ ...record(0), providerAddress: '192.168.6.9' }, record(1), record(9000)],
      remove: Array.from({ length: 1000 }, (_, i) => ({ virtualSubnetId: 7001, customerAddress: record(2 + i).customerAddress })),
    },
  })
  t.equal(again.statusCode, 200, again.statusCode === 200 ? 'applied' : again.body)
  t.same(JSON.parse(again.body), { generation: 3, added: 1, updated: 1, unchanged: 1, removed: 1000, total: before + 5000 - 1000 + 1 })
  const stored = api.stored()
  t.equal(stored.generation, 3, 'durable')
  t.equal(stored.config.lookupRecords.length, before + 4001)
  t.ok(stored.config.lookupRecords.some((r: any) => r.customerAddress === record(0).customerAddress && r.providerAddress === '192.168.6.9'))
})

t.test('bad items: 400 naming the first offending ones by index and field; nothing applied', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const add = Array.from({ length: 3000 }, (_, i) => record(i))
  add[17] = { ...add[17], macAddress: 'zz' }
  add[900] = { ...add[900], virtualSubnetId: 12 }
  add[2000] = { ...add[2000], customerAddress: '10.300.0.1' }
  const stateBefore = api.stateText()
  const res = await api.call({ method: 'POST', url: '/v1/policy/lookup-records/bulk', payload: { add, remove: [{ virtualSubnetId: 5001 }] } })
  t.equal(res.statusCode, 400)
  const body = JSON.parse(res.body)
  t.equal(body.code, 'NVLB_ERR_INVALID_FIELD')
  t.equal(body.field, 'add[17].macAddress')
  t.match(body.message, /and 3 more offending items.*nothing was applied/)
  t.same(
    body.items.map((i: any) => i.field),
    ['add[17].macAddress', 'add[900].virtualSubnetId', 'add[2000].customerAddress', 'remove[0].customerAddress'],
  )
  t.same(body.items.map((i: any) => i.index), [17, 900, 2000, 0])
  t.equal(api.control.generation, 1, 'nothing applied')
  t.equal(api.stateText(), stateBefore, 'nothing written')

  const dup = await api.call({ method: 'POST', url: '/v1/policy/lookup-records/bulk', payload: { add: [record(1), record(2), record(1)] } })
  t.equal(dup.statusCode, 400)
  t.match(JSON.parse(dup.body), { field: 'add[2].customerAddress', message: /already in this request at add\[0\]/ })

  const missing = await api.call({ method: 'POST', url: '/v1/policy/lookup-records/bulk', payload: { remove: [{ virtualSubnetId: 7001, customerAddress: '10.9.9.9' }] } })
  t.equal(missing.statusCode, 400)
  t.match(JSON.parse(missing.body), { field: 'remove[0]', message: /does not exist/ })

  // Found only when the whole document is validated: named by its index in the request.
  const conflict = await api.call({
    method: 'POST',
    url: '/v1/policy/lookup-records/bulk',
    payload: { add: [{ ...record(1, 5001), customerId: 'blue' }, { ...record(2, 5001), customerId: 'red' }] },
  })
  t.equal(conflict.statusCode, 400)
  t.match(JSON.parse(conflict.body), { code: 'NVLB_ERR_CUSTOMER_ID_CONFLICT', items: [{ index: 1 }] })
  t.match(JSON.parse(conflict.body).field, /^add\[\d\]\.customerId$/)

  // Removing a record a backend needs: refused, named by the validation.
  const inUse = await api.call({ method: 'POST', url: '/v1/policy/lookup-records/bulk', payload: { remove: [{ virtualSubnetId: 5001, customerAddress: '10.1.6.21' }] } })
  t.equal(inUse.statusCode, 400)
  t.match(JSON.parse(inUse.body), { code: 'NVLB_ERR_NO_LOOKUP_RECORD' })
  t.equal(api.control.generation, 1, 'still nothing applied')
})
