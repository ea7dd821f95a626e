import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { simulateFlow } from '../../lib/dataplane/simulate'
import { Harness, fromAppTier, fromClient } from '../helpers/engine-harness'

t.test('the simulator names the backend the engine picks', async (t) => {
  const h = new Harness()
  const snap = h.engine.snapshot!
  for (let sport = 30000; sport < 30050; sport++) {
    const sim = simulateFlow(snap, { virtualSubnetId: 0, protocol: 'tcp', source: '198.51.100.10', sourcePort: sport, destination: '203.0.113.10', destinationPort: 80 })
    const f = parseFrame(h.send(fromClient({ sport })).out[0]!.frame)!
    t.equal(sim.backend!.address, f.inner!.ipv4!.dst)
    t.equal(sim.backend!.virtualSubnetId, f.gre!.vsid)
    t.equal(sim.backend!.providerAddress, f.ipv4!.dst)
  }
  const ca = simulateFlow(snap, { virtualSubnetId: 6002, protocol: 'tcp', source: '10.1.5.20', sourcePort: 40000, destination: '10.1.5.100', destinationPort: 80 })
  const f = parseFrame(h.send(fromAppTier({ vsid: 6002, sport: 40000, vmMac: '00:15:5d:02:05:20' })).out[0]!.frame)!
  t.equal(ca.vip!.name, 'red-ca')
  t.equal(ca.vip!.natMode, 'fullnat')
  t.equal(ca.backend!.name, `6001/${f.inner!.ipv4!.dst}:80`)
  t.match(ca.reason, /Maglev slot \d+ of 65537/)
})

t.test('a flow that matches nothing says why', async (t) => {
  const snap = new Harness().engine.snapshot!
  const port = simulateFlow(snap, { virtualSubnetId: 0, protocol: 'tcp', source: '198.51.100.10', sourcePort: 1, destination: '203.0.113.10', destinationPort: 443 })
  t.equal(port.matched, false)
  t.match(port.reason, /no tcp rule has frontend port 443/)
  const tenant = simulateFlow(snap, { virtualSubnetId: 7001, protocol: 'udp', source: '10.0.0.1', sourcePort: 1, destination: '10.1.5.100', destinationPort: 80 })
  t.match(tenant.reason, /no VIP 10\.1\.5\.100 with udp rules in VSID 7001/)
})

t.test('a tenant VM using a public VIP (hairpin) is simulated like the engine balances it', async (t) => {
  const h = new Harness()
  const snap = h.engine.snapshot!
  for (let sport = 30100; sport < 30120; sport++) {
    const sim = simulateFlow(snap, { virtualSubnetId: 5002, protocol: 'tcp', source: '10.1.5.20', sourcePort: sport, destination: '203.0.113.10', destinationPort: 80 })
    const f = parseFrame(h.send(fromAppTier({ vsid: 5002, sport, vip: '203.0.113.10' })).out[0]!.frame)!
    t.equal(sim.vip!.name, 'blue-public')
    t.equal(sim.backend!.address, f.inner!.ipv4!.dst)
    t.match(sim.reason, /hairpin/)
  }
})
