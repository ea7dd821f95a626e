/**
 * The reference deployment with several nvlb instances behind a router (docs/ha.md):
 *
 *   <p>-client eth0 ── eth0 <p>-router extI ── ext0 <p>-nvlbI pa0 ── <p>-provider br0 ── hosts, VMs
 *                               bgpI ── bgp0 (BGP, BFD)
 *
 * It reuses the single-instance topology (topology.ts: provider bridge, hosts, VMs, client) and
 * replaces its `<p>-nvlb` node by the router and the instances. Each instance has its own PA, its
 * own external address (the BGP next hop), its own MACs, and a management link from the root
 * namespace for its admin API. The router runs BIRD and holds one kernel ECMP route per public VIP
 * with an L4 hash.
 *
 * The shared configuration lives in etcd (examples/ha/etcd-process.ts), started in the root namespace
 * and listening on the root ends of the management links only; each instance runs with
 * `--store etcd://<its link's root address>:2379/nvlb-<prefix>/` and keeps its own `node` in its state
 * dir. `configureInstances` is the one place that gives the instances their shared configuration:
 * through the first instance's admin API, then it waits until every instance runs the same revision.
 *
 * The return path (docs/ha.md): the router has a leg on the provider bridge too (`prov0`,
 * 192.168.6.1, the hosts' way to addresses off the provider subnet) and learns the shared provider
 * address SHARED_PA from every ready instance by BGP, next hop the instance's own PA, as one ECMP
 * route. `haDocument` turns the reference document into the several-instance one: the gateway
 * records point at SHARED_PA (the hosts reach it through the router: its neighbour entry is the
 * router's MAC), each instance's probe address has a record on that instance's own PA (probe answers
 * go to the instance that probed), and the CA VIP records stay on the first instance's PA (full NAT
 * needs the instance that owns the NAT port).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiClient } from '../../lib/cli/client'
import { freeLoopbackPort, launchEtcd, type EtcdProcess } from './etcd-process'
import type { NvlbConfig, NodeConfig } from '../../lib/control/config-types'
import { disableOffloads } from '../../lib/host/link-offload'
import { formatIPv4 } from '../../lib/packet/address'
import { BirdProcess } from '../../lib/ha/bird-process'
import { routerConfig, DEFAULT_TIMERS, type BgpTimers } from '../../lib/ha/bird-config'
import { configureThroughApi, vipTargets, waitForVips, type VipTarget } from '../blue-red/deploy'
import { pickManagementSubnet } from '../blue-red/management-link'
import {
  createTopology,
  nodeMainCommand,
  referenceConfig,
  spawnInNamespace,
  startHosts,
  startVmServers,
  type NodeProcess,
  type ProcessGroup,
  type Topology,
} from '../blue-red/topology'

export const ROUTER_ASN = 65000
export const INSTANCE_ASN = 65001
const API_PORT = 8573
const ETCD_PORT = 2379

/** Provider addresses of the instances: .2 (the CA VIP records' PA) and .3, then above the hosts. */
const INSTANCE_PAS = ['192.168.6.2', '192.168.6.3', '192.168.6.8', '192.168.6.9', '192.168.6.10', '192.168.6.11', '192.168.6.12', '192.168.6.13']
/** The provider address every instance owns besides its own; the gateway records point at it. */
export const SHARED_PA = '192.168.7.1'
/** The router's leg on the provider bridge. */
export const ROUTER_PROVIDER = { address: '192.168.6.1', prefixLength: 24, mac: '02:00:c0:a8:06:01', interface: 'prov0' } as const

export interface HaInstance {
  index: number
  namespace: string
  node: NodeConfig
  api: ApiClient
  apiUrl: string
  process: NodeProcess
}

export interface HaDeployment {
  prefix: string
  topology: Topology
  router: BirdProcess
  instances: HaInstance[]
  token: string
  vips: VipTarget[]
  /** Next hops of the router's kernel route to `address`. */
  nextHops(address: string): string[]
  /**
   * Start instance i again (stopping it first if it still runs) from the configuration its state
   * dir holds, as an instance rejoining with the shared configuration; replaces it in `instances`.
   */
  restart(i: number): Promise<HaInstance>
  teardown(): Promise<void>
}

const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const sysctl = (namespace: string, settings: string[]): void => {
  execFileSync('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-w', ...settings], { stdio: ['ignore', 'ignore', 'pipe'] })
}

function instanceNode(reference: NodeConfig, i: number): NodeConfig {
  const hex = (n: number): string => n.toString(16).padStart(2, '0')
  return {
    ...reference,
    providerAddress: INSTANCE_PAS[i - 1]!,
    providerMac: `02:00:c0:a8:06:${hex(Number(INSTANCE_PAS[i - 1]!.split('.')[3]))}`,
    externalAddress: `192.0.2.${4 * i - 2}`,
    externalMac: `02:00:c0:00:02:${hex(4 * i - 2)}`,
    providerInterface: 'pa0',
    externalInterface: 'ext0',
    probeAddress: `198.18.0.${i}`,
    sharedProviderAddress: SHARED_PA,
  }
}

/**
 * The several-instance document from the single-instance one (`nodes`: the instances' own sections):
 * gateway records on SHARED_PA; a record on each instance's own PA for its probe address (in each
 * probed VSID) and for its external address (hairpin replies, in each VSID of a public VIP's
 * backend); static neighbours for SHARED_PA (the router's MAC) and the instances' PAs.
 */
export function haDocument(reference: NvlbConfig, nodes: readonly NodeConfig[]): NvlbConfig {
  const doc = structuredClone(reference)
  const gateways = new Set(doc.customerRoutes.map((r) => `${r.virtualSubnetId}/${r.nextHop}`))
  for (const r of doc.lookupRecords) {
    if (gateways.has(`${r.virtualSubnetId}/${r.customerAddress}`)) r.providerAddress = SHARED_PA
  }
  const probedVsids = new Map<number, string | undefined>()
  for (const vip of doc.vips) {
    for (const rule of vip.rules) {
      if (rule.probe === undefined) continue
      for (const b of doc.pools.find((p) => p.name === rule.pool)?.backends ?? []) {
        probedVsids.set(b.virtualSubnetId, doc.lookupRecords.find((r) => r.virtualSubnetId === b.virtualSubnetId)?.customerId)
      }
    }
  }
  // Hairpin (a tenant VM using a public VIP): the reply goes to the external address of the
  // instance that translated the request, so that address gets a record on that instance's PA in
  // every VSID with a public VIP's backend.
  const publicVsids = new Map<number, string | undefined>()
  for (const vip of doc.vips.filter((v) => v.virtualSubnetId === 0)) {
    for (const rule of vip.rules) {
      for (const b of doc.pools.find((p) => p.name === rule.pool)?.backends ?? []) {
        publicVsids.set(b.virtualSubnetId, doc.lookupRecords.find((r) => r.virtualSubnetId === b.virtualSubnetId)?.customerId)
      }
    }
  }
  const ownRecord = (customerAddress: string, vsid: number, customerId: string | undefined, node: NodeConfig): void => {
    doc.lookupRecords.push({
      customerAddress,
      virtualSubnetId: vsid,
      providerAddress: node.providerAddress,
      macAddress: reference.node.gatewayMac,
      ...(customerId === undefined ? {} : { customerId }),
      rule: 'TranslationMethodEncap',
    })
  }
  for (const node of nodes) {
    if (node.externalAddress !== undefined) for (const [vsid, customerId] of publicVsids) ownRecord(node.externalAddress, vsid, customerId, node)
    if (node.probeAddress === undefined) continue
    for (const [vsid, customerId] of probedVsids) {
      ownRecord(node.probeAddress, vsid, customerId, node)
    }
  }
  doc.neighbors.push({ address: SHARED_PA, mac: ROUTER_PROVIDER.mac })
  for (const node of nodes) {
    if (!doc.neighbors.some((n) => n.address === node.providerAddress)) doc.neighbors.push({ address: node.providerAddress, mac: node.providerMac })
  }
  return doc
}

/** Give every instance the shared configuration (all but `node`): written once through the first instance, adopted by all from etcd. */
export async function configureInstances(instances: readonly HaInstance[], reference: NvlbConfig, timeoutMs = 30000): Promise<void> {
  await configureThroughApi(instances[0]!.api, reference)
  const revision = async (inst: HaInstance): Promise<number> => (await inst.api.get<NvlbConfig>('/v1/config')).generation ?? -1
  const wanted = await revision(instances[0]!)
  const deadline = Date.now() + timeoutMs
  for (const inst of instances.slice(1)) {
    while ((await revision(inst)) < wanted) {
      if (Date.now() > deadline) throw new Error(`nvlb${inst.index} did not adopt revision ${wanted} from etcd within ${timeoutMs} ms`)
      await new Promise((res) => setTimeout(res, 50))
    }
  }
}

export interface HaDeployOptions {
  prefix: string
  instances: number
  workers?: number
  timers?: BgpTimers
  drainMs?: number
  log?: (message: string) => void
}

export async function deployHa(options: HaDeployOptions): Promise<HaDeployment> {
  const log = options.log ?? (() => undefined)
  const n = options.instances
  if (!Number.isInteger(n) || n < 2 || n > INSTANCE_PAS.length) throw new Error(`--instances must be 2..${INSTANCE_PAS.length}`)
  const prefix = options.prefix
  const timers = options.timers ?? DEFAULT_TIMERS
  const names = Array.from({ length: n }, (_, i) => `nvlb${i + 1}`)
  const token = `ha-${prefix}-token`
  let topology: Topology | undefined
  let hosts: ProcessGroup | undefined
  let servers: ProcessGroup | undefined
  let routerBird: BirdProcess | undefined
  let etcd: EtcdProcess | undefined
  const instances: HaInstance[] = []
  const stateDir = mkdtempSync(join(tmpdir(), `nvlb-${prefix}-`))
  const reference = referenceConfig()
  const nodes: NodeConfig[] = names.map((_, k) => instanceNode(reference.node, k + 1))
  const configPath = join(stateDir, 'ha-config.json')
  writeFileSync(configPath, JSON.stringify(haDocument(reference, nodes), null, 2))
  const teardown = async (): Promise<void> => {
    await Promise.all(instances.map((i) => i.process.stop(5000)))
    await routerBird?.stop()
    await etcd?.stop()
    await hosts?.stop()
    await servers?.stop()
    topology?.destroy()
    for (let i = 1; i <= n; i++) {
      try {
        execFileSync('ip', ['link', 'delete', `${prefix}-m${i}`], { stdio: 'ignore' })
      } catch {
        // gone with its namespace
      }
    }
    rmSync(stateDir, { recursive: true, force: true })
  }
  try {
    log(`creating namespaces '${prefix}-*' (router and ${n} instances)`)
    topology = createTopology({ prefix, handleSignals: false, extraNodes: ['router', ...names], configPath })
    const t = topology
    // The single-instance node goes; the client now hangs off the router.
    // (the veth pairs first: a namespace's devices go asynchronously after `ip netns delete`)
    ip(['-n', t.nvlb.namespace, 'link', 'delete', t.nvlb.externalInterface])
    ip(['-n', t.nvlb.namespace, 'link', 'delete', t.nvlb.providerInterface])
    ip(['netns', 'delete', t.nvlb.namespace])
    const r = `${prefix}-router`
    ip(['link', 'add', t.client.interface, 'netns', t.client.namespace, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', r])
    ip(['-n', t.client.namespace, 'link', 'set', 'dev', t.client.interface, 'address', t.client.mac, 'mtu', '1500', 'up'])
    disableOffloads(t.client.namespace, t.client.interface)
    ip(['-n', t.client.namespace, 'address', 'add', `${t.client.address}/${t.client.prefixLength}`, 'dev', t.client.interface])
    ip(['-n', t.client.namespace, 'route', 'add', t.client.route.destination, 'via', t.client.route.via, 'dev', t.client.interface])
    ip(['-n', r, 'address', 'add', `${t.client.route.via}/${t.client.prefixLength}`, 'dev', 'eth0'])
    ip(['-n', r, 'link', 'set', 'dev', 'eth0', 'up'])
    disableOffloads(r, 'eth0')
    sysctl(r, [
      'net.ipv4.ip_forward=1', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
      // The hosts' NVGRE to SHARED_PA leaves by the interface it came in on: no redirects to the hosts.
      'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0',
    ])
    const mtu = String(t.config.node.providerMtu)
    // The router's leg on the provider bridge.
    const rp = ROUTER_PROVIDER
    ip(['link', 'add', rp.interface, 'netns', r, 'type', 'veth', 'peer', 'name', 'router', 'netns', t.provider.namespace])
    ip(['-n', r, 'link', 'set', 'dev', rp.interface, 'address', rp.mac, 'mtu', mtu, 'up'])
    ip(['-n', r, 'address', 'add', `${rp.address}/${rp.prefixLength}`, 'dev', rp.interface])
    ip(['-n', t.provider.namespace, 'link', 'set', 'dev', 'router', 'mtu', mtu, 'master', t.provider.bridge, 'up'])
    sysctl(r, [`net.ipv4.conf.${rp.interface}.send_redirects=0`])
    const mgmt: string[] = []
    const mgmtRoot: string[] = []
    for (let i = 1; i <= n; i++) {
      const inst = `${prefix}-nvlb${i}`
      const node = nodes[i - 1]!
      sysctl(inst, ['net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2'])
      ip(['link', 'add', `ext${i}`, 'netns', r, 'type', 'veth', 'peer', 'name', 'ext0', 'netns', inst])
      ip(['-n', r, 'address', 'add', `192.0.2.${4 * i - 3}/30`, 'dev', `ext${i}`])
      ip(['-n', r, 'link', 'set', 'dev', `ext${i}`, 'up'])
      disableOffloads(r, `ext${i}`)
      ip(['-n', inst, 'link', 'set', 'dev', 'ext0', 'address', node.externalMac!, 'mtu', '1500', 'up'])
      ip(['link', 'add', `bgp${i}`, 'netns', r, 'type', 'veth', 'peer', 'name', 'bgp0', 'netns', inst])
      ip(['-n', r, 'address', 'add', `172.31.${i}.1/30`, 'dev', `bgp${i}`])
      ip(['-n', inst, 'address', 'add', `172.31.${i}.2/30`, 'dev', 'bgp0'])
      ip(['-n', r, 'link', 'set', 'dev', `bgp${i}`, 'up'])
      ip(['-n', inst, 'link', 'set', 'dev', 'bgp0', 'up'])
      ip(['link', 'add', 'pa0', 'netns', inst, 'type', 'veth', 'peer', 'name', `nvlb${i}`, 'netns', t.provider.namespace])
      ip(['-n', inst, 'link', 'set', 'dev', 'pa0', 'address', node.providerMac, 'mtu', mtu, 'up'])
      ip(['-n', t.provider.namespace, 'link', 'set', 'dev', `nvlb${i}`, 'mtu', mtu, 'master', t.provider.bridge, 'up'])
      // The admin API: a link-local /30 from the root namespace.
      const { network } = pickManagementSubnet()
      const rootEnd = `${prefix}-m${i}`
      ip(['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'mgmt0', 'netns', inst])
      ip(['-n', inst, 'address', 'add', `${formatIPv4(network + 2)}/30`, 'dev', 'mgmt0'])
      ip(['-n', inst, 'link', 'set', 'dev', 'mgmt0', 'up'])
      ip(['address', 'add', `${formatIPv4(network + 1)}/30`, 'dev', rootEnd])
      ip(['link', 'set', 'dev', rootEnd, 'up'])
      mgmt.push(formatIPv4(network + 2))
      mgmtRoot.push(formatIPv4(network + 1))
    }

    log('starting etcd (the shared configuration) on the root ends of the management links')
    etcd = await launchEtcd({
      name: `nvlb-${prefix}`,
      dataDir: join(stateDir, 'etcd'),
      clientUrls: mgmtRoot.map((address) => `http://${address}:${ETCD_PORT}`),
      peerUrl: `http://127.0.0.1:${await freeLoopbackPort()}`,
    })

    log('starting the router (BIRD), host emulators and VM HTTP servers')
    routerBird = new BirdProcess({ runDir: join(stateDir, 'router'), namespace: r })
    await routerBird.start(
      routerConfig({
        routerId: '172.31.0.1',
        localAsn: ROUTER_ASN,
        neighbors: names.map((name, i) => ({ name, address: `172.31.${i + 1}.2`, asn: INSTANCE_ASN })),
        nextHopInterfaces: ['ext*', ROUTER_PROVIDER.interface],
        maxPaths: 16,
        timers,
      }),
    )
    ;[hosts, servers] = await Promise.all([startHosts(t), startVmServers(t)])

    log(`starting ${n} nvlb instances`)
    const bfd = timers.bfd === undefined ? 'off' : `${timers.bfd.intervalMs}:${timers.bfd.multiplier}`
    /** Start instance i; `fresh`: from its node section only, else from what its state dir holds (a rejoin). */
    const startInstance = async (i: number, fresh: boolean): Promise<HaInstance> => {
      const node = nodes[i - 1]!
      const dir = join(stateDir, `nvlb${i}`)
      const bootstrap = join(stateDir, `nvlb${i}.json`)
      writeFileSync(bootstrap, JSON.stringify({ node }))
      const apiUrl = `http://${mgmt[i - 1]}:${API_PORT}`
      const proc = await spawnInNamespace(
        `nvlb${i}`,
        `${prefix}-nvlb${i}`,
        [
          'env', `NVLB_TOKEN=${token}`,
          ...nodeMainCommand('bin/commands/run', [
            ...(fresh ? ['--config', bootstrap] : []), '--state-dir', dir, '--api-listen', `${mgmt[i - 1]}:${API_PORT}`,
            '--store', `etcd://${mgmtRoot[i - 1]}:${ETCD_PORT}/nvlb-${prefix}/`,
            '--workers', String(options.workers ?? 1), '--log-level', 'info',
            '--bgp-peer', `172.31.${i}.1:${ROUTER_ASN}`, '--bgp-asn', String(INSTANCE_ASN), '--router-id', `172.31.${i}.2`,
            '--bgp-hold', String(timers.holdSeconds), '--bfd', bfd, '--drain-ms', String(options.drainMs ?? 2000),
          ]),
        ],
        /"msg":"admin API listening"/,
        30000,
      )
      return { index: i, namespace: `${prefix}-nvlb${i}`, node, api: new ApiClient(apiUrl, token), apiUrl, process: proc }
    }
    instances.push(...(await Promise.all(nodes.map((_, k) => startInstance(k + 1, true)))))
    const restart = async (i: number): Promise<HaInstance> => {
      const k = instances.findIndex((inst) => inst.index === i)
      await instances[k]!.process.stop(5000)
      instances[k] = await startInstance(i, false)
      return instances[k]!
    }

    log('configuring the instances through the first one (etcd shares it)')
    await configureInstances(instances, t.config)
    const vips = vipTargets(t, t.config)
    const nextHops = (address: string): string[] => {
      const out = ip(['-n', r, 'route', 'show', `${address}/32`])
      return [...out.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort()
    }
    log('waiting until the router routes every public VIP and the shared PA to every instance, and every VIP answers')
    const deadline = Date.now() + 30000
    const announced = [...vips.filter((v) => v.virtualSubnetId === 0).map((v) => v.address), SHARED_PA]
    while (!announced.every((a) => nextHops(a).length === n)) {
      if (Date.now() > deadline) {
        throw new Error(`the router does not route ${announced.map((a) => `${a} via ${nextHops(a).join('+') || 'nothing'}`).join(', ')} to all ${n} instances`)
      }
      await new Promise((res) => setTimeout(res, 100))
    }
    await waitForVips(vips, 30000)
    return { prefix, topology: t, router: routerBird, instances, token, vips, nextHops, restart, teardown }
  } catch (err) {
    const output = instances.map((i) => `nvlb${i.index}:\n${i.process.output.slice(-15).join('\n')}`).join('\n')
    await teardown().catch(() => undefined)
    ;(err as Error).message += output === '' ? '' : `\n${output}`
    throw err
  }
}
