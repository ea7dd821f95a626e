import t from 'tap'
import { Verdict } from '../../lib/dataplane/engine'
import { Harness, fromAppTier, referenceConfig } from '../helpers/engine-harness'

t.test('full NAT source ports: unique per (backend, VIP), never a rule port, and counted when exhausted', async (t) => {
  const config = referenceConfig()
  config.pools.push({ name: 'one', backends: [{ virtualSubnetId: 5001, address: '10.1.6.20', weight: 1, state: 'active' }] })
  config.vips.find((v) => v.name === 'blue-ca')!.rules[0]!.pool = 'one'
  const h = new Harness(config, { maxFlows: 70000 })
  const used = new Set<number>()
  let forwarded = 0
  let duplicates = 0
  for (let sport = 1; sport <= 65535; sport++) {
    const r = h.send(fromAppTier({ vsid: 5002, sport }))
    if (r.verdict !== Verdict.TX) continue
    forwarded++
    const natPort = r.out[0]!.frame.readUInt16BE(14 + 20 + 8 + 14 + 20)
    if (used.has(natPort)) duplicates++
    used.add(natPort)
  }
  t.equal(duplicates, 0, 'no port given twice')
  t.equal(used.size, forwarded, 'every forwarded flow has its own port')
  t.notOk(used.has(80), 'the rule port 80 is never allocated')
  t.ok([...used].every((p) => p >= 1024), 'ports from 1024 up')
  const drops = h.engine.statsReport().drops
  t.ok(drops.nat_ports_exhausted! > 0, 'exhaustion is counted')
  t.equal(forwarded + drops.nat_ports_exhausted!, 65535)
})
