/**
 * The host emulators on real interfaces: VMs of the reference deployment reach each
 * other's HTTP servers through NVGRE between host namespaces (no nvlb involved).
 */
import { execFileSync } from 'node:child_process'
import t from 'tap'
import {
  createTopology,
  destroyTopology,
  httpGetInNamespace,
  listTopologyNamespaces,
  ProcessGroup,
  randomPrefix,
  startHosts,
  startVmServers,
  Topology,
} from '../../examples/blue-red/topology'

const isRoot = process.getuid?.() === 0

/** Ip: InReceives of a namespace (/proc/net/snmp): every IPv4 packet its stack took in. */
function ipInReceives(namespace: string): number {
  const lines = execFileSync('ip', ['netns', 'exec', namespace, 'cat', '/proc/net/snmp'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith('Ip:'))
  const names = lines[0]!.split(/\s+/)
  const values = lines[1]!.split(/\s+/)
  return Number(values[names.indexOf('InReceives')])
}

t.test('VMs talk through two host emulators', { skip: isRoot ? false : 'needs root (network namespaces)' }, async (t) => {
  const prefix = randomPrefix()
  t.teardown(() => destroyTopology(prefix))
  const topology: Topology = createTopology({ prefix })
  let hosts: ProcessGroup | null = null
  let servers: ProcessGroup | null = null
  t.teardown(async () => {
    await servers?.stop()
    await hosts?.stop()
  })
  hosts = await startHosts(topology)
  servers = await startVmServers(topology)
  t.equal(hosts.processes.length, 4, 'one emulator per host')
  t.equal(servers.processes.length, 8, 'one HTTP server per VM')

  const ns = (node: string): string => `${prefix}-${node}`
  const get = (from: string, address: string) => httpGetInNamespace(ns(from), `http://${address}/`, 5000)

  const receivedBefore = topology.hosts.map((host) => ipInReceives(host.namespace))
  const cases: Array<[string, string, string, string]> = [
    ['same VSID, host1 → host2', 'blue-vm1', '10.1.6.22', 'blue-vm3\n'],
    ['same VSID, host2 → host1', 'blue-vm3', '10.1.6.20', 'blue-vm1\n'],
    ['same VSID, same host (delivered locally)', 'blue-vm1', '10.1.6.21', 'blue-vm2\n'],
    ['Red reaches its own 10.1.6.22, not Blue\'s', 'red-vm1', '10.1.6.22', 'red-vm2\n'],
    ['Blue web → Blue app tier (another VSID of the routing domain)', 'blue-vm2', '10.1.5.20', 'blue-vm11\n'],
    ['Red app tier → Red web tier', 'red-vm11', '10.1.6.21', 'red-vm1\n'],
  ]
  for (const [what, from, address, body] of cases) {
    const answer = await get(from, address)
    t.equal(answer.status, 200, `${what}: status`)
    t.equal(answer.body, body, `${what}: answered by the right VM`)
  }
  // 10.1.6.20 is Blue only: Red's packet goes to its gateway (nvlb, not running here) and nowhere else.
  await t.rejects(httpGetInNamespace(ns('red-vm1'), 'http://10.1.6.20/', 1500), 'Red cannot reach a Blue-only address')

  // The emulators own their interfaces (--own-interfaces): the host namespaces' own IP
  // stacks took in none of the packets of the traffic above.
  topology.hosts.forEach((host, i) => {
    t.equal(ipInReceives(host.namespace) - receivedBefore[i]!, 0, `${host.name}: the kernel's IP stack received none of the traffic`)
    const output = hosts!.processes.find((p) => p.name === host.name)!.output.join('\n')
    t.notMatch(output, /own-interfaces refused/, `${host.name}: the bypass was attached`)
    t.notMatch(output, /kernel-fast-path refused/, `${host.name}: the kernel's decapsulation and encapsulation were attached`)
  })

  const counters = await Promise.all(hosts.processes.map((p) => p.stop().then(() => p.output.join('\n'))))
  hosts = null
  t.match(counters.join('\n'), /"decapsulated":\d+/, 'the emulators report their counters on exit')
  t.match(counters.join('\n'), /"decapsulatedInKernel":[1-9]/, 'NVGRE between the hosts was decapsulated in the kernel (--kernel-fast-path)')
  t.match(counters.join('\n'), /"encapsulatedInKernel":[1-9]/, 'and encapsulated in the kernel')
  await servers.stop()
  servers = null
  topology.destroy()
  t.same(listTopologyNamespaces(prefix), [], 'nothing left behind')
})
