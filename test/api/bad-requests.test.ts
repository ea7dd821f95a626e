/**
 * A table of bad requests: each is answered 4xx with its NVLB_ERR_* code, and
 * leaves GET /v1/config, the generation and the state file byte-for-byte as
 * they were.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { TOKEN, referenceConfig, startApi } from './helpers'

interface BadRequest {
  name: string
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  url: string
  /** An object is sent as JSON; a string is sent as is with content-type application/json. */
  body?: unknown
  headers?: Record<string, string>
  status: number
  code: string
  /** The error names this field (exactly, or matching the RegExp). */
  field?: string | RegExp
}

const BLUE_VM2 = '/v1/pools/blue-web/backends/5001/10.1.6.21'

function config(edit: (c: any) => void): any {
  const c = referenceConfig()
  edit(c)
  return c
}

const vip = (over: Record<string, unknown> = {}) => ({
  name: 'new-vip',
  address: '203.0.113.50',
  virtualSubnetId: 0,
  rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'blue-web' }],
  ...over,
})
const rule = (over: Record<string, unknown>) => vip({ rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'blue-web', ...over }] })
const record = (over: Record<string, unknown> = {}) => ({
  customerAddress: '10.1.6.40',
  virtualSubnetId: 5001,
  providerAddress: '192.168.6.4',
  macAddress: '00-15-5D-01-06-40',
  customerId: 'blue',
  ...over,
})
const flow = (over: Record<string, unknown> = {}) => ({
  virtualSubnetId: 0,
  protocol: 'tcp',
  source: '198.51.100.10',
  sourcePort: 40000,
  destination: '203.0.113.10',
  destinationPort: 80,
  ...over,
})
const psRecord = JSON.parse(readFileSync('test/fixtures/powershell/blue-vm2-lookup-record.ps51.json', 'utf8'))

const cases: BadRequest[] = [
  // Bodies fastify cannot read or that fail the schemas.
  { name: 'unparsable JSON', method: 'POST', url: '/v1/vips', body: '{"name": "x",', status: 400, code: 'NVLB_ERR_BAD_REQUEST' },
  { name: 'empty JSON body', method: 'PUT', url: '/v1/config', body: '', status: 400, code: 'NVLB_ERR_BAD_REQUEST' },
  {
    name: 'body that is not JSON at all',
    method: 'POST',
    url: '/v1/pools',
    body: 'name=x',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'NVLB_ERR_BAD_REQUEST',
  },
  { name: 'config is an array', method: 'PUT', url: '/v1/config', body: [], status: 400, code: 'NVLB_ERR_INVALID_FIELD' },
  { name: 'VIP without a name', method: 'POST', url: '/v1/vips', body: { ...vip(), name: undefined }, status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'name' },
  { name: 'VSID as a string', method: 'POST', url: '/v1/vips', body: vip({ virtualSubnetId: '0' }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'virtualSubnetId' },
  { name: 'port as a string', method: 'POST', url: '/v1/vips', body: rule({ frontendPort: '80' }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'rules[0].frontendPort' },
  { name: 'unknown protocol', method: 'POST', url: '/v1/vips', body: rule({ protocol: 'sctp' }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'rules[0].protocol' },
  { name: 'unknown distribution', method: 'POST', url: '/v1/vips', body: rule({ distribution: '4-tuple' }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'rules[0].distribution' },
  { name: 'unknown NAT mode', method: 'POST', url: '/v1/vips', body: vip({ natMode: 'snat' }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'natMode' },
  { name: 'rules is not an array', method: 'POST', url: '/v1/vips', body: vip({ rules: {} }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'rules' },
  { name: 'backend state unknown', method: 'PATCH', url: BLUE_VM2, body: { state: 'sleeping' }, status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'state' },
  { name: 'backend weight as a string', method: 'PATCH', url: BLUE_VM2, body: { weight: '2' }, status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'weight' },
  { name: 'backend PATCH of another field', method: 'PATCH', url: BLUE_VM2, body: { address: '10.1.6.99' }, status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'address' },
  { name: 'empty backend PATCH', method: 'PATCH', url: BLUE_VM2, body: {}, status: 400, code: 'NVLB_ERR_INVALID_FIELD' },
  { name: 'backend VSID param not a number', method: 'GET', url: '/v1/pools/blue-web/backends/blue/10.1.6.21', status: 400, code: 'NVLB_ERR_BAD_REQUEST', field: 'vsid' },
  { name: 'backend address param not an address', method: 'PATCH', url: '/v1/pools/blue-web/backends/5001/10.1.6.300', body: { weight: 2 }, status: 400, code: 'NVLB_ERR_BAD_ADDRESS', field: 'address' },
  { name: 'simulate with a missing field', method: 'POST', url: '/v1/simulate', body: { ...flow(), destination: undefined }, status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'destination' },
  { name: 'simulate with a port out of range', method: 'POST', url: '/v1/simulate', body: flow({ destinationPort: 70000 }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'destinationPort' },
  { name: 'simulate with a bad address', method: 'POST', url: '/v1/simulate', body: flow({ source: '198.51.100' }), status: 400, code: 'NVLB_ERR_BAD_ADDRESS', field: 'source' },
  { name: 'simulate with a VSID out of range', method: 'POST', url: '/v1/simulate', body: flow({ virtualSubnetId: 100 }), status: 400, code: 'NVLB_ERR_VSID_RANGE', field: 'virtualSubnetId' },
  { name: 'import mode unknown', method: 'POST', url: '/v1/policy/import?mode=append', body: psRecord, status: 400, code: 'NVLB_ERR_BAD_REQUEST', field: 'mode' },

  // Documents the configuration validator refuses.
  { name: 'VIP rule naming an unknown pool', method: 'POST', url: '/v1/vips', body: rule({ pool: 'nope' }), status: 400, code: 'NVLB_ERR_UNKNOWN_POOL', field: 'vips[4].rules[0].pool' },
  {
    name: 'duplicate (VSID, VIP, protocol, port) across VIPs',
    method: 'POST',
    url: '/v1/vips',
    body: vip({ address: '203.0.113.10' }),
    status: 400,
    code: 'NVLB_ERR_DUPLICATE_VIP_RULE',
    field: /^vips\[4\]/,
  },
  {
    name: 'duplicate rule inside one VIP',
    method: 'POST',
    url: '/v1/vips',
    body: vip({ rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'blue-web' }, { protocol: 'tcp', frontendPort: 80, pool: 'red-web' }] }),
    status: 400,
    code: 'NVLB_ERR_DUPLICATE_VIP_RULE',
  },
  { name: 'VIP VSID out of range', method: 'POST', url: '/v1/vips', body: vip({ virtualSubnetId: 17000000 }), status: 400, code: 'NVLB_ERR_VSID_RANGE', field: 'vips[4].virtualSubnetId' },
  { name: 'VIP VSID below 4096', method: 'POST', url: '/v1/vips', body: vip({ virtualSubnetId: 42 }), status: 400, code: 'NVLB_ERR_VSID_RANGE' },
  { name: 'VIP with a bad address', method: 'POST', url: '/v1/vips', body: vip({ address: '203.0.113.256' }), status: 400, code: 'NVLB_ERR_BAD_ADDRESS', field: 'vips[4].address' },
  { name: 'VIP frontend port 0', method: 'POST', url: '/v1/vips', body: rule({ frontendPort: 0 }), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'vips[4].rules[0].frontendPort' },
  { name: 'VIP idle timeout negative', method: 'POST', url: '/v1/vips', body: rule({ idleTimeoutSeconds: -1 }), status: 400, code: 'NVLB_ERR_INVALID_FIELD' },
  {
    name: 'VIP replaced with a rule on an unknown pool',
    method: 'PUT',
    url: '/v1/vips/blue-public',
    body: vip({ name: 'blue-public', address: '203.0.113.10', rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'gone' }] }),
    status: 400,
    code: 'NVLB_ERR_UNKNOWN_POOL',
  },
  { name: "VIP PATCH onto another VIP's address and port", method: 'PATCH', url: '/v1/vips/red-public', body: { address: '203.0.113.10' }, status: 400, code: 'NVLB_ERR_DUPLICATE_VIP_RULE' },
  {
    name: 'backend without a lookup record',
    method: 'POST',
    url: '/v1/pools/blue-web/backends',
    body: { virtualSubnetId: 5001, address: '10.1.6.99' },
    status: 400,
    code: 'NVLB_ERR_NO_LOOKUP_RECORD',
    field: /^pools\[0\]\.backends\[4\]/,
  },
  {
    name: 'backend of another tenant without a record there',
    method: 'POST',
    url: '/v1/pools/blue-web/backends',
    body: { virtualSubnetId: 6001, address: '10.1.6.20' },
    status: 400,
    code: 'NVLB_ERR_NO_LOOKUP_RECORD',
  },
  { name: 'backend with a bad address', method: 'POST', url: '/v1/pools/blue-web/backends', body: { virtualSubnetId: 5001, address: '10.1.6' }, status: 400, code: 'NVLB_ERR_BAD_ADDRESS' },
  { name: 'backend VSID out of range', method: 'POST', url: '/v1/pools/blue-web/backends', body: { virtualSubnetId: 0, address: '10.1.6.20' }, status: 400, code: 'NVLB_ERR_VSID_RANGE' },
  { name: 'backend weight negative', method: 'PATCH', url: BLUE_VM2, body: { weight: -1 }, status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: /weight$/ },
  { name: 'pool with a backend without a lookup record', method: 'POST', url: '/v1/pools', body: { name: 'p', backends: [{ virtualSubnetId: 5001, address: '10.9.9.9' }] }, status: 400, code: 'NVLB_ERR_NO_LOOKUP_RECORD' },
  { name: 'lookup record with a bad MAC', method: 'POST', url: '/v1/policy/lookup-records', body: record({ macAddress: '00-15-5D-01-06' }), status: 400, code: 'NVLB_ERR_BAD_MAC', field: 'lookupRecords[14].macAddress' },
  { name: 'lookup record with a bad provider address', method: 'POST', url: '/v1/policy/lookup-records', body: record({ providerAddress: 'host1' }), status: 400, code: 'NVLB_ERR_BAD_ADDRESS' },
  { name: 'lookup record with a bad customer address', method: 'POST', url: '/v1/policy/lookup-records', body: record({ customerAddress: '10.1.6.x' }), status: 400, code: 'NVLB_ERR_BAD_ADDRESS', field: 'customerAddress' },
  { name: 'lookup record VSID out of range', method: 'POST', url: '/v1/policy/lookup-records', body: record({ virtualSubnetId: 16777215 }), status: 400, code: 'NVLB_ERR_VSID_RANGE' },
  { name: 'lookup record of another routing domain in a VSID', method: 'POST', url: '/v1/policy/lookup-records', body: record({ customerId: 'red' }), status: 400, code: 'NVLB_ERR_CUSTOMER_ID_CONFLICT' },
  { name: 'customer route with a bad prefix', method: 'POST', url: '/v1/policy/customer-routes', body: { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '10.0.0.0/33', nextHop: '10.1.6.1' }, status: 400, code: 'NVLB_ERR_BAD_ADDRESS', field: 'destinationPrefix' },
  { name: 'customer route with a bad next hop', method: 'POST', url: '/v1/policy/customer-routes', body: { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '10.0.0.0/8', nextHop: 'gw' }, status: 400, code: 'NVLB_ERR_BAD_ADDRESS' },
  { name: 'removing a lookup record a backend needs', method: 'DELETE', url: '/v1/policy/lookup-records/5001/10.1.6.21', status: 400, code: 'NVLB_ERR_NO_LOOKUP_RECORD' },
  { name: 'config: unknown pool', method: 'PUT', url: '/v1/config', body: config((c) => (c.vips[0].rules[0].pool = 'x')), status: 400, code: 'NVLB_ERR_UNKNOWN_POOL', field: 'vips[0].rules[0].pool' },
  { name: 'config: bad node MAC', method: 'PUT', url: '/v1/config', body: config((c) => (c.node.providerMac = '02:00:c0:a8:06')), status: 400, code: 'NVLB_ERR_BAD_MAC', field: 'node.providerMac' },
  { name: 'config: neighbor with a bad MAC', method: 'PUT', url: '/v1/config', body: config((c) => (c.neighbors[0].mac = 'zz:00:c0:a8:06:04')), status: 400, code: 'NVLB_ERR_BAD_MAC', field: 'neighbors[0].mac' },
  { name: 'config: no node', method: 'PUT', url: '/v1/config', body: config((c) => delete c.node), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'node' },
  { name: 'config: duplicate pool names', method: 'PUT', url: '/v1/config', body: config((c) => (c.pools[1].name = 'blue-web')), status: 400, code: 'NVLB_ERR_DUPLICATE_NAME', field: /^pools\[1\]/ },
  { name: 'config: duplicate VIP names', method: 'PUT', url: '/v1/config', body: config((c) => (c.vips[1].name = 'blue-public')), status: 400, code: 'NVLB_ERR_DUPLICATE_NAME' },
  { name: 'config: provider MTU as a string', method: 'PUT', url: '/v1/config', body: config((c) => (c.node.providerMtu = '1500')), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'node.providerMtu' },
  { name: 'config: lookup record without a MAC', method: 'PUT', url: '/v1/config', body: config((c) => delete c.lookupRecords[0].macAddress), status: 400, code: 'NVLB_ERR_INVALID_FIELD', field: 'lookupRecords[0].macAddress' },

  // Imports the PowerShell reader or the validator refuses.
  { name: 'import of a number', method: 'POST', url: '/v1/policy/import', body: '42', status: 400, code: 'NVLB_ERR_INVALID_FIELD' },
  { name: 'import with a bad MAC', method: 'POST', url: '/v1/policy/import', body: { ...psRecord, MACAddress: '00-15-5D' }, status: 400, code: 'NVLB_ERR_BAD_MAC' },
  { name: 'import with an unknown rule number', method: 'POST', url: '/v1/policy/import', body: [{ ...psRecord, Rule: 9 }], status: 400, code: 'NVLB_ERR_INVALID_FIELD' },
  { name: 'import whose routing domain conflicts with the running one', method: 'POST', url: '/v1/policy/import', body: psRecord, status: 400, code: 'NVLB_ERR_CUSTOMER_ID_CONFLICT' },

  // Resources that are not there, duplicates, stale writes.
  { name: 'show a missing VIP', method: 'GET', url: '/v1/vips/nope', status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'delete a missing pool', method: 'DELETE', url: '/v1/pools/nope', status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'add a backend to a missing pool', method: 'POST', url: '/v1/pools/nope/backends', body: { virtualSubnetId: 5001, address: '10.1.6.20' }, status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'patch a missing backend', method: 'PATCH', url: '/v1/pools/blue-web/backends/6001/10.1.6.21', body: { state: 'disabled' }, status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'delete a missing lookup record', method: 'DELETE', url: '/v1/policy/lookup-records/5001/10.9.9.9', status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'delete a missing customer route', method: 'DELETE', url: '/v1/policy/customer-routes/blue/5001/10.9.0.0/16', status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'unknown route', method: 'GET', url: '/v1/nothing-here', status: 404, code: 'NVLB_ERR_NOT_FOUND' },
  { name: 'create an existing VIP', method: 'POST', url: '/v1/vips', body: vip({ name: 'blue-public', address: '203.0.113.60' }), status: 409, code: 'NVLB_ERR_DUPLICATE_NAME' },
  { name: 'create an existing pool', method: 'POST', url: '/v1/pools', body: { name: 'red-web', backends: [] }, status: 409, code: 'NVLB_ERR_DUPLICATE_NAME' },
  { name: 'add a backend twice', method: 'POST', url: '/v1/pools/blue-web/backends', body: { virtualSubnetId: 5001, address: '10.1.6.21' }, status: 409, code: 'NVLB_ERR_DUPLICATE_NAME' },
  { name: 'add an existing lookup record', method: 'POST', url: '/v1/policy/lookup-records', body: record({ customerAddress: '10.1.6.21' }), status: 409, code: 'NVLB_ERR_DUPLICATE_NAME' },
  { name: 'delete a pool in use', method: 'DELETE', url: '/v1/pools/red-web', status: 409, code: 'NVLB_ERR_POOL_IN_USE' },
  { name: 'stale If-Match on PUT /v1/config', method: 'PUT', url: '/v1/config', body: referenceConfig(), headers: { 'if-match': '"0"' }, status: 412, code: 'NVLB_ERR_PRECONDITION_FAILED' },
  { name: 'stale If-Match on a backend PATCH', method: 'PATCH', url: BLUE_VM2, body: { state: 'draining' }, headers: { 'if-match': '"7"' }, status: 412, code: 'NVLB_ERR_PRECONDITION_FAILED' },
  { name: 'If-Match that is no generation', method: 'DELETE', url: '/v1/vips/blue-app', headers: { 'if-match': '"abc"' }, status: 412, code: 'NVLB_ERR_PRECONDITION_FAILED' },
  { name: 'no token', method: 'DELETE', url: '/v1/vips/blue-app', headers: { authorization: '' }, status: 401, code: 'NVLB_ERR_UNAUTHORIZED' },
  { name: 'wrong token', method: 'PUT', url: '/v1/config', body: referenceConfig(), headers: { authorization: `Bearer ${TOKEN}x` }, status: 401, code: 'NVLB_ERR_UNAUTHORIZED' },
]

t.ok(cases.length >= 40, `${cases.length} bad requests`)

t.test('every bad request is refused with its code and changes nothing', async (t) => {
  const api = await startApi(t, { config: referenceConfig() })
  const configBefore = (await api.call({ method: 'GET', url: '/v1/config' })).body
  const stateBefore = api.stateText()
  t.not(stateBefore, '<no state file>')

  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const headers: Record<string, string> = { ...(c.headers ?? {}) }
      let payload: string | undefined
      if (typeof c.body === 'string') {
        payload = c.body
        headers['content-type'] ??= 'application/json'
      } else if (c.body !== undefined) {
        payload = JSON.stringify(c.body)
        headers['content-type'] = 'application/json'
      }
      const res = await api.call({ method: c.method, url: c.url, payload, headers })
      t.equal(res.statusCode, c.status, `status (${res.body})`)
      const body = JSON.parse(res.body)
      t.equal(body.code, c.code, `code (${body.message})`)
      t.equal(body.statusCode, c.status)
      t.type(body.error, 'string')
      t.type(body.message, 'string')
      if (c.field instanceof RegExp) t.match(body.field, c.field, 'field')
      else if (c.field !== undefined) t.equal(body.field, c.field, 'field')
      t.equal(api.control.generation, 1, 'generation unchanged')
      t.equal((await api.call({ method: 'GET', url: '/v1/config' })).body, configBefore, 'GET /v1/config unchanged')
      t.equal(api.stateText(), stateBefore, 'state file unchanged')
    })
  }
})
