/**
 * nvlb run: the control plane (validated, persistent configuration), the
 * admin API, and the packet path that adopts every compiled snapshot.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import pino, { type Logger } from 'pino'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../lib/api/server'
import type { StatsSource } from '../../lib/api/metrics'
import { readJsonText, DEFAULT_STATE_DIR } from '../../lib/cli/common'
import { resolveServerToken } from '../../lib/api/token'
import { Compiler } from '../../lib/control/compiler'
import { validateOwnedConfig } from '../../lib/control/config-validate'
import { ControlPlane, deepFreeze } from '../../lib/control/control-plane'
import { G_SWEPT_EPOCH } from '../../lib/dataplane/counters'
import { flowTableField, interfaceFields, providerMtuField } from '../../lib/control/fixed-fields'
import { Engine } from '../../lib/dataplane/engine'
import { simulateFlow } from '../../lib/dataplane/simulate'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import type { FlowTable } from '../../lib/dataplane/flow-table'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { MAX_BUSY_POLL_US, RX_HEADROOM, slotSizeForMtu } from '../../lib/io/frame-port'
import type { IoMode } from '../../lib/io/worker-pool'
import { ETHERNET_HEADER_LENGTH, VLAN_TAG_LENGTH } from '../../lib/packet/ethernet'
import { HealthService } from '../../lib/health/health-service'
import type { NvlbConfig } from '../../lib/control/config-types'
import { BGP_RUN_FLAGS, BGP_USAGE, parseRunHaOptions, type RunHaOptions } from '../../lib/ha/run-options'
import { BgpAnnouncer } from '../../lib/ha/bgp-announcer'
import { trimNativeHeapAfterGc } from '../../lib/io/native-heap-trim'
import { hostname } from 'node:os'
import { DEFAULT_ETCD_PREFIX, EtcdStore, parseEtcdUrl } from '../../lib/control/etcd-store'
import {
  DEFAULT_INSTANCE_TTL_S,
  EtcdInstanceRegistry,
  LocalInstanceRegistry,
  type InstanceDescription,
  type InstanceRegistry,
} from '../../lib/control/instance-registry'

export const DEFAULT_API_LISTEN = '127.0.0.1:8573'

const USAGE = `usage: nvlb run [--config FILE] [--state-dir DIR] [--store etcd://HOST:PORT[/PREFIX]] [--api-listen HOST:PORT] [--no-dataplane] [--workers N] [--busy-poll US] [--io rings|af-xdp] [--bgp-peer A:ASN ...]

Starts the control plane, the admin API and the packet path.

options:
  --config FILE          start from this configuration document (validated; on error nvlb does not start);
                         without it, from the configuration stored in the state dir (empty on a first start)
  --state-dir DIR        configuration and API token live here (env NVLB_STATE_DIR, default ./${DEFAULT_STATE_DIR})
  --store URL            etcd://HOST:PORT[/PREFIX] (default prefix ${DEFAULT_ETCD_PREFIX}): the configuration but each
                         instance's node lives in etcd, shared by every instance given the same URL; the node stays
                         in the state dir. Without it the state dir holds the whole configuration
  --instance-name NAME   this instance in GET /v1/instances (default HOSTNAME:APIPORT)
  --instance-ttl S       seconds its etcd lease outlives it (default ${DEFAULT_INSTANCE_TTL_S})
  --api-listen H:P       admin API address (default ${DEFAULT_API_LISTEN})
  --no-dataplane         no packet I/O: an in-process engine adopts every snapshot and reports the counters
  --workers N            packet worker threads (default 1)
  --busy-poll US         after the last frame a worker keeps looking at its sockets for US microseconds
                         (0..${MAX_BUSY_POLL_US}), giving the core to any other runnable thread in between, before
                         it sleeps: lower latency and no wake-ups under load, for a busier core (default 0: off)
  --io MODE              rings (default): packet sockets with memory-mapped rings; af-xdp: AF_XDP sockets fed
                         by an XDP program that leaves ARP, probe replies and the host's own traffic to the
                         kernel (one worker; falls back to rings, logged, where the kernel refuses)
  --log-level L          fatal, error, warn, info (default), debug, trace
${BGP_USAGE}
  -h, --help             this help

The API token comes from NVLB_TOKEN, or is generated into DIR/token (mode 0600) on the first start.
SIGTERM or SIGINT stops nvlb cleanly (exit 0).`

interface RunOptions {
  config: string | undefined
  store: string | undefined
  instanceName: string | undefined
  instanceTtl: number
  stateDir: string
  host: string
  port: number
  dataplane: boolean
  workers: number
  busyPollUs: number
  io: IoMode
  logLevel: string
  ha: RunHaOptions
}

class StartupError extends Error {}

function fail(message: string): never {
  throw new StartupError(message)
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port > 65535) fail(`--api-listen must be HOST:PORT (e.g. ${DEFAULT_API_LISTEN}), not '${text}'`)
  const host = m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]!)
  return { host, port }
}

function parseOptions(argv: string[]): RunOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      'state-dir': { type: 'string' },
      store: { type: 'string' },
      'instance-name': { type: 'string' },
      'instance-ttl': { type: 'string' },
      'api-listen': { type: 'string' },
      'no-dataplane': { type: 'boolean', default: false },
      workers: { type: 'string' },
      'busy-poll': { type: 'string' },
      io: { type: 'string' },
      'log-level': { type: 'string' },
      ...BGP_RUN_FLAGS,
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.help) return 'help'
  if (positionals.length > 0) fail(`unexpected argument '${positionals[0]}'`)
  const workersText = values.workers ?? '1'
  if (!/^\d+$/.test(workersText) || Number(workersText) < 1 || Number(workersText) > 64) {
    fail(`--workers must be a number 1..64, not '${workersText}'`)
  }
  const busyPollText = values['busy-poll'] ?? '0'
  if (!/^\d+$/.test(busyPollText) || Number(busyPollText) > MAX_BUSY_POLL_US) {
    fail(`--busy-poll must be microseconds 0..${MAX_BUSY_POLL_US}, not '${busyPollText}'`)
  }
  const io = values.io ?? 'rings'
  if (io !== 'rings' && io !== 'af-xdp') fail(`--io must be rings or af-xdp, not '${io}'`)
  if (io === 'af-xdp' && Number(workersText) > 1) fail('--io af-xdp runs one packet worker: leave out --workers or use --io rings')
  const logLevel = values['log-level'] ?? process.env.NVLB_LOG_LEVEL ?? 'info'
  if (!(logLevel in pino.levels.values) && logLevel !== 'silent') fail(`--log-level must be one of ${Object.keys(pino.levels.values).join(', ')}`)
  const { host, port } = parseListen(values['api-listen'] ?? DEFAULT_API_LISTEN)
  if (values.store !== undefined) {
    try {
      parseEtcdUrl(values.store)
    } catch (err) {
      fail((err as Error).message)
    }
  }
  const ttlText = values['instance-ttl'] ?? String(DEFAULT_INSTANCE_TTL_S)
  if (!/^\d+$/.test(ttlText) || Number(ttlText) < 2 || Number(ttlText) > 3600) fail(`--instance-ttl must be seconds 2..3600, not '${ttlText}'`)
  return {
    config: values.config,
    store: values.store,
    instanceName: values['instance-name'],
    instanceTtl: Number(ttlText),
    stateDir: resolve(values['state-dir'] ?? process.env.NVLB_STATE_DIR ?? DEFAULT_STATE_DIR),
    host,
    port,
    dataplane: !values['no-dataplane'],
    workers: Number(workersText),
    busyPollUs: Number(busyPollText),
    io,
    logLevel,
    ha: (() => {
      try {
        return parseRunHaOptions(values)
      } catch (err) {
        fail((err as Error).message)
      }
    })(),
  }
}

/** JSON lines by default; readable lines when stdout is a terminal. */
export function createLogger(level: string): Logger {
  if (process.stdout.isTTY) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pretty = require('pino-pretty') as (opts: object) => NodeJS.WritableStream
    return pino({ level, name: 'nvlb' }, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
  }
  return pino({ level, name: 'nvlb' })
}

/** The --config document, validated before anything starts (once: the control plane takes the frozen result as it is). */
function loadConfigFile(path: string): NvlbConfig {
  let doc: unknown
  try {
    doc = JSON.parse(readJsonText(path))
  } catch (err) {
    fail(`cannot use --config ${path}: ${(err as Error).message}`)
  }
  try {
    return deepFreeze(validateOwnedConfig(doc))
  } catch (err) {
    if (err instanceof NvlbError) fail(`cannot use --config ${path}: ${err.code} ${err.message}`)
    throw err
  }
}

interface PacketPath {
  stats: StatsSource
  /** Resolves once every packet worker runs `generation` or a later one. */
  whenAdopted(generation: number): Promise<void>
  /** The lowest snapshot epoch every packet worker runs (health republishes keep the generation). */
  adoptedEpoch(): number
  /** The lowest epoch every engine's flow table is swept against (read per compile: without building a stats report). */
  sweptEpoch(): number
  stop(): Promise<void>
}

/** --no-dataplane: one in-process engine adopts every snapshot and reports the counters. */
function startInProcessEngine(control: ControlPlane<Snapshot>): PacketPath {
  const engine = new Engine({ maxFlows: control.config.node?.maxFlows })
  let epoch = control.snapshot?.epoch ?? -1
  const unsubscribe = control.subscribe((snapshot) => {
    const first = engine.flows === null
    engine.adopt(snapshot)
    epoch = snapshot.epoch
    // The flow table is created by the first snapshot and keeps its size.
    const flows = engine.flows as FlowTable | null
    if (first && flows !== null) control.fixFields([flowTableField(flows.capacity)])
  })
  return {
    stats: () => engine.statsReport(),
    sweptEpoch: () => engine.counters.values[G_SWEPT_EPOCH]!,
    // The engine adopts each snapshot synchronously in subscribe().
    whenAdopted: async () => undefined,
    adoptedEpoch: () => epoch,
    stop: async () => unsubscribe(),
  }
}

/**
 * The packet path on real interfaces: AF_PACKET workers (lib/io) that adopt
 * every snapshot between batches. This is the one place that wires them.
 */
async function startPacketPath(control: ControlPlane<Snapshot>, options: RunOptions, logger: Logger): Promise<PacketPath> {
  const node = control.config.node
  const snapshot = control.snapshot
  if (snapshot === undefined || node?.providerInterface === undefined) {
    throw new NvlbError(
      ErrorCodes.INTERFACE_NOT_FOUND,
      'the AF_PACKET data plane needs node.providerInterface (and optionally node.externalInterface) in the configuration; ' +
        'give a --config that names them, or run with --no-dataplane',
      'node.providerInterface',
    )
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startWorkerPool } = require('../../lib/io/worker-pool') as typeof import('../../lib/io/worker-pool')
  const pool = await startWorkerPool({
    snapshot,
    workers: options.workers,
    busyPollUs: options.busyPollUs,
    io: options.io,
    providerInterface: node.providerInterface,
    externalInterface: node.externalInterface,
    maxFlows: node.maxFlows,
    logger: logger.child({ component: 'dataplane' }),
  })
  // What the workers took at start: their sockets' interfaces, the flow table size, the receive slot size.
  control.fixFields([
    ...interfaceFields(node.providerInterface, node.externalInterface),
    flowTableField(node.maxFlows ?? snapshot.maxFlows),
    providerMtuField(slotSizeForMtu(snapshot.providerMtu) - RX_HEADROOM - ETHERNET_HEADER_LENGTH - VLAN_TAG_LENGTH),
  ])
  const unsubscribe = control.subscribe((next) => pool.adopt(next))
  return {
    stats: () => {
      const io = pool.ioStats()
      return {
        ...pool.stats(),
        io: {
          workers: pool.workerCount,
          busyPollUs: options.busyPollUs,
          mode: pool.ioMode,
          workerRestarts: io.workerRestarts,
          handoffs: io.handoffsOut,
          handoffDrops: io.handoffDrops,
          kernelDrops: io.kernelDrops,
          rxTruncated: io.rxTruncated,
          txErrors: io.txErrors,
          perWorker: pool.workerStats(),
        },
      }
    },
    whenAdopted: (generation) => pool.whenAdopted(generation),
    adoptedEpoch: () => pool.adoptedEpoch(),
    sweptEpoch: () => pool.sweptEpoch(),
    stop: async () => {
      unsubscribe()
      await pool.stop()
    },
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolveSignal(signal)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

export async function main(argv: string[]): Promise<number> {
  let options: RunOptions | 'help'
  let initialConfig: unknown
  try {
    options = parseOptions(argv)
    if (options === 'help') {
      process.stdout.write(USAGE + '\n')
      return 0
    }
    if (options.config !== undefined) initialConfig = loadConfigFile(options.config)
  } catch (err) {
    process.stderr.write(`nvlb: ${(err as Error).message}\n`)
    return 2
  }

  const logger = createLogger(options.logLevel)
  const signal = waitForSignal()
  let control: ControlPlane<Snapshot> | undefined
  let packetPath: PacketPath | undefined
  let app: FastifyInstance | undefined
  let health: HealthService | undefined
  let announcer: BgpAnnouncer | undefined
  let etcd: EtcdStore | undefined
  let registry: InstanceRegistry | undefined
  // Tables of earlier compiles are malloc'd: return their pages once V8 has collected them.
  const stopTrimming = trimNativeHeapAfterGc()
  const shutdown = async () => {
    stopTrimming()
    await announcer?.stop()
    await registry?.stop()
    await app?.close()
    await health?.stop()
    await packetPath?.stop()
    await control?.close()
  }

  try {
    const compiler = new Compiler()
    // The document each generation was compiled from, for health probes (listeners see the snapshot first).
    const compiled = new Map<number, NvlbConfig>()
    if (options.store !== undefined) {
      etcd = await EtcdStore.open({
        url: options.store,
        stateDir: options.stateDir,
        node: (initialConfig as { node?: unknown } | undefined)?.node,
        onStatus: (status) => {
          if (status.connected) logger.info({ store: options.store }, 'configuration store reachable again; caught up')
          else logger.warn({ store: options.store, reason: status.error }, 'configuration store unreachable: forwarding with the configuration in hand, changes refused')
          registry?.update()
        },
      })
    }
    control = await ControlPlane.open<Snapshot>({
      stateDir: options.stateDir,
      store: etcd,
      logger,
      compile: (config, generation) => {
        compiled.set(generation, config)
        if (compiled.size > 4) compiled.delete(compiled.keys().next().value!)
        // Rule and backend ids the packet path has let go of may be reused (before it starts, none is held).
        const swept = packetPath === undefined ? Infinity : packetPath.sweptEpoch()
        return compiler.compile(config, generation, health?.compileInput(), swept)
      },
      initialConfig,
      // A change is answered once every packet worker runs it.
      awaitRunning: (generation) => packetPath?.whenAdopted(generation) ?? Promise.resolve(),
    })
    // The control plane holds the validated copy: the parsed file (a cloud's is hundreds of MB) is garbage now.
    initialConfig = undefined
    packetPath = options.dataplane ? await startPacketPath(control, options, logger) : startInProcessEngine(control)
    // Probes go through the overlay from the provider interface: without the data plane none run (GET /v1/health says so).
    const plane = control
    const path = packetPath
    const service = new HealthService({
      logger: logger.child({ component: 'health' }),
      republish: () => plane.republish(),
      runningEpoch: () => path.adoptedEpoch(),
      disabled: options.dataplane ? undefined : 'nvlb runs with --no-dataplane: probes go through the overlay from the provider interface, so none run and every backend counts as unknown (trusted)',
    })
    health = service
    let seen = -1
    control.subscribe((snapshot, generation) => {
      service.snapshotPublished(snapshot.epoch)
      const config = compiled.get(generation)
      if (generation === seen || config === undefined) return
      seen = generation
      void service.update(config)
    })

    if (options.ha.bgp !== undefined) {
      const bgp = options.ha.bgp
      const plane = control
      const path = packetPath
      const nextHop = bgp.nextHop ?? plane.config.node?.externalAddress
      if (nextHop === undefined) fail('--bgp-peer needs node.externalAddress in the configuration or --bgp-next-hop')
      announcer = new BgpAnnouncer({
        ...bgp,
        nextHop,
        runDir: resolve(options.stateDir, 'bgp'),
        logger: logger.child({ component: 'bgp' }),
        readiness: () => ({
          config: plane.ready ? plane.config : undefined,
          generation: plane.generation,
          adoptedGeneration: path.stats().generation,
          health: health?.list() ?? [],
        }),
      })
      await announcer.start()
    }

    const token = resolveServerToken(options.stateDir)
    if (token.path === undefined) logger.info('admin API token from NVLB_TOKEN')
    else if (token.generated) logger.info({ tokenFile: token.path }, 'admin API token generated')
    else logger.info({ tokenFile: token.path }, 'admin API token')

    app = await buildApi({
      control,
      stats: packetPath.stats,
      simulate: simulateFlow,
      logger,
      health,
      token: token.token,
      instances: { list: () => (registry ?? local).list(), update: () => undefined, stop: async () => undefined },
      storeStatus: etcd === undefined ? undefined : () => etcd!.status,
    })
    await app.listen({ host: options.host, port: options.port })
    const address = app.server.address()
    const port = typeof address === 'object' && address !== null ? address.port : options.port
    const host = options.host.includes(':') ? `[${options.host}]` : options.host
    const startedAt = new Date().toISOString()
    const describe = (): InstanceDescription => ({
      name: options.instanceName ?? `${hostname()}:${port}`,
      providerAddress: plane.config.node?.providerAddress,
      externalAddress: plane.config.node?.externalAddress,
      apiAddress: `http://${host}:${port}`,
      generation: plane.generation,
      ready: plane.ready,
      storeConnected: etcd?.status.connected ?? true,
      startedAt,
    })
    const local = new LocalInstanceRegistry(describe)
    if (etcd !== undefined) {
      const shared = new EtcdInstanceRegistry(etcd.client, etcd.prefix, options.instanceTtl, describe, logger)
      registry = shared
      await shared.start().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'instance not registered yet; retrying'))
      control.subscribe(() => shared.update())
      // The other registered instances are peers: NVGRE from their PAs is trusted (like node.peerProviderAddresses).
      shared.watchPeers((peers) => {
        if (!compiler.setRegisteredPeers(peers)) return
        logger.info({ peers }, 'peer instances trusted')
        void plane.republish()
      })
    }
    logger.info(
      { url: `http://${host}:${port}`, generation: control.generation, ready: control.ready, dataplane: options.dataplane },
      'admin API listening',
    )
  } catch (err) {
    const message =
      err instanceof NvlbError ? `${err.code} ${err.message}` : (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? `cannot listen on ${options.host}:${options.port}: the address is in use`
        : (err as Error).message
    logger.flush?.()
    process.stderr.write(`nvlb: ${message}\n`)
    await shutdown().catch(() => undefined)
    return 2
  }

  const received = await signal
  logger.info({ signal: received }, 'stopping')
  if (announcer !== undefined) {
    // Withdraw first: the routers move new flows away while this instance still forwards the old ones.
    await announcer.withdrawAll()
    logger.info({ drainMs: options.ha.drainMs }, 'VIPs withdrawn; draining')
  }
  if (options.ha.drainMs > 0) await new Promise((r) => setTimeout(r, options.ha.drainMs))
  await shutdown()
  logger.info('stopped')
  logger.flush?.()
  return 0
}
