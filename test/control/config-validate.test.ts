import t from 'tap'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { validateConfig } from '../../lib/control/config-validate'
import { ConfigLimits } from '../../lib/control/config-schema'
import { routingDomains } from '../../lib/control/routing-domain'
import { isPrime } from '../../lib/hash/maglev'
import { minimalConfig, referenceConfig } from './reference-config'
import { documentOf, invalidConfigs, validVariant } from './invalid-configs'

t.test('the reference deployment is valid and comes back normalized', async (t) => {
  const input = referenceConfig()
  const before = JSON.stringify(input)
  const config = validateConfig(input)
  t.equal(JSON.stringify(input), before, 'the input is not modified')
  t.not(config, input, 'a new object')
  t.equal(config.lookupRecords.length, 14)
  t.equal(config.lookupRecords[2]!.macAddress, '00:15:5d:01:06:21', 'dashed MAC → canonical')
  t.equal(config.lookupRecords[3]!.macAddress, '00:15:5d:01:06:22', 'bare MAC → canonical')
  t.equal(config.lookupRecords[4]!.macAddress, '00:15:5d:01:06:23', 'colon MAC stays')
  t.same(validateConfig(config), config, 'validation is idempotent')
})

t.test('defaults are filled in', async (t) => {
  const config = validateConfig({
    node: {
      providerAddress: '192.168.6.2',
      providerMac: '02-00-C0-A8-06-02',
      externalAddress: '198.51.100.1',
      externalMac: '0200C6336401',
      gatewayMac: '02:00:00:00:00:01',
    },
    lookupRecords: [
      { customerAddress: '10.1.6.21', virtualSubnetId: 5001, providerAddress: '192.168.6.4', macAddress: '00155D010621' },
      { customerAddress: '10.1.5.20', virtualSubnetId: 5001, providerAddress: '192.168.6.7', macAddress: '00155D010520' },
    ],
    pools: [{ name: 'web', backends: [{ virtualSubnetId: 5001, address: '10.1.6.21' }] }],
    vips: [
      { name: 'public', address: '203.0.113.10', virtualSubnetId: 0, rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'web' }] },
      { name: 'inner', address: '10.1.5.100', virtualSubnetId: 5001, rules: [{ protocol: 'udp', frontendPort: 53, backendPort: 5353, pool: 'web' }] },
    ],
  })
  t.equal(config.node.providerMtu, 1500)
  t.equal(config.node.providerMac, '02:00:c0:a8:06:02')
  t.equal(config.node.externalMac, '02:00:c6:33:64:01')
  t.same(config.neighbors, [])
  t.same(config.customerRoutes, [])
  t.equal(config.lookupRecords[0]!.rule, 'TranslationMethodEncap')
  t.equal(config.lookupRecords[0]!.customerId, undefined, 'no customerId is invented')
  t.same(config.pools[0]!.backends[0], { virtualSubnetId: 5001, address: '10.1.6.21', weight: 1, state: 'active' })
  t.equal(config.vips[0]!.natMode, 'dnat', 'public VIP defaults to dnat')
  t.equal(config.vips[1]!.natMode, 'fullnat', 'CA VIP defaults to fullnat')
  t.same(config.vips[0]!.rules[0], {
    protocol: 'tcp',
    frontendPort: 80,
    backendPort: 80,
    pool: 'web',
    idleTimeoutSeconds: 240,
    distribution: '5-tuple',
  })
  t.equal(config.vips[1]!.rules[0]!.backendPort, 5353, 'an explicit backendPort is kept')
})

t.test('the smallest document is a node', async (t) => {
  const config = validateConfig(minimalConfig())
  t.same(config, {
    node: { ...minimalConfig().node, providerMtu: 1500 },
    neighbors: [],
    lookupRecords: [],
    customerRoutes: [],
    pools: [],
    vips: [],
  })
})

t.test('unknown extra fields are kept', async (t) => {
  const doc = referenceConfig()
  doc.comment = 'managed by ops'
  doc.node.rack = 'r12'
  doc.pools[0].owner = { team: 'web' }
  doc.lookupRecords[1].vmName = 'blue-vm1'
  const config = validateConfig(doc) as any
  t.equal(config.comment, 'managed by ops')
  t.equal(config.node.rack, 'r12')
  t.same(config.pools[0].owner, { team: 'web' })
  t.equal(config.lookupRecords[1].vmName, 'blue-vm1')
})

t.test('boundary values that are valid', async (t) => {
  const cases: Array<[string, (d: any) => void]> = [
    ['VSID 4096 and 16777214', (d) => {
      d.lookupRecords.push({ customerAddress: '10.9.0.1', virtualSubnetId: 4096, providerAddress: '192.168.6.9', macAddress: '00155D090001' })
      d.lookupRecords.push({ customerAddress: '10.9.0.2', virtualSubnetId: 16777214, providerAddress: '192.168.6.9', macAddress: '00155D090002' })
    }],
    ['64 peer PAs', (d) => {
      d.node.peerProviderAddresses = Array.from({ length: 64 }, (_, i) => `192.168.7.${i + 1}`)
    }],
    ['an empty list of peer PAs', (d) => {
      d.node.peerProviderAddresses = []
    }],
    ['ports 1 and 65535', (d) => {
      d.vips[0].rules[0].frontendPort = 1
      d.vips[0].rules[0].backendPort = 65535
    }],
    ['weight 0 and 65535', (d) => {
      d.pools[0].backends[0].weight = 0
      d.pools[0].backends[1].weight = 65535
    }],
    ['every state and distribution', (d) => {
      d.pools[0].backends[0].state = 'draining'
      d.pools[0].backends[1].state = 'disabled'
      d.vips[0].rules[0].distribution = '3-tuple'
      d.vips[1].rules[0].distribution = '2-tuple'
    }],
    ['idle timeout 1 and 86400', (d) => {
      d.vips[0].rules[0].idleTimeoutSeconds = 1
      d.vips[1].rules[0].idleTimeoutSeconds = 86400
    }],
    ['MTU 576 and 9216', (d) => void (d.node.providerMtu = 576)],
    ['MTU 9216', (d) => void (d.node.providerMtu = 9216)],
    ['small prime Maglev table', (d) => void (d.node.maglevTableSize = 7)],
    ['maxFlows and mssClamp', (d) => {
      d.node.maxFlows = 1
      d.node.mssClamp = true
      d.node.providerInterface = 'eth0'
      d.node.externalInterface = 'eth0'
    }],
    ['same VIP address and port, other protocol', (d) => {
      d.vips[0].rules.push({ protocol: 'udp', frontendPort: 80, pool: 'blue-web' })
    }],
    ['same CA VIP address in two tenants', () => undefined],
    ['same VIP address in two VIP objects on other ports', (d) => {
      d.vips.push({ name: 'blue-public-tls', address: '203.0.113.10', virtualSubnetId: 0, rules: [{ protocol: 'tcp', frontendPort: 443, pool: 'blue-web' }] })
    }],
    ['dnat on a CA VIP', (d) => void (d.vips[2].natMode = 'dnat')],
    ['fullnat on a public VIP', (d) => void (d.vips[0].natMode = 'fullnat')],
    ['a public VIP may balance across tenants', (d) => {
      d.pools.push({ name: 'mixed', backends: [{ virtualSubnetId: 5001, address: '10.1.6.21' }, { virtualSubnetId: 6001, address: '10.1.6.21' }] })
      d.vips[0].rules[0].pool = 'mixed'
    }],
    ['an empty pool and a VIP without rules', (d) => {
      d.pools.push({ name: 'empty', backends: [] })
      d.vips.push({ name: 'idle', address: '203.0.113.30', virtualSubnetId: 0, rules: [] })
    }],
    ['records without customerId form their own routing domain', (d) => {
      d.lookupRecords.push({ customerAddress: '10.7.0.5', virtualSubnetId: 7001, providerAddress: '192.168.6.4', macAddress: '00155D070005' })
      d.pools.push({ name: 'green', backends: [{ virtualSubnetId: 7001, address: '10.7.0.5' }] })
      d.vips.push({ name: 'green-inner', address: '10.7.0.100', virtualSubnetId: 7001, rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'green' }] })
    }],
    ['a CA VIP in a VSID defined only by a route', (d) => {
      d.customerRoutes.push({ customerId: 'blue', virtualSubnetId: 5003, destinationPrefix: '10.1.7.0/24', nextHop: '0.0.0.0' })
      d.vips.push({ name: 'blue-db', address: '10.1.7.100', virtualSubnetId: 5003, rules: [{ protocol: 'tcp', frontendPort: 5432, pool: 'blue-web' }] })
    }],
  ]
  for (const [name, edit] of cases) {
    t.doesNotThrow(() => validateConfig(validVariant(edit)), name)
  }
})

t.test(`a table of ${invalidConfigs.length} invalid documents, each with its code and field`, async (t) => {
  t.ok(invalidConfigs.length >= 40)
  const names = new Set(invalidConfigs.map((c) => c.name))
  t.equal(names.size, invalidConfigs.length, 'case names are unique')
  for (const c of invalidConfigs) {
    let caught: unknown
    try {
      validateConfig(documentOf(c))
    } catch (err) {
      caught = err
    }
    if (!(caught instanceof NvlbError)) {
      t.fail(`${c.name}: expected NvlbError ${c.code}, got ${caught === undefined ? 'no error' : String(caught)}`)
      continue
    }
    t.equal(caught.code, c.code, `${c.name}: code`)
    t.equal(caught.field, c.field, `${c.name}: field`)
    t.equal(caught.statusCode, 400, `${c.name}: status`)
    if (c.says !== undefined) t.match(caught.message, c.says, `${c.name}: message says why`)
    if (c.field !== undefined) t.ok(caught.message.startsWith(`${c.field}: `), `${c.name}: message names the field`)
  }
})

t.test('routingDomains maps every VSID to its customerId or a domain of its own', async (t) => {
  const doc = referenceConfig()
  doc.lookupRecords.push({ customerAddress: '10.7.0.5', virtualSubnetId: 7001, providerAddress: '192.168.6.4', macAddress: '00155D070005' })
  const domains = routingDomains(validateConfig(doc))
  t.equal(domains.get(5001), 'blue')
  t.equal(domains.get(5002), 'blue')
  t.equal(domains.get(6002), 'red')
  t.equal(domains.get(7001), 'vsid:7001')
})

t.test('isPrime and the documented limits', async (t) => {
  t.ok(isPrime(65537))
  t.ok(isPrime(7))
  t.ok(isPrime(ConfigLimits.MAGLEV_TABLE_MAX))
  t.notOk(isPrime(65536))
  t.notOk(isPrime(1))
  t.notOk(isPrime(65537 * 3))
  t.ok(isPrime(ConfigLimits.DEFAULT_MAGLEV_TABLE_SIZE))
  t.ok(ConfigLimits.PROVIDER_MTU_MIN >= 68 + 42, 'the smallest provider MTU still carries a minimal inner packet')
})

t.test('a MAC given in upper-case colon form is canonicalized', async (t) => {
  const doc = referenceConfig()
  doc.neighbors[0].mac = '02:00:C0:A8:06:04'
  t.equal(validateConfig(doc).neighbors[0]!.mac, '02:00:c0:a8:06:04')
})

t.test('errors are NvlbErrors with the INVALID_CONFIG family of codes', async (t) => {
  const codes = new Set(invalidConfigs.map((c) => c.code))
  for (const code of [
    ErrorCodes.INVALID_CONFIG,
    ErrorCodes.INVALID_FIELD,
    ErrorCodes.BAD_ADDRESS,
    ErrorCodes.BAD_MAC,
    ErrorCodes.VSID_RANGE,
    ErrorCodes.UNKNOWN_POOL,
    ErrorCodes.DUPLICATE_VIP_RULE,
    ErrorCodes.DUPLICATE_NAME,
    ErrorCodes.NO_LOOKUP_RECORD,
    ErrorCodes.UNKNOWN_VSID,
    ErrorCodes.CUSTOMER_ID_CONFLICT,
    ErrorCodes.ROUTING_DOMAIN_MISMATCH,
  ]) {
    t.ok(codes.has(code), `the table covers ${code}`)
  }
})
