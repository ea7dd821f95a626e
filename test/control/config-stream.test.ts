/**
 * GET /v1/config streams the document: the chunks join to exactly what
 * JSON.stringify(config) writes, the answer over a real socket is chunked and
 * parses to the running document at a size with many records, and the ETag
 * (and If-None-Match → 304) still work.
 */
import t from 'tap'
import { configJsonChunks } from '../../lib/control/config-json-stream'
import { referenceConfig, startApi, TOKEN } from '../api/helpers'

/** The reference deployment plus `n` lookup records of one more tenant. */
function withRecords(n: number): any {
  const doc = referenceConfig()
  for (let i = 0; i < n; i++) {
    doc.lookupRecords.push({
      customerAddress: `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      virtualSubnetId: 7001,
      providerAddress: `192.168.6.${4 + (i % 4)}`,
      macAddress: '00:15:5d:07:00:01',
      customerId: 'teal',
    })
  }
  return doc
}

t.test('the chunks join to JSON.stringify of the document, in several chunks', async (t) => {
  const doc = { ...withRecords(5000), extra: { a: [1, 'x', null] }, empty: [], gone: undefined, holes: [1, undefined, () => 1] }
  const chunks = [...configJsonChunks(doc)]
  t.ok(chunks.length > 3, `${chunks.length} chunks`)
  t.equal(chunks.join(''), JSON.stringify(doc))
  t.equal([...configJsonChunks({})].join(''), '{}')
})

t.test('GET /v1/config over a socket: chunked, parses to the running document, ETag and 304', async (t) => {
  const api = await startApi(t, { config: withRecords(60_000) })
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const port = (api.app.server.address() as { port: number }).port
  const url = `http://127.0.0.1:${port}/v1/config`
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('etag'), `"${api.control.generation}"`)
  t.match(res.headers.get('content-type'), /^application\/json/)
  t.equal(res.headers.get('transfer-encoding'), 'chunked', 'streamed, not one buffer with a length')
  const body = await res.text()
  t.same(JSON.parse(body), api.control.config)
  t.equal(body, JSON.stringify(api.control.config), 'byte for byte what JSON.stringify writes')
  t.equal(api.control.config.lookupRecords.length, 60_000 + referenceConfig().lookupRecords.length)

  const cached = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}`, 'if-none-match': `"${api.control.generation}"` } })
  t.equal(cached.status, 304)
  await cached.arrayBuffer()
})
