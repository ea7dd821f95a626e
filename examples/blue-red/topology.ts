/**
 * The reference deployment (Blue and Red tenants, four hosts, nvlb, a client) as Linux network namespaces.
 *
 * Every node is a namespace `<prefix>-<node>`. Links (veth pairs are created
 * directly inside their namespaces, so nothing is ever left in the root namespace):
 *
 *   client eth0 ─── ext0 nvlb pa0 ─── nvlb ┐
 *                                            ├ br0 in <prefix>-provider (the provider network)
 *   hostN pa0 ─────────────────── hostN ┘
 *   <vm> eth0 ─── <vm> hostN          (one veth per VM: the VM's port on its Hyper-V host)
 *
 * - The provider bridge lives in a namespace of its own, `<prefix>-provider`: tshark or
 *   tcpdump on its ports sees the provider link without disturbing any node.
 * - nvlb and the host emulators own their interfaces through AF_PACKET sockets. Their
 *   namespaces get no IPv4 address at all, IPv4 forwarding off and IPv6 disabled, so the
 *   kernel there never answers ARP for the PA or a VIP, never sends a RST or ICMP
 *   (e.g. "protocol unreachable" for GRE) and never forwards. The interfaces carry the
 *   configured MACs (node.providerMac, node.externalMac, the hosts' neighbor MACs) so the
 *   bridge and the client address frames to them.
 * - VM namespaces: eth0 with the lookup record's MAC, the CA/24, MTU = providerMtu − 42
 *   (1458: the NVGRE overhead, as Hyper-V lowers a VM's MTU) and a default route via the
 *   VSID's gateway CA (.1), which the host emulator answers ARP for.
 * - IPv6 is disabled everywhere: no router solicitations or DAD frames on the links.
 * - The client's and the VMs' interfaces have checksum and segmentation offload off
 *   (lib/host/link-offload.ts): their frames are read by AF_PACKET and sent on as they
 *   are, so they must carry real checksums and fit the MTU.
 *
 * `createTopology` removes everything again on failure, on process exit (also after an
 * uncaught error) and on SIGINT/SIGTERM/SIGHUP (unless `handleSignals: false`);
 * `destroyTopology(prefix)` is idempotent and also clears what a crashed run left behind.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { NVGRE_ENCAP_OVERHEAD } from '../../lib/packet/nvgre'
import { pathToFileURL } from 'node:url'
import type { NvlbConfig } from '../../lib/control/config-types'
import { disableOffloads, enableGro } from '../../lib/host/link-offload'
import { canonicalMac } from '../../lib/packet/address'
import referenceDocument from './config.json'

const NETNS_DIR = '/run/netns'
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,7}$/

export const CONFIG_PATH = join(__dirname, 'config.json')

/** The reference configuration document (a fresh copy each call). */
export function referenceConfig(): NvlbConfig {
  return structuredClone(referenceDocument) as unknown as NvlbConfig
}

interface VmPlacement {
  name: string
  host: string
  virtualSubnetId: number
  address: string
}

/** Which VM runs where. MACs and routing domains come from the lookup records. */
export const VM_PLACEMENT: readonly VmPlacement[] = [
  { name: 'blue-vm1', host: 'host1', virtualSubnetId: 5001, address: '10.1.6.20' },
  { name: 'blue-vm2', host: 'host1', virtualSubnetId: 5001, address: '10.1.6.21' },
  { name: 'blue-vm3', host: 'host2', virtualSubnetId: 5001, address: '10.1.6.22' },
  { name: 'blue-vm4', host: 'host3', virtualSubnetId: 5001, address: '10.1.6.23' },
  { name: 'red-vm1', host: 'host2', virtualSubnetId: 6001, address: '10.1.6.21' },
  { name: 'red-vm2', host: 'host3', virtualSubnetId: 6001, address: '10.1.6.22' },
  { name: 'blue-vm11', host: 'host4', virtualSubnetId: 5002, address: '10.1.5.20' },
  { name: 'red-vm11', host: 'host4', virtualSubnetId: 6002, address: '10.1.5.20' },
]

export const HOST_ADDRESSES: Readonly<Record<string, string>> = {
  host1: '192.168.6.4',
  host2: '192.168.6.5',
  host3: '192.168.6.6',
  host4: '192.168.6.7',
}

export interface VmNode {
  name: string
  namespace: string
  /** Name of the host node (`host1`…). */
  host: string
  /** The VM's interface inside its namespace. */
  interface: string
  /** The VM's port on its host: the veth end inside the host namespace. */
  hostInterface: string
  virtualSubnetId: number
  customerId: string
  address: string
  prefixLength: number
  gateway: string
  /** Canonical lower-case MAC, the lookup record's. */
  mac: string
  mtu: number
}

export interface HostNode {
  name: string
  namespace: string
  providerInterface: string
  providerAddress: string
  providerMac: string
  /** This host's port on the provider bridge (in the provider namespace). */
  bridgePort: string
  vms: VmNode[]
}

export interface Topology {
  prefix: string
  /** The nvlb configuration document of this deployment (config.json). */
  config: NvlbConfig
  configPath: string
  /** Every namespace created, in creation order. */
  namespaces: string[]
  client: {
    name: string
    namespace: string
    interface: string
    address: string
    prefixLength: number
    mac: string
    /** The route toward the public VIPs. */
    route: { destination: string; via: string }
  }
  nvlb: {
    name: string
    namespace: string
    externalInterface: string
    providerInterface: string
    externalAddress: string
    providerAddress: string
    externalMac: string
    providerMac: string
  }
  provider: {
    name: string
    namespace: string
    bridge: string
    /** Bridge port of nvlb's provider link. */
    nvlbPort: string
  }
  hosts: HostNode[]
  vms: VmNode[]
  /** Same as destroyTopology(prefix, extraNodes). */
  destroy(): void
}

export interface TopologyOptions {
  /** `[a-z][a-z0-9]{0,7}`; default: `nv` + 4 random hex digits. */
  prefix?: string
  /**
   * Default true: SIGINT/SIGTERM/SIGHUP destroy the topology and then kill the process with
   * the same signal. Pass false when the caller handles these signals itself (e.g. to stop
   * its processes gracefully first); the topology is then removed when the process exits.
   */
  handleSignals?: boolean
  /** A configuration document to build from instead of config.json (same layout, other values). */
  configPath?: string
  /**
   * More namespaces `<prefix>-<node>` to create empty (loopback up, IPv6 and forwarding
   * off) and remove with the rest, e.g. for a benchmark's own links.
   */
  extraNodes?: readonly string[]
}

export function randomPrefix(): string {
  return `nv${randomBytes(2).toString('hex')}`
}

function checkPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`topology prefix '${prefix}' must match ${PREFIX_PATTERN} (short, no dash)`)
  }
}

/** The node layout for a prefix, without touching the system. */
export function describeTopology(prefix: string, configPath = CONFIG_PATH): Omit<Topology, 'destroy'> {
  const config =
    configPath === CONFIG_PATH ? referenceConfig() : (JSON.parse(readFileSync(configPath, 'utf8')) as NvlbConfig)
  checkPrefix(prefix)
  const ns = (node: string): string => `${prefix}-${node}`
  const mtu = config.node.providerMtu - NVGRE_ENCAP_OVERHEAD
  const vms: VmNode[] = VM_PLACEMENT.map((p) => {
    const record = config.lookupRecords.find((r) => r.virtualSubnetId === p.virtualSubnetId && r.customerAddress === p.address)
    if (record === undefined) throw new Error(`config has no lookup record for ${p.name} (${p.virtualSubnetId}, ${p.address})`)
    const route = config.customerRoutes.find((r) => r.virtualSubnetId === p.virtualSubnetId && r.destinationPrefix === '0.0.0.0/0')
    if (route === undefined) throw new Error(`config has no default customer route for VSID ${p.virtualSubnetId}`)
    return {
      name: p.name,
      namespace: ns(p.name),
      host: p.host,
      interface: 'eth0',
      hostInterface: p.name,
      virtualSubnetId: p.virtualSubnetId,
      customerId: record.customerId ?? String(p.virtualSubnetId),
      address: p.address,
      prefixLength: 24,
      gateway: route.nextHop,
      mac: canonicalMac(record.macAddress)!,
      mtu,
    }
  })
  const hosts: HostNode[] = Object.entries(HOST_ADDRESSES).map(([name, address]) => {
    const neighbor = config.neighbors.find((n) => n.address === address)
    if (neighbor === undefined) throw new Error(`config has no neighbor entry (MAC) for ${name} ${address}`)
    return {
      name,
      namespace: ns(name),
      providerInterface: 'pa0',
      providerAddress: address,
      providerMac: canonicalMac(neighbor.mac)!,
      bridgePort: name,
      vms: vms.filter((vm) => vm.host === name),
    }
  })
  const node = config.node
  return {
    prefix,
    config,
    configPath,
    namespaces: [ns('provider'), ns('client'), ns('nvlb'), ...hosts.map((h) => h.namespace), ...vms.map((v) => v.namespace)],
    client: {
      name: 'client',
      namespace: ns('client'),
      interface: 'eth0',
      address: '198.51.100.10',
      prefixLength: 24,
      mac: '02:00:c6:33:64:0a',
      route: { destination: '203.0.113.0/24', via: node.externalAddress ?? '198.51.100.1' },
    },
    nvlb: {
      name: 'nvlb',
      namespace: ns('nvlb'),
      externalInterface: node.externalInterface ?? 'ext0',
      providerInterface: node.providerInterface ?? 'pa0',
      externalAddress: node.externalAddress ?? '198.51.100.1',
      providerAddress: node.providerAddress,
      externalMac: canonicalMac(node.externalMac ?? '02:00:c6:33:64:01')!,
      providerMac: canonicalMac(node.providerMac)!,
    },
    provider: { name: 'provider', namespace: ns('provider'), bridge: 'br0', nvlbPort: 'nvlb' },
    hosts,
    vms,
  }
}

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`ip ${args.join(' ')} failed: ${stderr.trim() || (err as Error).message}`)
  }
}

function sysctl(namespace: string, settings: string[]): void {
  try {
    execFileSync('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-w', ...settings], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    throw new Error(`sysctl in ${namespace} failed: ${String((err as { stderr?: unknown }).stderr ?? err)}`)
  }
}

/** True when the kernel has bridge netfilter (its sysctls exist in `namespace`). */
function bridgeNetfilter(namespace: string): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', namespace, 'sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'], { stdio: ['ignore', 'ignore', 'ignore'] })
    return true
  } catch {
    return false
  }
}

/** Node names of the deployment; only `<prefix>-<one of these>` is ever created or removed. */
export const TOPOLOGY_NODES: readonly string[] = [
  'provider',
  'client',
  'nvlb',
  ...Object.keys(HOST_ADDRESSES),
  ...VM_PLACEMENT.map((vm) => vm.name),
]

function nodeOf(prefix: string, name: string, extraNodes: readonly string[]): boolean {
  if (!name.startsWith(`${prefix}-`)) return false
  const node = name.slice(prefix.length + 1)
  return TOPOLOGY_NODES.includes(node) || extraNodes.includes(node)
}

/** The deployment's namespaces that exist: `<prefix>-<node>` for the nodes above and `extraNodes`. */
export function listTopologyNamespaces(prefix: string, extraNodes: readonly string[] = []): string[] {
  checkPrefix(prefix)
  if (!existsSync(NETNS_DIR)) return []
  return readdirSync(NETNS_DIR).filter((name) => nodeOf(prefix, name, extraNodes))
}

/** Root-namespace links named `<prefix>-<node>` (never created, checked anyway). */
function rootLinks(prefix: string, extraNodes: readonly string[]): string[] {
  const out = ip(['-o', 'link', 'show'])
  const names: string[] = []
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line)
    if (m !== null && nodeOf(prefix, m[1]!, extraNodes)) names.push(m[1]!)
  }
  return names
}

/** Pids of live processes whose network namespace is one of `namespaces`. */
function processesIn(namespaces: string[]): number[] {
  const inodes = new Set<string>()
  for (const name of namespaces) {
    try {
      inodes.add(`net:[${statSync(join(NETNS_DIR, name)).ino}]`)
    } catch {
      // already gone
    }
  }
  if (inodes.size === 0) return []
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (inodes.has(readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry))
    } catch {
      // exited meanwhile, or a zombie (which no longer holds a namespace)
    }
  }
  return pids
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/** Wait (bounded) until no process lives in the namespaces; returns the ones still there. */
function waitForNoProcesses(namespaces: string[], timeoutMs: number): number[] {
  const deadline = Date.now() + timeoutMs
  let pids = processesIn(namespaces)
  while (pids.length > 0 && Date.now() < deadline) {
    sleepSync(20)
    pids = processesIn(namespaces)
  }
  return pids
}

/** Prefixes created by this process and not yet destroyed → their extra nodes. */
const activePrefixes = new Map<string, readonly string[]>()

/**
 * Remove every namespace `<prefix>-<node>` (after stopping the processes inside it:
 * SIGTERM, then SIGKILL) and any root-namespace link of that name. Synchronous,
 * idempotent, safe to call from an exit handler and for leftovers of a crashed run.
 * `extraNodes`: the ones given to createTopology, if any.
 */
export function destroyTopology(prefix: string, extraNodes: readonly string[] = []): void {
  checkPrefix(prefix)
  const namespaces = listTopologyNamespaces(prefix, extraNodes)
  signalAll(processesIn(namespaces), 'SIGTERM')
  const stubborn = waitForNoProcesses(namespaces, 3000)
  if (stubborn.length > 0) {
    signalAll(stubborn, 'SIGKILL')
    waitForNoProcesses(namespaces, 2000)
  }
  const problems: string[] = []
  for (const name of namespaces) {
    try {
      ip(['netns', 'delete', name])
    } catch (err) {
      if (existsSync(join(NETNS_DIR, name))) problems.push((err as Error).message)
    }
  }
  for (const link of rootLinks(prefix, extraNodes)) {
    try {
      ip(['link', 'delete', link])
    } catch (err) {
      problems.push((err as Error).message)
    }
  }
  activePrefixes.delete(prefix)
  if (problems.length > 0) throw new Error(`destroyTopology(${prefix}): ${problems.join('; ')}`)
}

let hooksInstalled = false
let signalHooks = false

function destroyActive(): void {
  for (const [prefix, extraNodes] of [...activePrefixes]) {
    try {
      destroyTopology(prefix, extraNodes)
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`)
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  destroyActive()
  // Die of the signal as if nobody had caught it (other passive listeners, e.g. signal-exit, re-raise too).
  process.removeListener(signal, onSignal)
  process.kill(process.pid, signal)
}

function installHooks(handleSignals: boolean): void {
  if (!hooksInstalled) {
    hooksInstalled = true
    process.on('exit', destroyActive)
  }
  if (handleSignals && !signalHooks) {
    signalHooks = true
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)
  }
}

/** Create the whole deployment. On any failure everything created so far is removed and the error rethrown. */
export function createTopology(options: TopologyOptions = {}): Topology {
  const prefix = options.prefix ?? randomPrefix()
  const extraNodes = options.extraNodes ?? []
  for (const node of extraNodes) {
    if (!/^[a-z][a-z0-9-]{0,15}$/.test(node) || TOPOLOGY_NODES.includes(node)) throw new Error(`extra node name '${node}' is not allowed`)
  }
  const layout = describeTopology(prefix, options.configPath)
  layout.namespaces.push(...extraNodes.map((node) => `${prefix}-${node}`))
  const leftovers = listTopologyNamespaces(prefix, extraNodes)
  if (leftovers.length > 0) {
    throw new Error(
      `namespaces with prefix '${prefix}' already exist (${leftovers.join(', ')}); ` +
        `another run uses it, or remove leftovers with destroyTopology('${prefix}')`,
    )
  }
  installHooks(options.handleSignals ?? true)
  activePrefixes.set(prefix, extraNodes)
  try {
    build(layout)
  } catch (err) {
    try {
      destroyTopology(prefix, extraNodes)
    } catch (cleanupErr) {
      process.stderr.write(`${(cleanupErr as Error).message}\n`)
    }
    throw err
  }
  return { ...layout, destroy: () => destroyTopology(prefix, extraNodes) }
}

function veth(a: { namespace: string; name: string }, b: { namespace: string; name: string }): void {
  ip(['link', 'add', a.name, 'netns', a.namespace, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.namespace])
}

function setLink(namespace: string, name: string, settings: string[]): void {
  ip(['-n', namespace, 'link', 'set', 'dev', name, ...settings])
}

function build(t: Omit<Topology, 'destroy'>): void {
  const mtu = String(t.config.node.providerMtu)
  for (const namespace of t.namespaces) {
    ip(['netns', 'add', namespace])
    sysctl(namespace, [
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
      'net.ipv4.ip_forward=0',
    ])
    setLink(namespace, 'lo', ['up'])
  }

  // The provider network: one bridge, STP off (ports forward at once).
  const p = t.provider
  ip(['-n', p.namespace, 'link', 'add', p.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
  // A physical fabric's switches do not run the host's firewall on what they switch. Where the
  // kernel has br_netfilter, each new namespace starts with bridged frames sent through the IP,
  // IPv6 and ARP hooks: a quarter of nvlb's CPU in bench wire went there (perf).
  if (bridgeNetfilter(p.namespace)) {
    sysctl(p.namespace, [
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
    ])
  }
  setLink(p.namespace, p.bridge, ['up'])

  // client <-> nvlb external side
  const c = t.client
  const n = t.nvlb
  veth({ namespace: c.namespace, name: c.interface }, { namespace: n.namespace, name: n.externalInterface })
  setLink(c.namespace, c.interface, ['address', c.mac, 'mtu', '1500', 'up'])
  disableOffloads(c.namespace, c.interface)
  ip(['-n', c.namespace, 'address', 'add', `${c.address}/${c.prefixLength}`, 'dev', c.interface])
  ip(['-n', c.namespace, 'route', 'add', c.route.destination, 'via', c.route.via, 'dev', c.interface])
  setLink(n.namespace, n.externalInterface, ['address', n.externalMac, 'mtu', '1500', 'up'])

  // nvlb provider side <-> bridge
  veth({ namespace: n.namespace, name: n.providerInterface }, { namespace: p.namespace, name: p.nvlbPort })
  setLink(n.namespace, n.providerInterface, ['address', n.providerMac, 'mtu', mtu, 'up'])
  setLink(p.namespace, p.nvlbPort, ['mtu', mtu, 'master', p.bridge, 'up'])

  for (const h of t.hosts) {
    veth({ namespace: h.namespace, name: h.providerInterface }, { namespace: p.namespace, name: h.bridgePort })
    setLink(h.namespace, h.providerInterface, ['address', h.providerMac, 'mtu', mtu, 'up'])
    setLink(p.namespace, h.bridgePort, ['mtu', mtu, 'master', p.bridge, 'up'])
  }

  for (const vm of t.vms) {
    const host = t.hosts.find((h) => h.name === vm.host)!
    veth({ namespace: vm.namespace, name: vm.interface }, { namespace: host.namespace, name: vm.hostInterface })
    setLink(host.namespace, vm.hostInterface, ['mtu', String(vm.mtu), 'up'])
    setLink(vm.namespace, vm.interface, ['address', vm.mac, 'mtu', String(vm.mtu), 'up'])
    disableOffloads(vm.namespace, vm.interface)
    // NAPI on the VM's end: the host's kernel decapsulation (nvlb host --kernel-fast-path) redirects into it.
    enableGro(vm.namespace, vm.interface)
    ip(['-n', vm.namespace, 'address', 'add', `${vm.address}/${vm.prefixLength}`, 'dev', vm.interface])
    ip(['-n', vm.namespace, 'route', 'add', 'default', 'via', vm.gateway, 'dev', vm.interface])
  }
}

// ---------------------------------------------------------------------------
// Processes inside the namespaces

export interface NodeProcess {
  /** Node name (`host1`, `blue-vm2`, …). */
  name: string
  namespace: string
  child: ChildProcess
  /** Output lines seen so far (stdout and stderr), for diagnostics. */
  output: string[]
  /** SIGTERM, then SIGKILL if it does not exit within the grace period. Resolves when it has exited. */
  stop(graceMs?: number): Promise<void>
}

export interface ProcessGroup {
  processes: NodeProcess[]
  stop(): Promise<void>
}

const REPO_ROOT = findRepoRoot(__dirname)

function findRepoRoot(start: string): string {
  let dir = start
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no package.json above ${start}`)
    dir = parent
  }
  return dir
}

const RUNNING_FROM_SOURCE = __filename.endsWith('.ts')

/**
 * The argv that runs a module's exported `main(argv)` with node: compiled JavaScript
 * under dist/ when this file runs from dist, the TypeScript source through tsx otherwise.
 */
export function nodeMainCommand(modulePathFromRoot: string, args: string[]): string[] {
  const file = RUNNING_FROM_SOURCE
    ? join(REPO_ROOT, `${modulePathFromRoot}.ts`)
    : join(REPO_ROOT, 'dist', `${modulePathFromRoot}.js`)
  const runner =
    `require(${JSON.stringify(file)}).main(process.argv.slice(1))` +
    '.then((code) => { process.exitCode = code }, (err) => { console.error(err); process.exitCode = 1 })'
  const loader = RUNNING_FROM_SOURCE ? ['--import', pathToFileURL(require.resolve('tsx')).href] : []
  return [process.execPath, ...loader, '-e', runner, '--', ...args]
}

/**
 * Spawn `argv` inside `namespace` and resolve once a stdout line matches `ready`.
 * Rejects (after killing the child) if it exits first or the deadline passes.
 */
export function spawnInNamespace(
  name: string,
  namespace: string,
  argv: string[],
  ready: RegExp,
  timeoutMs = 60000,
): Promise<NodeProcess> {
  const child = spawn('ip', ['netns', 'exec', namespace, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT })
  const output: string[] = []
  let exited = false
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      resolve()
    })
  })
  const stop = async (graceMs = 3000): Promise<void> => {
    if (exited) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exitedPromise
    clearTimeout(timer)
  }
  const handle: NodeProcess = { name, namespace, child, output, stop }
  return new Promise((resolve, reject) => {
    let settled = false
    const settle = (err?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      if (err === undefined) resolve(handle)
      else void stop(500).then(() => reject(err))
    }
    const deadline = setTimeout(
      () => settle(new Error(`${name}: not ready after ${timeoutMs} ms; output:\n${output.join('\n')}`)),
      timeoutMs,
    )
    createInterface({ input: child.stderr! }).on('line', (line) => output.push(line))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line)
      if (ready.test(line)) settle()
    })
    child.once('error', (err) => settle(err))
    child.once('exit', (code, signal) =>
      settle(new Error(`${name}: exited (${code ?? signal}) before it was ready; output:\n${output.join('\n')}`)),
    )
  })
}

async function startGroup(starts: Array<() => Promise<NodeProcess>>): Promise<ProcessGroup> {
  const results = await Promise.allSettled(starts.map((start) => start()))
  const processes = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const group: ProcessGroup = {
    processes,
    stop: async () => {
      await Promise.all(processes.map((p) => p.stop()))
    },
  }
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) {
    await group.stop()
    throw failed.reason
  }
  return group
}

/** `nvlb host` arguments for one host of the topology. */
export function hostArguments(topology: Pick<Topology, 'configPath'>, host: HostNode): string[] {
  const args = [
    '--config', topology.configPath,
    '--name', host.name,
    '--provider-interface', host.providerInterface,
    '--provider-address', host.providerAddress,
    '--provider-mac', host.providerMac,
    // The host namespace has no address: its kernel has nothing to do with these frames.
    '--own-interfaces',
    // Decapsulation and encapsulation in the kernel, as a Hyper-V host's virtual switch does them.
    '--kernel-fast-path',
  ]
  for (const vm of host.vms) args.push('--vm', `${vm.name}:${vm.hostInterface}:${vm.virtualSubnetId}:${vm.address}`)
  return args
}

/** Start one host emulator process (`nvlb host`) inside each host namespace; resolves when all are ready. */
export function startHosts(topology: Topology, options: { configPath?: string } = {}): Promise<ProcessGroup> {
  const configPath = options.configPath ?? topology.configPath
  return startGroup(
    topology.hosts.map((host) => () =>
      spawnInNamespace(
        host.name,
        host.namespace,
        RUNNING_FROM_SOURCE
          ? nodeMainCommand('bin/commands/host', hostArguments({ configPath }, host))
          : [process.execPath, join(REPO_ROOT, 'dist', 'bin', 'nvlb.js'), 'host', ...hostArguments({ configPath }, host)],
        /^ready\b/,
      ),
    ),
  )
}

/** Start the HTTP server of every VM (port 80) inside its namespace; resolves when all listen. */
export function startVmServers(topology: Topology, options: { port?: number } = {}): Promise<ProcessGroup> {
  const port = String(options.port ?? 80)
  return startGroup(
    topology.vms.map((vm) => () =>
      spawnInNamespace(
        vm.name,
        vm.namespace,
        nodeMainCommand('examples/blue-red/vm-http-server', ['--name', vm.name, '--port', port]),
        /^listening\b/,
      ),
    ),
  )
}

/** Run a command inside a namespace of the topology and return its stdout (throws on failure). */
export function execInNamespace(namespace: string, argv: string[], timeoutMs = 10000): string {
  return execFileSync('ip', ['netns', 'exec', namespace, ...argv], {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

export interface HttpAnswer {
  status: number
  body: string
}

/**
 * One HTTP GET made from inside a namespace (a fresh node process there, so the
 * request really leaves through that namespace's interfaces). Rejects on a connection
 * error or when no answer arrives within `timeoutMs`.
 */
export function httpGetInNamespace(namespace: string, url: string, timeoutMs = 5000): Promise<HttpAnswer> {
  const script = `
    const req = require('node:http').get(process.argv[1], { agent: false, timeout: Number(process.argv[2]) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body })))
    })
    req.on('timeout', () => { req.destroy(new Error('timed out')) })
    req.on('error', (err) => { process.stderr.write(err.message); process.exitCode = 1 })`
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '-e', script, '--', url, String(timeoutMs)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(killer)
      if (code === 0) resolve(JSON.parse(stdout) as HttpAnswer)
      else reject(new Error(`GET ${url} from ${namespace}: ${stderr.trim() || `exit ${code}`}`))
    })
  })
}

/** `topology.ts create|destroy|describe [--prefix P]` for an operator. */
export async function main(argv: string[]): Promise<number> {
  const { parseArgs } = await import('node:util')
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  const command = positionals[0]
  if (values.help === true || command === undefined) {
    process.stdout.write(
      'usage: topology create [--prefix P]   create, print the layout, keep it until Ctrl-C\n' +
        '       topology destroy --prefix P    remove everything with that prefix\n' +
        '       topology describe [--prefix P] print the layout only\n',
    )
    return command === undefined && values.help !== true ? 2 : 0
  }
  if (command === 'destroy') {
    if (values.prefix === undefined) throw new Error('destroy needs --prefix')
    destroyTopology(values.prefix)
    return 0
  }
  if (command === 'describe') {
    process.stdout.write(`${JSON.stringify(describeTopology(values.prefix ?? randomPrefix()), null, 2)}\n`)
    return 0
  }
  if (command !== 'create') throw new Error(`unknown command '${command}'`)
  const topology = createTopology({ prefix: values.prefix })
  process.stdout.write(`created topology '${topology.prefix}': ${topology.namespaces.join(' ')}\nCtrl-C removes it\n`)
  // Stay up until a signal: the topology's signal hook removes everything and re-raises it.
  setInterval(() => undefined, 1 << 30)
  await new Promise<void>(() => undefined)
  return 0
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`)
      process.exitCode = 1
    },
  )
}
