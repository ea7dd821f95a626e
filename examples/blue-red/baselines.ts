/**
 * What the benchmarks compare nvlb with, added to a running deployment (addresses from
 * 198.18.0.0/15, the benchmarking range of RFC 2544, only inside the deployment's
 * namespaces):
 *
 * - direct links: the client straight to each backend VM over a veth of its own (no load
 *   balancer, no NVGRE, no host emulator), so a load spread over the links reaches the
 *   same VMs as the VIP does:
 *
 *     client direct<i> 198.18.3.(4i+1)/30 ─── direct0 198.18.3.(4i+2)/30 <vm i>
 *
 * - a Linux load balancer: kernel forwarding + nftables DNAT (conntrack) in a namespace
 *   of its own, `<prefix>-nftlb` (create the deployment with extraNodes: ['nftlb']),
 *   routed to the same backend VMs over veths of their own:
 *
 *     client nft0 198.18.1.1/30 ─── client0 198.18.1.2/30 nftlb be<i> 198.18.2.(4i+1)/30 ─── nftlb0 198.18.2.(4i+2)/30 <vm i>
 *     client: 198.18.100.0/24 via 198.18.1.2          vm i: 198.18.1.0/30 via 198.18.2.(4i+1)
 *
 *   VIP 198.18.100.10; a flow's backend is picked by a hash of its source address and
 *   port (`jhash … mod N`), conntrack keeps it.
 *
 * The endpoints' interfaces (client, VMs) have checksum and segmentation offload off and
 * MTU providerMtu − 42, like their interfaces on the nvlb path; the kernel load balancer's
 * own interfaces keep the kernel defaults.
 */
import { execFileSync } from 'node:child_process'
import { disableOffloads } from '../../lib/host/link-offload'
import type { Topology, VmNode } from './topology'

export const NFT_NODE = 'nftlb'
export const NFT_VIP = '198.18.100.10'

function run(command: string, args: string[], input?: string): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || (err as Error).message}`)
  }
}

function veth(a: { namespace: string; name: string }, b: { namespace: string; name: string }): void {
  run('ip', ['link', 'add', a.name, 'netns', a.namespace, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.namespace])
}

function up(namespace: string, name: string, address: string, mtu: number, endpoint: boolean): void {
  run('ip', ['-n', namespace, 'link', 'set', 'dev', name, 'mtu', String(mtu), 'up'])
  run('ip', ['-n', namespace, 'address', 'add', address, 'dev', name])
  if (endpoint) disableOffloads(namespace, name)
}

function vmMtu(topology: Topology): number {
  return topology.vms[0]!.mtu
}

/** The client straight to `vm` (its HTTP server answers there too: it listens on 0.0.0.0). Returns the URL. */
/** A direct link from the client to each of `vms` (in order); returns each VM's URL on its link. */
export function addDirectLinks(topology: Topology, vms: readonly VmNode[]): string[] {
  const mtu = vmMtu(topology)
  return vms.map((vm, i) => {
    const clientSide = `198.18.3.${4 * i + 1}`
    const vmSide = `198.18.3.${4 * i + 2}`
    veth({ namespace: topology.client.namespace, name: `direct${i}` }, { namespace: vm.namespace, name: 'direct0' })
    up(topology.client.namespace, `direct${i}`, `${clientSide}/30`, mtu, true)
    up(vm.namespace, 'direct0', `${vmSide}/30`, mtu, true)
    return `http://${vmSide}/`
  })
}

export interface NftService {
  protocol: 'tcp' | 'udp'
  port: number
  backendPort: number
}

/** The nftables DNAT load balancer in `<prefix>-nftlb` in front of `backends`. Returns the VIP. */
export function addNftLoadBalancer(topology: Topology, backends: readonly VmNode[], services: readonly NftService[]): string {
  const lb = `${topology.prefix}-${NFT_NODE}`
  const mtu = vmMtu(topology)
  veth({ namespace: topology.client.namespace, name: 'nft0' }, { namespace: lb, name: 'client0' })
  up(topology.client.namespace, 'nft0', '198.18.1.1/30', mtu, true)
  up(lb, 'client0', '198.18.1.2/30', mtu, false)
  run('ip', ['-n', topology.client.namespace, 'route', 'add', '198.18.100.0/24', 'via', '198.18.1.2', 'dev', 'nft0'])
  const addresses: string[] = []
  backends.forEach((vm, i) => {
    const lbSide = `198.18.2.${4 * i + 1}`
    const vmSide = `198.18.2.${4 * i + 2}`
    veth({ namespace: lb, name: `be${i}` }, { namespace: vm.namespace, name: 'nftlb0' })
    up(lb, `be${i}`, `${lbSide}/30`, mtu, false)
    up(vm.namespace, 'nftlb0', `${vmSide}/30`, mtu, true)
    run('ip', ['-n', vm.namespace, 'route', 'add', '198.18.1.0/30', 'via', lbSide, 'dev', 'nftlb0'])
    addresses.push(vmSide)
  })
  run('ip', ['netns', 'exec', lb, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
  const map = addresses.map((address, i) => `${i} : ${address}`).join(', ')
  const rules = services
    .map(
      (s) =>
        `    ip daddr ${NFT_VIP} ${s.protocol} dport ${s.port} dnat to jhash ip saddr . ${s.protocol} sport mod ${addresses.length} map { ${map} } : ${s.backendPort}`,
    )
    .join('\n')
  const ruleset = `table ip nvlb_bench {\n  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n${rules}\n  }\n}\n`
  run('ip', ['netns', 'exec', lb, 'nft', '-f', '-'], ruleset)
  return NFT_VIP
}
