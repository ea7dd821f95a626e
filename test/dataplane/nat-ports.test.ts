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

t.test('NatPorts: candidates are from 1024 up, below 65536, and congruent to the client port modulo the workers', async (t) => {
  const { NatPorts, NAT_PORT_FIRST, NAT_PORT_TRIES } = await import('../../lib/dataplane/nat-ports')
  for (const workers of [1, 2, 3, 7, 64]) {
    const p = new NatPorts(workers)
    for (const hash of [0, 1, -1, 0x7fffffff, -0x80000000, 123456789]) {
      for (const clientPort of [0, 1, 1023, 40000, 65535]) {
        const seen = new Set<number>()
        for (let a = 0; a < NAT_PORT_TRIES; a++) {
          const c = p.candidate(hash, clientPort, a)
          if (c < NAT_PORT_FIRST || c > 65535 || c % workers !== clientPort % workers) t.fail(`${workers} workers: ${c} for ${clientPort}`)
          seen.add(c)
        }
        if (seen.size !== NAT_PORT_TRIES) t.fail(`${workers} workers: repeated candidates`)
      }
    }
  }
  t.pass('all candidates in range and in the residue class')
})
