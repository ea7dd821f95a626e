import t from 'tap'
import { announcedPrefixes, sharedAnnouncement } from '../../lib/ha/announce-set'
import { referenceConfig } from '../../examples/blue-red/topology'
import type { HealthEntry } from '../../lib/health/health-monitor'

const config = referenceConfig()
const base = { config, generation: 3, adoptedGeneration: 3, health: [] as HealthEntry[] }

t.same(announcedPrefixes(base), ['203.0.113.10/32', '203.0.113.20/32'], 'public VIPs only, as /32')
t.same(announcedPrefixes({ ...base, config: undefined }), [], 'no configuration: nothing')
t.same(announcedPrefixes({ ...base, adoptedGeneration: 2 }), [], 'a worker runs an older generation: nothing')
t.same(announcedPrefixes({ ...base, adoptedGeneration: -1 }), [], 'a worker runs none: nothing')

// With a probe on the blue rule, the blue VIP needs a backend that is not down.
const probed = referenceConfig()
probed.probes = [{ name: 'web', protocol: 'tcp', port: 80 } as never]
const blueVip = probed.vips.find((v) => v.address === '203.0.113.10')!
blueVip.rules[0]!.probe = 'web'
const pool = probed.pools.find((p) => p.name === blueVip.rules[0]!.pool)!
const entry = (address: string, state: 'up' | 'down'): HealthEntry =>
  ({ pool: pool.name, backend: `5001/${address}:80`, virtualSubnetId: 5001, address, port: 80, state }) as HealthEntry
const allDown = pool.backends.map((b) => entry(b.address, 'down'))
t.same(announcedPrefixes({ ...base, config: probed, health: allDown }), ['203.0.113.20/32'], 'every probed backend down: withdrawn')
const oneUp = [entry(pool.backends[0]!.address, 'up'), ...allDown.slice(1)]
t.same(announcedPrefixes({ ...base, config: probed, health: oneUp }), ['203.0.113.10/32', '203.0.113.20/32'], 'one backend up: announced')
t.same(announcedPrefixes({ ...base, config: probed, health: [] }), ['203.0.113.10/32', '203.0.113.20/32'], 'health unknown: trusted')
const upButDisabled = structuredClone(probed)
upButDisabled.pools.find((p) => p.name === pool.name)!.backends.forEach((b, i) => (b.state = i === 0 ? 'disabled' : b.state))
t.same(announcedPrefixes({ ...base, config: upButDisabled, health: oneUp }), ['203.0.113.20/32'], 'the only healthy backend disabled: withdrawn')

// The shared provider address: with the instance's own PA as next hop, while some public VIP is announced.
const sharedNode = referenceConfig()
sharedNode.node.sharedProviderAddress = '192.168.7.1'
const shared = { ...base, config: sharedNode }
t.same(sharedAnnouncement(shared), { prefix: '192.168.7.1/32', nextHop: '192.168.6.2' }, 'announced, next hop the own PA')
t.equal(sharedAnnouncement(base), undefined, 'no shared PA configured: none')
t.equal(sharedAnnouncement({ ...shared, adoptedGeneration: 2 }), undefined, 'a worker runs an older generation: none')
t.equal(sharedAnnouncement({ ...shared, config: { ...sharedNode, vips: sharedNode.vips.filter((v) => v.virtualSubnetId !== 0) } }), undefined, 'no public VIP announced: none')
