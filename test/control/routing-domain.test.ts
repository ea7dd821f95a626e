/**
 * The routing-domain rule is one function (lib/control/routing-domain.ts): the
 * validator, the compiler and the host emulator must partition the VSIDs alike, also
 * for documents whose records without a customerId come before those with one.
 */
import t from 'tap'
import { Compiler } from '../../lib/control/compiler'
import { validateConfig } from '../../lib/control/config-validate'
import { domainClaims, ownDomain, routingDomains } from '../../lib/control/routing-domain'
import { keyTableGet } from '../../lib/dataplane/key-table'
import { HostPolicy } from '../../lib/host/host-policy'
import { referenceConfig } from './reference-config'

function trickyConfig(): any {
  const doc = referenceConfig()
  // 5003: first record without customerId, a later route names 'blue'.
  doc.lookupRecords.unshift({ customerAddress: '10.1.7.5', virtualSubnetId: 5003, providerAddress: '192.168.6.5', macAddress: '02:00:00:00:07:05' })
  doc.customerRoutes.push({ customerId: 'blue', virtualSubnetId: 5003, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.7.1' })
  // 7001 and 7002: nothing names a customerId, each is a domain of its own.
  doc.lookupRecords.push({ customerAddress: '10.7.0.5', virtualSubnetId: 7001, providerAddress: '192.168.6.4', macAddress: '02:00:00:00:70:05' })
  doc.lookupRecords.push({ customerAddress: '10.7.0.6', virtualSubnetId: 7002, providerAddress: '192.168.6.4', macAddress: '02:00:00:00:70:06' })
  // 8001: only a route names it.
  doc.customerRoutes.push({ customerId: 'green', virtualSubnetId: 8001, destinationPrefix: '0.0.0.0/0', nextHop: '10.8.0.1' })
  return doc
}

t.test('the rule: named customerId, else a domain of its own', async (t) => {
  const domains = routingDomains(validateConfig(trickyConfig()))
  t.equal(domains.get(5001), 'blue')
  t.equal(domains.get(5003), 'blue', 'a route names it, though its first record does not')
  t.equal(domains.get(6002), 'red')
  t.equal(domains.get(7001), ownDomain(7001))
  t.equal(domains.get(7002), 'vsid:7002')
  t.equal(domains.get(8001), 'green', 'a VSID only a route mentions')
  const { conflict } = domainClaims({
    lookupRecords: [{ virtualSubnetId: 5001, customerId: 'blue' }, { virtualSubnetId: 5001 }],
    customerRoutes: [{ virtualSubnetId: 5001, customerId: 'red' }],
  })
  t.equal(conflict?.first.where, 'lookupRecords[0]')
  t.equal(conflict?.second.where, 'customerRoutes[0]')
})

t.test('validator, compiler and host emulator agree', async (t) => {
  const config = validateConfig(trickyConfig())
  const domains = routingDomains(config)
  const snapshot = new Compiler().compile(config, 1)
  const policy = HostPolicy.fromConfig(trickyConfig())
  const vsids = [...domains.keys()]
  for (const a of vsids) {
    t.equal(policy.routingDomain(a), domains.get(a), `host emulator: domain of ${a}`)
    for (const b of vsids) {
      const same = domains.get(a) === domains.get(b)
      const compiledSame = keyTableGet(snapshot.domains, a, 0, 0) === keyTableGet(snapshot.domains, b, 0, 0)
      t.equal(compiledSame, same, `compiler: ${a} and ${b} ${same ? 'share' : 'do not share'} a domain`)
    }
  }
})
