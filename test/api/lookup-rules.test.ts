/** The admin API refuses Nat and None lookup records with the reason, like the validator and the import. */
import t from 'tap'
import { TOKEN, referenceConfig, startApi } from './helpers'

const record = (rule: string) => ({
  customerAddress: '10.1.6.40',
  virtualSubnetId: 5001,
  providerAddress: '192.168.6.4',
  macAddress: '00-15-5D-01-06-40',
  customerId: 'blue',
  rule,
})

t.test('POST and PUT of a lookup record with the Nat or None rule say why they are refused', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  for (const [rule, why] of [
    ['TranslationMethodNat', /without NVGRE/],
    ['TranslationMethodNone', /no translation/],
  ] as const) {
    const res = await api.call({ method: 'POST', url: '/v1/policy/lookup-records', payload: record(rule), headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(res.statusCode, 400, rule)
    const body = api.json(res)
    t.equal(body.code, 'NVLB_ERR_INVALID_FIELD')
    t.equal(body.field, 'rule')
    t.match(body.message, why, `${rule}: the message says why`)
    const doc = referenceConfig()
    doc.lookupRecords[0].rule = rule
    const put = api.json(await api.call({ method: 'PUT', url: '/v1/config', payload: doc }))
    t.equal(put.field, 'lookupRecords[0].rule')
    t.match(put.message, why, `${rule}: PUT /v1/config says why`)
  }
  t.equal(api.control.generation, 1, 'nothing was applied')
})
