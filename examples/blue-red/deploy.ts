/**
 * The reference deployment (two tenants in network namespaces) brought up and down as one unit, for the demo,
 * the end-to-end tests and the benchmarks:
 *
 *  1. the namespaces and links (topology.ts) plus a management link into `<prefix>-nvlb`
 *     (management-link.ts);
 *  2. the host emulators (`nvlb host`, the Hyper-V host role, with the tenants' HNV
 *     policy) and a real HTTP server in every VM namespace;
 *  3. `nvlb run` inside `<prefix>-nvlb` with the AF_PACKET data plane on ext0/pa0,
 *     started from a document holding only the `node` section, its admin API on the
 *     management link;
 *  4. everything else — static neighbours, lookup records, customer routes, pools,
 *     VIPs — configured through the admin API, the way an operator would;
 *  5. ready when one HTTP request through every VIP has been answered by a backend
 *     of the VIP's own tenant.
 *
 * `teardown()` stops nvlb (SIGTERM: it finishes its batch and exits), the emulators and
 * servers, removes every namespace and the state directory. It runs on failure, on
 * SIGINT/SIGTERM/SIGHUP (unless `handleSignals: false`) and, as a last resort, the
 * topology's exit hook removes the namespaces (and whatever runs in them).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiClient, apiPath } from '../../lib/cli/client'
import { readTokenFile } from '../../lib/api/token'
import type { NvlbConfig } from '../../lib/control/config-types'
import { createManagementLink, removeManagementLink, type ManagementLink } from './management-link'
import {
  createTopology,
  httpGetInNamespace,
  nodeMainCommand,
  randomPrefix,
  spawnInNamespace,
  startHosts,
  startVmServers,
  type NodeProcess,
  type ProcessGroup,
  type Topology,
} from './topology'

export const API_PORT = 8573

/** One VIP of the deployment as a client sees it. */
export interface VipTarget {
  /** The VIP's name in the configuration (`blue-public`, `red-ca`, …). */
  name: string
  /** Routing domain of the VIP's backends (`blue`, `red`). */
  tenant: string
  address: string
  port: number
  virtualSubnetId: number
  url: string
  /** Node the traffic comes from: `client` for public VIPs, the app-tier VM for CA VIPs. */
  fromNode: string
  fromNamespace: string
  pool: string
  /** Node names of the pool's VMs (the names their HTTP servers answer with). */
  backends: string[]
}

export interface DeployOptions {
  /** Default: a short random one. */
  prefix?: string
  /** Packet worker threads of nvlb (default 1). */
  workers?: number
  /** nvlb run --busy-poll: µs its workers keep looking at their sockets after the last frame (default 0: off). */
  busyPollUs?: number
  /** nvlb run --io (default 'rings'). */
  io?: 'rings' | 'af-xdp'
  /** Default true: SIGINT/SIGTERM/SIGHUP tear down, then the process dies of the signal. */
  handleSignals?: boolean
  /** More empty namespaces `<prefix>-<node>` (e.g. for a benchmark's own links). */
  extraNodes?: readonly string[]
  /** Progress messages (default: none). */
  log?: (message: string) => void
  /** How long to wait for the VIPs to answer (default 30 s). */
  readyTimeoutMs?: number
}

export interface Deployment {
  prefix: string
  topology: Topology
  management: ManagementLink
  /** The admin API, reachable from the root namespace. */
  apiUrl: string
  token: string
  api: ApiClient
  stateDir: string
  nvlb: NodeProcess
  hosts: ProcessGroup
  servers: ProcessGroup
  vips: VipTarget[]
  /** The VM node whose (VSID, CA) is given. */
  vmName(virtualSubnetId: number, address: string): string
  /** Stops everything and removes every namespace; idempotent. Resolves to nvlb's exit code (null if killed). */
  teardown(): Promise<number | null>
}

/** The first line of a VM server's answer is its node name. */
export function answeredBy(body: string): string {
  return body.split('\n', 1)[0]!.trim()
}

/** The VIPs of a configuration document as the deployment's clients see them. */
export function vipTargets(topology: Pick<Topology, 'prefix' | 'vms'>, config: NvlbConfig): VipTarget[] {
  const targets: VipTarget[] = []
  for (const vip of config.vips) {
    for (const rule of vip.rules) {
      if (rule.protocol !== 'tcp') continue
      const pool = config.pools.find((p) => p.name === rule.pool)
      const backends = (pool?.backends ?? []).map((b) => {
        const vm = topology.vms.find((v) => v.virtualSubnetId === b.virtualSubnetId && v.address === b.address)
        if (vm === undefined) throw new Error(`pool ${rule.pool}: no VM for backend ${b.virtualSubnetId}/${b.address}`)
        return vm
      })
      const client =
        vip.virtualSubnetId === 0 ? 'client' : topology.vms.find((v) => v.virtualSubnetId === vip.virtualSubnetId)?.name
      if (client === undefined) throw new Error(`CA VIP ${vip.name}: no VM in VSID ${vip.virtualSubnetId} to send from`)
      targets.push({
        name: vip.name,
        tenant: backends[0]?.customerId ?? '',
        address: vip.address,
        port: rule.frontendPort,
        virtualSubnetId: vip.virtualSubnetId,
        url: `http://${vip.address}${rule.frontendPort === 80 ? '' : `:${rule.frontendPort}`}/`,
        fromNode: client,
        fromNamespace: `${topology.prefix}-${client}`,
        pool: rule.pool,
        backends: backends.map((vm) => vm.name),
      })
    }
  }
  return targets
}

/**
 * Configure nvlb from the reference document through the admin API, resource by
 * resource: neighbours (no route of their own: GET and PUT /v1/config), lookup records,
 * customer routes, pools, VIPs.
 */
export async function configureThroughApi(api: ApiClient, reference: NvlbConfig): Promise<void> {
  const current = await api.get<NvlbConfig>('/v1/config')
  // Health probes are top-level too: they must exist before a VIP rule names one.
  const probes = reference.probes === undefined ? {} : { probes: reference.probes }
  await api.put('/v1/config', { ...current.body, neighbors: reference.neighbors, ...probes }, { ifMatch: current.generation })
  for (const record of reference.lookupRecords) await api.post('/v1/policy/lookup-records', record)
  for (const route of reference.customerRoutes) await api.post('/v1/policy/customer-routes', route)
  for (const pool of reference.pools) await api.post('/v1/pools', pool)
  for (const vip of reference.vips) await api.post('/v1/vips', vip)
}

/** Path of a backend in the admin API: `/v1/pools/blue-web/backends/5001/10.1.6.21`. */
export function backendPath(pool: string, virtualSubnetId: number, address: string): string {
  return apiPath('v1', 'pools', pool, 'backends', virtualSubnetId, address)
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Poll until every VIP answers from its own tenant (a fresh connection per attempt). */
export async function waitForVips(targets: readonly VipTarget[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  await Promise.all(
    targets.map(async (target) => {
      let last = 'no answer yet'
      while (Date.now() < deadline) {
        try {
          const answer = await httpGetInNamespace(target.fromNamespace, target.url, 2000)
          const by = answeredBy(answer.body)
          if (answer.status === 200 && target.backends.includes(by)) return
          last = `HTTP ${answer.status} from '${by}'`
        } catch (err) {
          last = (err as Error).message
        }
        await delay(100)
      }
      throw new Error(`${target.name} (${target.url} from ${target.fromNode}) did not answer in time: ${last}`)
    }),
  )
}

async function waitForApi(api: ApiClient, nvlb: NodeProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await api.get('/healthz')
      return
    } catch (err) {
      if (nvlb.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`admin API at ${api.baseUrl} not reachable: ${(err as Error).message}\n${nvlb.output.join('\n')}`)
      }
    }
    await delay(50)
  }
}

/** Bring the whole deployment up; on any failure everything is removed and the error rethrown. */
export async function deploy(options: DeployOptions = {}): Promise<Deployment> {
  const log = options.log ?? (() => undefined)
  const prefix = options.prefix ?? randomPrefix()
  const workers = options.workers ?? 1
  const busyPollUs = options.busyPollUs ?? 0
  const handleSignals = options.handleSignals ?? true

  let topology: Topology | undefined
  let hosts: ProcessGroup | undefined
  let servers: ProcessGroup | undefined
  let nvlb: NodeProcess | undefined
  let stateDir: string | undefined
  let tearingDown: Promise<number | null> | undefined

  const teardown = (): Promise<number | null> => {
    tearingDown ??= (async () => {
      let nvlbExit: number | null = null
      const problems: string[] = []
      const attempt = async (what: string, step: () => unknown): Promise<void> => {
        try {
          await step()
        } catch (err) {
          problems.push(`${what}: ${(err as Error).message}`)
        }
      }
      await attempt('stop nvlb', async () => {
        if (nvlb === undefined) return
        await nvlb.stop(5000)
        nvlbExit = nvlb.child.exitCode
      })
      await attempt('stop host emulators', () => hosts?.stop())
      await attempt('stop VM servers', () => servers?.stop())
      await attempt('remove namespaces', () => topology?.destroy())
      removeManagementLink(prefix)
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true })
      uninstallSignals()
      if (problems.length > 0) throw new Error(`teardown of '${prefix}': ${problems.join('; ')}`)
      return nvlbExit
    })()
    return tearingDown
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: tearing down '${prefix}'`)
    void teardown()
      .catch((err: unknown) => process.stderr.write(`${(err as Error).message}\n`))
      .finally(() => process.kill(process.pid, signal))
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  function uninstallSignals(): void {
    for (const s of signals) process.off(s, onSignal)
  }
  if (handleSignals) for (const s of signals) process.once(s, onSignal)

  try {
    log(`creating namespaces '${prefix}-*'`)
    topology = createTopology({ prefix, handleSignals: false, extraNodes: options.extraNodes })
    const management = createManagementLink(prefix, topology.nvlb.namespace)
    stateDir = mkdtempSync(join(tmpdir(), `nvlb-${prefix}-`))
    const bootstrapPath = join(stateDir, 'node.json')
    writeFileSync(bootstrapPath, JSON.stringify({ node: topology.config.node }, null, 2))

    log('starting host emulators and VM HTTP servers')
    ;[hosts, servers] = await Promise.all([startHosts(topology), startVmServers(topology)])

    const busyPolling = (busyPollUs > 0 ? `, busy-polling ${busyPollUs} µs` : '') + (options.io === 'af-xdp' ? ', AF_XDP' : '')
    log(`starting nvlb in ${topology.nvlb.namespace} (${workers} packet worker${workers === 1 ? '' : 's'}${busyPolling})`)
    const apiListen = `${management.nvlbAddress}:${API_PORT}`
    nvlb = await spawnInNamespace(
      'nvlb',
      topology.nvlb.namespace,
      nodeMainCommand('bin/commands/run', [
        '--config', bootstrapPath,
        '--state-dir', join(stateDir, 'state'),
        '--api-listen', apiListen,
        '--workers', String(workers),
        '--busy-poll', String(busyPollUs),
        '--io', options.io ?? 'rings',
        // info: the 'admin API listening' line is the readiness signal
        '--log-level', 'info',
      ]),
      /"msg":"admin API listening"/,
      30000,
    )
    const token = readTokenFile(join(stateDir, 'state'))
    if (token === undefined) throw new Error(`nvlb wrote no token into ${join(stateDir, 'state')}`)
    const apiUrl = `http://${apiListen}`
    const api = new ApiClient(apiUrl, token)
    await waitForApi(api, nvlb, 10000)

    log('configuring neighbours, lookup records, customer routes, pools and VIPs through the admin API')
    await configureThroughApi(api, topology.config)
    const vips = vipTargets(topology, topology.config)
    log('waiting until every VIP answers')
    await waitForVips(vips, options.readyTimeoutMs ?? 30000)

    const t = topology
    return {
      prefix,
      topology: t,
      management,
      apiUrl,
      token,
      api,
      stateDir,
      nvlb,
      hosts,
      servers,
      vips,
      vmName(virtualSubnetId, address) {
        const vm = t.vms.find((v) => v.virtualSubnetId === virtualSubnetId && v.address === address)
        if (vm === undefined) throw new Error(`no VM ${virtualSubnetId}/${address}`)
        return vm.name
      },
      teardown,
    }
  } catch (err) {
    const output = nvlb === undefined ? '' : `\nnvlb output:\n${nvlb.output.slice(-30).join('\n')}`
    await teardown().catch((cleanupErr: unknown) => process.stderr.write(`${(cleanupErr as Error).message}\n`))
    ;(err as Error).message += output
    throw err
  }
}
