import t from 'tap'
import { referenceConfig } from '../../examples/blue-red/topology'
import { validateConfig } from '../../lib/control/config-validate'
import { HostPolicy } from '../../lib/host/host-policy'
import { formatIPv4, formatMac, parseIPv4 } from '../../lib/packet/address'

const ip = parseIPv4

t.test('lookup, resolve and routes of the reference policy', async (t) => {
  const policy = HostPolicy.fromConfig(referenceConfig())
  t.equal(formatMac(policy.lookup(5001, ip('10.1.6.21'))!.mac), '00:15:5d:01:06:21', 'PowerShell MAC spelling accepted')
  t.equal(policy.lookup(6001, ip('10.1.6.20')), undefined, 'no cross-tenant record')
  t.equal(policy.routingDomain(5002), 'blue')
  t.equal(policy.routingDomain(6001), 'red')
  t.equal(policy.resolve(5001, ip('10.1.5.20'))!.virtualSubnetId, 5002, 'another VSID of the domain')
  t.equal(policy.resolve(6001, ip('10.1.5.20'))!.virtualSubnetId, 6002, 'never another domain')
  t.equal(formatIPv4(policy.route(5001, ip('8.8.8.8'))!.nextHop), '10.1.6.1')
  t.equal(formatIPv4(policy.nextRecord(5001, ip('198.51.100.10'))!.providerAddress), '192.168.6.2', 'default route → gateway → nvlb')
  t.ok(policy.isGateway(5002, ip('10.1.5.1')))
  t.notOk(policy.isGateway(5002, ip('10.1.6.1')))
  t.equal(formatMac(policy.neighbors.get(ip('192.168.6.2'))!), '02:00:c0:a8:06:02', 'nvlb itself is a static neighbour')
  t.equal(formatMac(policy.neighbors.get(ip('192.168.6.6'))!), '02:00:c0:a8:06:06')
})

t.test('the longest prefix wins', async (t) => {
  const config = referenceConfig()
  config.lookupRecords.push(
    { customerAddress: '10.1.6.2', virtualSubnetId: 5001, providerAddress: '192.168.6.5', macAddress: '02:00:00:00:00:02', customerId: 'blue' },
    { customerAddress: '10.1.6.3', virtualSubnetId: 5001, providerAddress: '192.168.6.6', macAddress: '02:00:00:00:00:03', customerId: 'blue' },
  )
  config.customerRoutes.push(
    { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '172.16.0.0/12', nextHop: '10.1.6.2', metric: 5 },
    { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '172.16.5.0/24', nextHop: '10.1.6.3', metric: 50 },
  )
  const policy = HostPolicy.fromConfig(config)
  t.equal(formatIPv4(policy.route(5001, ip('172.16.5.9'))!.nextHop), '10.1.6.3', '/24 beats /12')
  t.equal(formatIPv4(policy.route(5001, ip('172.17.0.1'))!.nextHop), '10.1.6.2', 'the /12')
  t.equal(formatIPv4(policy.route(5001, ip('9.9.9.9'))!.nextHop), '10.1.6.1', 'default route last')
  t.equal(formatIPv4(policy.nextRecord(5001, ip('172.17.0.1'))!.providerAddress), '192.168.6.5')
})

t.test('an invalid document is refused with the field named', async (t) => {
  const config = referenceConfig()
  config.lookupRecords[0]!.macAddress = 'not-a-mac'
  t.throws(() => HostPolicy.fromConfig(config), /lookupRecords\[0\]\.macAddress/)
})

t.test('records with the Nat or None rule are refused, as nvlb refuses them', async (t) => {
  for (const rule of ['TranslationMethodNat', 'TranslationMethodNone']) {
    const config = referenceConfig()
    config.lookupRecords.push({
      customerAddress: '10.1.6.77', virtualSubnetId: 5001, providerAddress: '192.168.6.5',
      macAddress: '02:00:00:00:00:77', customerId: 'blue', rule: rule as any,
    })
    let hostError: any
    let nvlbError: any
    try { HostPolicy.fromConfig(config) } catch (err) { hostError = err }
    try { validateConfig(config) } catch (err) { nvlbError = err }
    t.ok(hostError, `${rule}: the host emulator refuses the document`)
    t.equal(hostError?.code, 'NVLB_ERR_INVALID_FIELD')
    t.equal(hostError?.field, 'lookupRecords[14].rule')
    t.equal(hostError?.message, nvlbError?.message, `${rule}: with the same message as nvlb's validator`)
    t.match(hostError?.message, rule)
  }
})

t.test("a VSID's routing domain is the one its records or routes name, whatever their order", async (t) => {
  const config = referenceConfig()
  // A record without customerId first, in a VSID that a later customer route gives to 'blue'.
  config.lookupRecords.unshift({
    customerAddress: '10.1.7.5', virtualSubnetId: 5003, providerAddress: '192.168.6.5', macAddress: '02:00:00:00:07:05',
  })
  config.customerRoutes.push({ customerId: 'blue', virtualSubnetId: 5003, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.7.1' })
  config.lookupRecords.push({
    customerAddress: '10.1.8.5', virtualSubnetId: 7001, providerAddress: '192.168.6.5', macAddress: '02:00:00:00:08:05',
  })
  const policy = HostPolicy.fromConfig(config)
  t.equal(policy.routingDomain(5003), 'blue', 'the route names the domain')
  t.equal(policy.resolve(5001, ip('10.1.7.5'))?.virtualSubnetId, 5003, 'blue VMs reach it')
  t.equal(policy.lookup(5003, ip('10.1.7.5'))?.routingDomain, 'blue')
  t.equal(policy.routingDomain(7001), 'vsid:7001', 'a VSID nothing names is a domain of its own')
})
