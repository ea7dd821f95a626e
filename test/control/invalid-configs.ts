/**
 * A table of invalid configuration documents, each with the error code and field
 * path the validator must report. Each case edits a fresh copy of the reference
 * deployment (or returns a whole document of its own).
 */
import { ErrorCodes, type ErrorCode } from '../../lib/errors'
import { referenceConfig } from './reference-config'

export interface InvalidCase {
  name: string
  /** Edits the reference document in place, or returns a replacement document. */
  make: (doc: any) => unknown
  code: ErrorCode
  field: string | undefined
  /** A word the message must contain (the reason, in plain words). */
  says?: string
}

const E = ErrorCodes

/** Lookup records and a pool of `count` backends 10.1.6.30.. in VSID 5001. */
function addBackends(doc: any, count: number): void {
  const pool = doc.pools[0]
  for (let i = 0; i < count; i++) {
    const address = `10.1.6.${30 + i}`
    doc.lookupRecords.push({
      customerAddress: address,
      virtualSubnetId: 5001,
      providerAddress: '192.168.6.4',
      macAddress: `00155D0106${(30 + i).toString(16).padStart(2, '0')}`,
      customerId: 'blue',
    })
    pool.backends.push({ virtualSubnetId: 5001, address })
  }
}

export const invalidConfigs: InvalidCase[] = [
  { name: 'document is an array', make: () => [], code: E.INVALID_CONFIG, field: undefined, says: 'object' },
  { name: 'document is null', make: () => null, code: E.INVALID_CONFIG, field: undefined },
  { name: 'document is a string', make: () => 'node', code: E.INVALID_CONFIG, field: undefined },
  { name: 'document holds a BigInt', make: (d) => ({ ...d, extra: 1n }), code: E.INVALID_CONFIG, field: undefined, says: 'JSON' },
  { name: 'node missing', make: (d) => void delete d.node, code: E.INVALID_FIELD, field: 'node', says: 'required' },
  { name: 'node is an array', make: (d) => void (d.node = []), code: E.INVALID_FIELD, field: 'node' },
  { name: 'providerAddress missing', make: (d) => void delete d.node.providerAddress, code: E.INVALID_FIELD, field: 'node.providerAddress', says: 'required' },
  { name: 'providerAddress octet 256', make: (d) => void (d.node.providerAddress = '192.168.6.256'), code: E.BAD_ADDRESS, field: 'node.providerAddress', says: 'not an IPv4 address' },
  { name: 'providerAddress is a number', make: (d) => void (d.node.providerAddress = 3232237058), code: E.INVALID_FIELD, field: 'node.providerAddress', says: 'string' },
  { name: 'providerAddress 0.0.0.0', make: (d) => void (d.node.providerAddress = '0.0.0.0'), code: E.BAD_ADDRESS, field: 'node.providerAddress' },
  { name: 'providerMac garbage', make: (d) => void (d.node.providerMac = 'zz:zz'), code: E.BAD_MAC, field: 'node.providerMac', says: 'not a MAC' },
  { name: 'gatewayMac multicast', make: (d) => void (d.node.gatewayMac = '01:00:5e:00:00:01'), code: E.BAD_MAC, field: 'node.gatewayMac', says: 'multicast' },
  { name: 'externalMac mixed separators', make: (d) => void (d.node.externalMac = '02:00-c6:33:64:01'), code: E.BAD_MAC, field: 'node.externalMac' },
  { name: 'providerMtu too small', make: (d) => void (d.node.providerMtu = 100), code: E.INVALID_FIELD, field: 'node.providerMtu', says: 'between' },
  { name: 'providerMtu too large', make: (d) => void (d.node.providerMtu = 65535), code: E.INVALID_FIELD, field: 'node.providerMtu' },
  { name: 'providerMtu fractional', make: (d) => void (d.node.providerMtu = 1500.5), code: E.INVALID_FIELD, field: 'node.providerMtu', says: 'integer' },
  { name: 'maxFlows zero', make: (d) => void (d.node.maxFlows = 0), code: E.INVALID_FIELD, field: 'node.maxFlows' },
  { name: 'maglevTableSize not prime', make: (d) => void (d.node.maglevTableSize = 65536), code: E.INVALID_FIELD, field: 'node.maglevTableSize', says: 'prime' },
  { name: 'mssClamp a string', make: (d) => void (d.node.mssClamp = 'yes'), code: E.INVALID_FIELD, field: 'node.mssClamp' },
  { name: 'peerProviderAddresses not an array', make: (d) => void (d.node.peerProviderAddresses = '192.168.6.3'), code: E.INVALID_FIELD, field: 'node.peerProviderAddresses', says: 'array' },
  { name: 'peerProviderAddresses entry not an address', make: (d) => void (d.node.peerProviderAddresses = ['192.168.6.3', '192.168.6']), code: E.BAD_ADDRESS, field: 'node.peerProviderAddresses[1]', says: 'not an IPv4 address' },
  { name: 'peerProviderAddresses entry multicast', make: (d) => void (d.node.peerProviderAddresses = ['239.1.1.1']), code: E.BAD_ADDRESS, field: 'node.peerProviderAddresses[0]', says: 'multicast' },
  { name: 'peerProviderAddresses entry a number', make: (d) => void (d.node.peerProviderAddresses = [3232237059]), code: E.INVALID_FIELD, field: 'node.peerProviderAddresses[0]', says: 'string' },
  { name: "peerProviderAddresses lists the node's own PA", make: (d) => void (d.node.peerProviderAddresses = ['192.168.6.3', '192.168.6.2']), code: E.INVALID_FIELD, field: 'node.peerProviderAddresses[1]', says: 'own providerAddress' },
  { name: 'peerProviderAddresses lists a PA twice', make: (d) => void (d.node.peerProviderAddresses = ['192.168.6.3', '192.168.6.8', '192.168.6.3']), code: E.INVALID_FIELD, field: 'node.peerProviderAddresses[2]', says: 'already listed at node.peerProviderAddresses[0]' },
  {
    name: 'peerProviderAddresses too long',
    make: (d) => void (d.node.peerProviderAddresses = Array.from({ length: 65 }, (_, i) => `192.168.7.${i + 1}`)),
    code: E.INVALID_FIELD,
    field: 'node.peerProviderAddresses',
    says: 'at most 64 entries, not 65',
  },
  { name: 'providerInterface a number', make: (d) => void (d.node.providerInterface = 3), code: E.INVALID_FIELD, field: 'node.providerInterface' },
  { name: 'neighbors not an array', make: (d) => void (d.neighbors = {}), code: E.INVALID_FIELD, field: 'neighbors', says: 'array' },
  { name: 'neighbor MAC bad', make: (d) => void (d.neighbors[0].mac = '02:00:c0:a8:06'), code: E.BAD_MAC, field: 'neighbors[0].mac' },
  {
    name: 'neighbor twice',
    make: (d) => void d.neighbors.push({ address: '192.168.6.4', mac: '02:00:c0:a8:06:05' }),
    code: E.DUPLICATE_NAME,
    field: 'neighbors[1].address',
    says: 'already defined',
  },
  { name: 'lookup record CA truncated', make: (d) => void (d.lookupRecords[2].customerAddress = '10.1.6'), code: E.BAD_ADDRESS, field: 'lookupRecords[2].customerAddress' },
  { name: 'lookup record CA with leading zero', make: (d) => void (d.lookupRecords[2].customerAddress = '10.1.6.021'), code: E.BAD_ADDRESS, field: 'lookupRecords[2].customerAddress' },
  { name: 'lookup record VSID 4095', make: (d) => void (d.lookupRecords[2].virtualSubnetId = 4095), code: E.VSID_RANGE, field: 'lookupRecords[2].virtualSubnetId', says: '4096..16777214' },
  { name: 'lookup record VSID 16777215', make: (d) => void (d.lookupRecords[2].virtualSubnetId = 16777215), code: E.VSID_RANGE, field: 'lookupRecords[2].virtualSubnetId' },
  { name: 'lookup record VSID 0', make: (d) => void (d.lookupRecords[2].virtualSubnetId = 0), code: E.VSID_RANGE, field: 'lookupRecords[2].virtualSubnetId' },
  { name: 'lookup record VSID a string', make: (d) => void (d.lookupRecords[2].virtualSubnetId = '5001'), code: E.INVALID_FIELD, field: 'lookupRecords[2].virtualSubnetId' },
  { name: 'lookup record PA multicast', make: (d) => void (d.lookupRecords[1].providerAddress = '224.0.0.1'), code: E.BAD_ADDRESS, field: 'lookupRecords[1].providerAddress', says: 'multicast' },
  { name: 'lookup record MAC short', make: (d) => void (d.lookupRecords[2].macAddress = '00-15-5D-01-06'), code: E.BAD_MAC, field: 'lookupRecords[2].macAddress' },
  { name: 'lookup record rule unknown', make: (d) => void (d.lookupRecords[2].rule = 'TranslationMethodMagic'), code: E.INVALID_FIELD, field: 'lookupRecords[2].rule', says: 'TranslationMethodEncap' },
  {
    name: 'lookup record with the Nat rule (address rewrite without NVGRE)',
    make: (d) => void (d.lookupRecords[2].rule = 'TranslationMethodNat'),
    code: E.INVALID_FIELD,
    field: 'lookupRecords[2].rule',
    says: 'without NVGRE',
  },
  {
    name: 'lookup record with the None rule',
    make: (d) => void (d.lookupRecords[2].rule = 'TranslationMethodNone'),
    code: E.INVALID_FIELD,
    field: 'lookupRecords[2].rule',
    says: 'no translation',
  },
  { name: 'lookup record customerId empty', make: (d) => void (d.lookupRecords[2].customerId = ''), code: E.INVALID_FIELD, field: 'lookupRecords[2].customerId' },
  {
    name: 'lookup record twice for one (VSID, CA)',
    make: (d) => void d.lookupRecords.push({ ...d.lookupRecords[2], providerAddress: '192.168.6.7' }),
    code: E.DUPLICATE_NAME,
    field: 'lookupRecords[14].customerAddress',
    says: 'already defined at lookupRecords[2]',
  },
  { name: 'one VSID, two customerIds', make: (d) => void (d.lookupRecords[3].customerId = 'red'), code: E.CUSTOMER_ID_CONFLICT, field: 'lookupRecords[3].customerId', says: "routing domain 'blue'" },
  {
    name: 'one CA in two VSIDs of one routing domain',
    make: (d) =>
      void d.lookupRecords.push({ customerAddress: '10.1.6.21', virtualSubnetId: 5002, providerAddress: '192.168.6.7', macAddress: '00155D010599', customerId: 'blue' }),
    code: E.DUPLICATE_NAME,
    field: 'lookupRecords[14].customerAddress',
    says: 'routing domain',
  },
  { name: 'route prefix length 33', make: (d) => void (d.customerRoutes[0].destinationPrefix = '10.1.6.0/33'), code: E.BAD_ADDRESS, field: 'customerRoutes[0].destinationPrefix' },
  { name: 'route prefix without length', make: (d) => void (d.customerRoutes[0].destinationPrefix = '10.1.6.0'), code: E.BAD_ADDRESS, field: 'customerRoutes[0].destinationPrefix' },
  { name: 'route prefix with host bits', make: (d) => void (d.customerRoutes[0].destinationPrefix = '10.1.6.5/24'), code: E.BAD_ADDRESS, field: 'customerRoutes[0].destinationPrefix', says: 'host bits' },
  { name: 'route next hop a name', make: (d) => void (d.customerRoutes[1].nextHop = 'gateway'), code: E.BAD_ADDRESS, field: 'customerRoutes[1].nextHop' },
  { name: 'route without customerId', make: (d) => void delete d.customerRoutes[0].customerId, code: E.INVALID_FIELD, field: 'customerRoutes[0].customerId' },
  { name: 'route metric negative', make: (d) => void (d.customerRoutes[0].metric = -1), code: E.INVALID_FIELD, field: 'customerRoutes[0].metric' },
  { name: 'route names another routing domain', make: (d) => void (d.customerRoutes[0].customerId = 'red'), code: E.CUSTOMER_ID_CONFLICT, field: 'customerRoutes[0].customerId' },
  { name: 'route twice', make: (d) => void d.customerRoutes.push({ ...d.customerRoutes[1], nextHop: '10.1.6.2' }), code: E.DUPLICATE_NAME, field: 'customerRoutes[8].destinationPrefix' },
  { name: 'pool without name', make: (d) => void delete d.pools[0].name, code: E.INVALID_FIELD, field: 'pools[0].name' },
  { name: 'pool name with a slash', make: (d) => void (d.pools[1].name = 'red/web'), code: E.INVALID_FIELD, field: 'pools[1].name', says: 'not a valid name' },
  { name: 'pool name twice', make: (d) => void (d.pools[1].name = 'blue-web'), code: E.DUPLICATE_NAME, field: 'pools[1].name', says: "pool 'blue-web'" },
  { name: 'pool backends not an array', make: (d) => void (d.pools[0].backends = 'all'), code: E.INVALID_FIELD, field: 'pools[0].backends' },
  { name: 'backend weight negative', make: (d) => void (d.pools[0].backends[0].weight = -1), code: E.INVALID_FIELD, field: 'pools[0].backends[0].weight' },
  { name: 'backend weight above 65535', make: (d) => void (d.pools[0].backends[0].weight = 65536), code: E.INVALID_FIELD, field: 'pools[0].backends[0].weight' },
  { name: 'backend state unknown', make: (d) => void (d.pools[0].backends[1].state = 'up'), code: E.INVALID_FIELD, field: 'pools[0].backends[1].state', says: "'draining'" },
  { name: 'backend VSID 0', make: (d) => void (d.pools[0].backends[0].virtualSubnetId = 0), code: E.VSID_RANGE, field: 'pools[0].backends[0].virtualSubnetId' },
  { name: 'backend address bad', make: (d) => void (d.pools[0].backends[0].address = '10.1.6.x'), code: E.BAD_ADDRESS, field: 'pools[0].backends[0].address' },
  {
    name: 'backend twice in a pool',
    make: (d) => void d.pools[0].backends.push({ virtualSubnetId: 5001, address: '10.1.6.20', weight: 5 }),
    code: E.DUPLICATE_NAME,
    field: 'pools[0].backends[4].address',
  },
  {
    name: 'backend without lookup record',
    make: (d) => void d.pools[0].backends.push({ virtualSubnetId: 5001, address: '10.1.6.99' }),
    code: E.NO_LOOKUP_RECORD,
    field: 'pools[0].backends[4].address',
    says: 'no lookup record',
  },
  {
    name: 'backend CA known only in another tenant',
    make: (d) => void (d.pools[1].backends[0].address = '10.1.6.20'),
    code: E.NO_LOOKUP_RECORD,
    field: 'pools[1].backends[0].address',
  },
  {
    name: 'pool larger than the Maglev table',
    make: (d) => {
      d.node.maglevTableSize = 7
      addBackends(d, 4)
    },
    code: E.INVALID_FIELD,
    field: 'pools[0].backends',
    says: 'Maglev table size 7',
  },
  { name: 'VIP rule names a missing pool', make: (d) => void (d.vips[0].rules[0].pool = 'green-web'), code: E.UNKNOWN_POOL, field: 'vips[0].rules[0].pool', says: "pool 'green-web' does not exist" },
  { name: 'VIP rule without pool', make: (d) => void delete d.vips[1].rules[0].pool, code: E.INVALID_FIELD, field: 'vips[1].rules[0].pool' },
  {
    name: 'two VIPs with the same (VSID, VIP, protocol, port)',
    make: (d) => void (d.vips[1].address = '203.0.113.10'),
    code: E.DUPLICATE_VIP_RULE,
    field: 'vips[1].rules[0].frontendPort',
    says: 'already taken',
  },
  {
    name: 'one VIP with the same rule twice',
    make: (d) => void d.vips[0].rules.push({ protocol: 'tcp', frontendPort: 80, backendPort: 8080, pool: 'blue-web' }),
    code: E.DUPLICATE_VIP_RULE,
    field: 'vips[0].rules[1].frontendPort',
  },
  {
    name: 'CA VIPs of two tenants collide when given the same VSID',
    make: (d) => {
      d.vips[3].virtualSubnetId = 5002
      d.vips[3].rules[0].pool = 'blue-web'
    },
    code: E.DUPLICATE_VIP_RULE,
    field: 'vips[3].rules[0].frontendPort',
  },
  { name: 'VIP name twice', make: (d) => void (d.vips[1].name = 'blue-public'), code: E.DUPLICATE_NAME, field: 'vips[1].name' },
  { name: 'VIP name empty', make: (d) => void (d.vips[1].name = ''), code: E.INVALID_FIELD, field: 'vips[1].name' },
  { name: 'VIP address bad', make: (d) => void (d.vips[0].address = '203.0.113'), code: E.BAD_ADDRESS, field: 'vips[0].address' },
  { name: 'VIP VSID 4095', make: (d) => void (d.vips[2].virtualSubnetId = 4095), code: E.VSID_RANGE, field: 'vips[2].virtualSubnetId', says: 'public VIP' },
  { name: 'VIP VSID negative', make: (d) => void (d.vips[2].virtualSubnetId = -1), code: E.VSID_RANGE, field: 'vips[2].virtualSubnetId' },
  { name: 'VIP natMode unknown', make: (d) => void (d.vips[0].natMode = 'snat'), code: E.INVALID_FIELD, field: 'vips[0].natMode', says: "'fullnat'" },
  { name: 'VIP rules not an array', make: (d) => void (d.vips[0].rules = { protocol: 'tcp' }), code: E.INVALID_FIELD, field: 'vips[0].rules' },
  { name: 'VIP is a string', make: (d) => void (d.vips[1] = 'red-public'), code: E.INVALID_FIELD, field: 'vips[1]' },
  { name: 'rule protocol icmp', make: (d) => void (d.vips[0].rules[0].protocol = 'icmp'), code: E.INVALID_FIELD, field: 'vips[0].rules[0].protocol', says: "'tcp', 'udp'" },
  { name: 'rule protocol upper case', make: (d) => void (d.vips[0].rules[0].protocol = 'TCP'), code: E.INVALID_FIELD, field: 'vips[0].rules[0].protocol' },
  { name: 'rule frontendPort 0', make: (d) => void (d.vips[0].rules[0].frontendPort = 0), code: E.INVALID_FIELD, field: 'vips[0].rules[0].frontendPort', says: 'between 1 and 65535' },
  { name: 'rule frontendPort 65536', make: (d) => void (d.vips[0].rules[0].frontendPort = 65536), code: E.INVALID_FIELD, field: 'vips[0].rules[0].frontendPort' },
  { name: 'rule backendPort a string', make: (d) => void (d.vips[0].rules[0].backendPort = '80'), code: E.INVALID_FIELD, field: 'vips[0].rules[0].backendPort', says: 'integer' },
  { name: 'rule idle timeout 0', make: (d) => void (d.vips[0].rules[0].idleTimeoutSeconds = 0), code: E.INVALID_FIELD, field: 'vips[0].rules[0].idleTimeoutSeconds' },
  { name: 'rule idle timeout over a day', make: (d) => void (d.vips[0].rules[0].idleTimeoutSeconds = 86401), code: E.INVALID_FIELD, field: 'vips[0].rules[0].idleTimeoutSeconds' },
  { name: 'rule distribution 4-tuple', make: (d) => void (d.vips[0].rules[0].distribution = '4-tuple'), code: E.INVALID_FIELD, field: 'vips[0].rules[0].distribution', says: "'5-tuple'" },
  { name: 'public VIP without externalAddress', make: (d) => void delete d.node.externalAddress, code: E.INVALID_FIELD, field: 'node.externalAddress', says: 'public VIP' },
  { name: 'public VIP without externalMac', make: (d) => void delete d.node.externalMac, code: E.INVALID_FIELD, field: 'node.externalMac' },
  {
    name: 'CA VIP in a VSID no policy defines',
    make: (d) => void (d.vips[2].virtualSubnetId = 7002),
    code: E.UNKNOWN_VSID,
    field: 'vips[2].virtualSubnetId',
    says: 'VSID 7002',
  },
  {
    name: 'CA VIP balancing to another tenant',
    make: (d) => void (d.vips[2].rules[0].pool = 'red-web'),
    code: E.ROUTING_DOMAIN_MISMATCH,
    field: 'vips[2].rules[0].pool',
    says: "routing domain 'red'",
  },
]

/** A document that passes validation, for the cases that must stay valid. */
export function validVariant(edit: (doc: any) => void): any {
  const doc = referenceConfig()
  edit(doc)
  return doc
}

/** Builds the document of a case from a fresh reference document. */
export function documentOf(c: InvalidCase): unknown {
  const doc = referenceConfig()
  const replacement = c.make(doc)
  return replacement === undefined ? doc : replacement
}
