/**
 * bench/api (`nvlb bench api [--json] [--duration S] [--connections N]`):
 *
 * - requests/s of GET /v1/vips and POST /v1/simulate of a real nvlb admin API
 *   (auth, schemas, ETag, the real control plane and compiler) against a bare
 *   fastify app serving the same JSON on the same routes, in the same run:
 *   `api.ratio_vs_bare` (GET /v1/vips) and `api.simulate_ratio_vs_bare`.
 *   The servers run on the main thread, autocannon in a worker thread; each
 *   pair is measured A-B-B-A after a warm-up so drift hits both alike.
 * - `control.adopt_ms`: from sending a PATCH of one backend's state in a
 *   1000-backend pool until every packet worker runs the snapshot with that
 *   change (validate → compile → persist with fsync → publish → each worker
 *   adopts between batches), median of 21 drains of a backend after 2
 *   unmeasured ones (each needs new Maglev tables); each drain is undone
 *   (the backend made active again, which finds the tables from before the
 *   drain in the compiler's cache), timed as `control.adopt_undo_ms`;
 *   repeated with the state dir on tmpfs to show the share of the disk's
 *   fsync. As in `nvlb run`, the change is answered once every worker runs
 *   it, so the time is PATCH sent → answer received. The workers (`--workers`,
 *   default 2) are the real AF_PACKET worker pool on a veth pair the bench
 *   makes and removes (root); without root, or with `--workers 0`, an
 *   in-process engine adopts instead (said in the table).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { buildApi } from '../lib/api/server'
import { Compiler } from '../lib/control/compiler'
import { ControlPlane } from '../lib/control/control-plane'
import { Engine } from '../lib/dataplane/engine'
import { simulateFlow } from '../lib/dataplane/simulate'
import type { Snapshot } from '../lib/dataplane/snapshot'
import type { StatsReport } from '../lib/dataplane/stats-report'
import type { SimulatedFlow } from '../lib/dataplane/simulate-types'
import { startWorkerPool, type WorkerPool } from '../lib/io/worker-pool'
import { formatTable } from '../lib/cli/table'
import { printMetrics, progress, type Metric } from './report'
import { createBenchVethPair, type BenchVethPair } from './veth-pair'

const TOKEN = 'bench-token-0123456789abcdef'
const BIG_POOL = 'bench-big'
const BIG_POOL_SIZE = 1000
/** Measured changes: 21 drains, each followed by the change that undoes it. */
const ADOPT_CHANGES = 42
const ADOPT_WARMUP = 4

const USAGE = `usage: nvlb bench api [--json] [--duration S] [--connections N] [--workers N]

  --duration S       seconds per run (default 3); nvlb and bare run twice each per route, A-B-B-A
  --connections N    concurrent HTTP connections (default 10)
  --workers N        packet workers that must run a change before it counts as adopted
                     (default 2; needs root for their veth pair; 0: an in-process engine)
  --json             one JSON object per metric line`

interface AutocannonResult {
  requests: { average: number }
  non2xx: number
  errors: number
  timeouts: number
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>

// autocannon ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon

/**
 * The reference deployment (examples/blue-red) grown to a realistic size: the Blue
 * and Red tenants' VIPs, twelve more public VIPs, and a 1000-backend pool
 * (with its 1000 lookup records) behind one of them.
 */
export function benchConfig(): Record<string, any> {
  const nvlbPa = '192.168.6.2'
  const gatewayMac = '02:00:00:00:00:01'
  const hosts = ['192.168.6.4', '192.168.6.5', '192.168.6.6', '192.168.6.7']
  const lookupRecords: any[] = []
  const record = (vsid: number, ca: string, pa: string, mac: string, customerId: string) =>
    lookupRecords.push({ customerAddress: ca, virtualSubnetId: vsid, providerAddress: pa, macAddress: mac, customerId })
  for (const [vsid, customerId] of [
    [5001, 'blue'],
    [5002, 'blue'],
    [6001, 'red'],
    [6002, 'red'],
  ] as const) {
    const subnet = vsid % 1000 === 1 ? 6 : 5
    record(vsid, `10.1.${subnet}.1`, nvlbPa, gatewayMac, customerId)
  }
  for (let i = 0; i < 4; i++) record(5001, `10.1.6.${20 + i}`, hosts[i % 4]!, `00-15-5D-01-06-${(0x20 + i).toString(16)}`, 'blue')
  for (let i = 0; i < 2; i++) record(6001, `10.1.6.${21 + i}`, hosts[(i + 1) % 4]!, `00-15-5D-02-06-${(0x21 + i).toString(16)}`, 'red')
  record(5002, '10.1.5.100', nvlbPa, gatewayMac, 'blue')
  record(6002, '10.1.5.100', nvlbPa, gatewayMac, 'red')
  // 1000 web servers of a big tenant in VSID 7001, on 4 hosts.
  record(7001, '10.7.0.1', nvlbPa, gatewayMac, 'green')
  const big: any[] = []
  for (let i = 0; i < BIG_POOL_SIZE; i++) {
    const ca = `10.7.${4 + (i >> 8)}.${i & 255}`
    const mac = `00155D07${(i >> 8).toString(16).padStart(2, '0')}${(i & 255).toString(16).padStart(2, '0')}`
    record(7001, ca, hosts[i % 4]!, mac, 'green')
    big.push({ virtualSubnetId: 7001, address: ca, weight: 1 + (i % 3), state: 'active' })
  }
  const rule = (pool: string, frontendPort = 80) => ({ protocol: 'tcp', frontendPort, pool })
  const vips: any[] = [
    { name: 'blue-public', address: '203.0.113.10', virtualSubnetId: 0, rules: [rule('blue-web'), rule('blue-web', 443)] },
    { name: 'red-public', address: '203.0.113.20', virtualSubnetId: 0, rules: [rule('red-web'), rule('red-web', 443)] },
    { name: 'blue-app', address: '10.1.5.100', virtualSubnetId: 5002, rules: [rule('blue-web')] },
    { name: 'red-app', address: '10.1.5.100', virtualSubnetId: 6002, rules: [rule('red-web')] },
    { name: 'green-public', address: '203.0.113.30', virtualSubnetId: 0, rules: [rule(BIG_POOL), rule(BIG_POOL, 443)] },
  ]
  for (let i = 0; i < 12; i++) {
    vips.push({
      name: `public-${i}`,
      address: `203.0.113.${100 + i}`,
      virtualSubnetId: 0,
      rules: [rule(i % 2 === 0 ? 'blue-web' : 'red-web'), { protocol: 'udp', frontendPort: 53, pool: BIG_POOL, distribution: '3-tuple' }],
    })
  }
  return {
    node: {
      providerAddress: nvlbPa,
      providerMac: '02:00:c0:a8:06:02',
      externalAddress: '198.51.100.1',
      externalMac: '02:00:c6:33:64:01',
      gatewayMac,
      providerMtu: 1500,
    },
    neighbors: hosts.map((address, i) => ({ address, mac: `02:00:c0:a8:06:0${4 + i}` })),
    lookupRecords,
    customerRoutes: [
      { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.6.1' },
      { customerId: 'blue', virtualSubnetId: 5002, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.5.1' },
      { customerId: 'red', virtualSubnetId: 6001, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.6.1' },
      { customerId: 'red', virtualSubnetId: 6002, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.5.1' },
      { customerId: 'green', virtualSubnetId: 7001, destinationPrefix: '0.0.0.0/0', nextHop: '10.7.0.1' },
    ],
    pools: [
      { name: 'blue-web', backends: [20, 21, 22, 23].map((n) => ({ virtualSubnetId: 5001, address: `10.1.6.${n}` })) },
      { name: 'red-web', backends: [21, 22].map((n) => ({ virtualSubnetId: 6001, address: `10.1.6.${n}` })) },
      { name: BIG_POOL, backends: big },
    ],
    vips,
  }
}

const FLOW: SimulatedFlow = {
  virtualSubnetId: 0,
  protocol: 'tcp',
  source: '198.51.100.10',
  sourcePort: 40000,
  destination: '203.0.113.30',
  destinationPort: 80,
}

/**
 * The same routes and JSON as nvlb, with none of its work: no auth, no
 * schemas, no ETag. Like nvlb, it serializes the VIP list once per
 * generation, so the ratio measures nvlb's own per-request work and not a
 * difference in caching.
 */
async function bareApp(control: ControlPlane<Snapshot>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  let cachedGeneration = -1
  let cachedVips = ''
  app.get('/v1/vips', async (_request, reply) => {
    if (cachedGeneration !== control.generation) {
      cachedVips = JSON.stringify(control.config.vips)
      cachedGeneration = control.generation
    }
    return reply.type('application/json; charset=utf-8').send(cachedVips)
  })
  app.post('/v1/simulate', async (request) => simulateFlow(control.snapshot!, request.body as SimulatedFlow))
  await app.listen({ host: '127.0.0.1', port: 0 })
  return app
}

function urlOf(app: FastifyInstance): string {
  const address = app.server.address() as { port: number }
  return `http://127.0.0.1:${address.port}`
}

async function load(url: string, path: string, options: { duration: number; connections: number; body?: string }): Promise<number> {
  const result = await autocannon({
    url: url + path,
    method: options.body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: options.body,
    duration: options.duration,
    connections: options.connections,
    workers: 1,
  })
  const failed = result.non2xx + result.errors + result.timeouts
  if (failed > 0) throw new Error(`${path} at ${url}: ${failed} failed requests`)
  return result.requests.average
}

/** A-B-B-A: nvlb and bare alternate so that drift (JIT, a busy machine) hits both alike. */
async function compare(
  nvlbUrl: string,
  bareUrl: string,
  path: string,
  options: { duration: number; connections: number; body?: string },
): Promise<{ nvlb: number; bare: number }> {
  const warm = { ...options, duration: 1 }
  await load(nvlbUrl, path, warm)
  await load(bareUrl, path, warm)
  const a1 = await load(nvlbUrl, path, options)
  const b1 = await load(bareUrl, path, options)
  const b2 = await load(bareUrl, path, options)
  const a2 = await load(nvlbUrl, path, options)
  return { nvlb: (a1 + a2) / 2, bare: (b1 + b2) / 2 }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface AdoptTimes {
  adopt: number[]
  response: number[]
}

/**
 * PATCH one backend of the 1000-backend pool; time until every packet worker (or the in-process
 * engine) runs the snapshot with it. Each backend is drained (a pool nvlb has not compiled before:
 * new Maglev tables), then made active again (the change undone: the compiler finds the tables it
 * had), timed apart. Every PATCH changes the pool.
 */
async function measureAdopt(nvlb: NvlbUnderTest): Promise<{ drain: AdoptTimes; undo: AdoptTimes }> {
  const drain: AdoptTimes = { adopt: [], response: [] }
  const undo: AdoptTimes = { adopt: [], response: [] }
  for (let i = -ADOPT_WARMUP; i < ADOPT_CHANGES; i++) {
    const n = i + ADOPT_WARMUP
    const draining = (n & 1) === 0
    const backend = ((n >> 1) * 37) % BIG_POOL_SIZE
    const address = `10.7.${4 + (backend >> 8)}.${backend & 255}`
    const started = performance.now()
    const res = await fetch(`${nvlb.url}/v1/pools/${BIG_POOL}/backends/7001/${address}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: draining ? 'draining' : 'active' }),
    })
    await res.arrayBuffer()
    const answered = performance.now()
    if (res.status !== 200) throw new Error(`PATCH ${address}: HTTP ${res.status}`)
    const generation = Number(res.headers.get('etag')!.replace(/"/g, ''))
    const at = nvlb.runningSince(generation)
    if (at === undefined) throw new Error(`generation ${generation} was answered but is not running`)
    if (i < 0) continue
    const times = draining ? drain : undo
    times.adopt.push(at - started)
    times.response.push(answered - started)
  }
  return { drain, undo }
}

interface NvlbUnderTest {
  url: string
  control: ControlPlane<Snapshot>
  /** What runs the snapshots: "2 packet workers" or "in-process engine". */
  packetPath: string
  /** When every packet worker (or the engine) was first seen running `generation`. */
  runningSince(generation: number): number | undefined
  close(): Promise<void>
}

/**
 * A real nvlb: control plane over a fresh state dir under `base`, the real
 * compiler, the admin API, and either the real worker pool on a veth pair
 * (a change is answered once every worker runs it, as in `nvlb run`) or an
 * in-process engine that adopts every snapshot (`workers` 0).
 */
async function startNvlb(base: string, workers: number): Promise<NvlbUnderTest> {
  const stateDir = mkdtempSync(join(base, 'nvlb-bench-api-'))
  const logger = pino({ level: 'warn' })
  const compiler = new Compiler()
  const adoptedAt = new Map<number, number>()
  let pool: WorkerPool | undefined
  const control = await ControlPlane.open<Snapshot>({
    stateDir,
    logger,
    compile: (config, generation) => compiler.compile(config, generation),
    initialConfig: benchConfig(),
    awaitRunning: async (generation) => {
      if (pool === undefined) return
      await pool.whenAdopted(generation)
      adoptedAt.set(generation, performance.now())
    },
  })
  let veth: BenchVethPair | undefined
  let stats: () => StatsReport
  if (workers > 0) {
    veth = createBenchVethPair('nvba')
    try {
      pool = await startWorkerPool({ snapshot: control.snapshot!, providerInterface: veth.b, workers, maxFlows: 1 << 16, logger })
    } catch (error) {
      veth.remove()
      throw error
    }
    const workerPool = pool
    control.subscribe((snapshot) => workerPool.adopt(snapshot))
    stats = () => workerPool.stats()
  } else {
    const engine = new Engine({ maxFlows: 1 << 16 })
    control.subscribe((snapshot, generation) => {
      engine.adopt(snapshot)
      adoptedAt.set(generation, performance.now())
    })
    stats = () => engine.statsReport()
  }
  const api = await buildApi({
    control,
    stats,
    simulate: simulateFlow,
    logger,
    token: TOKEN,
  })
  await api.listen({ host: '127.0.0.1', port: 0 })
  return {
    url: urlOf(api),
    control,
    packetPath: pool !== undefined ? `${workers} packet worker${workers === 1 ? '' : 's'}` : 'in-process engine',
    runningSince: (generation) => adoptedAt.get(generation),
    async close() {
      await api.close()
      await control.close()
      await pool?.stop()
      veth?.remove()
      rmSync(stateDir, { recursive: true, force: true })
    },
  }
}

const TMPFS = '/dev/shm'

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      duration: { type: 'string', default: '3' },
      connections: { type: 'string', default: '10' },
      workers: { type: 'string', default: '2' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const duration = Number(values.duration)
  const connections = Number(values.connections)
  let workers = Number(values.workers)
  if (!(duration > 0) || !Number.isInteger(connections) || connections < 1 || !Number.isInteger(workers) || workers < 0) {
    process.stderr.write(`nvlb bench api: bad --duration, --connections or --workers\n\n${USAGE}\n`)
    return 2
  }
  if (workers > 0 && process.getuid?.() !== 0) {
    progress('bench api: not root, so no veth pair for packet workers: an in-process engine adopts the changes instead')
    workers = 0
  }

  const nvlb = await startNvlb(tmpdir(), workers)
  const bare = await bareApp(nvlb.control)
  const bareUrl = urlOf(bare)

  try {
    const vipsBytes = JSON.stringify(nvlb.control.config.vips).length
    progress(`bench api: ${nvlb.control.config.vips.length} VIPs (${vipsBytes} bytes of JSON), ${connections} connections, ${duration}s per run`)

    progress('bench api: GET /v1/vips, nvlb vs bare fastify …')
    const vips = await compare(nvlb.url, bareUrl, '/v1/vips', { duration, connections })

    progress('bench api: POST /v1/simulate, nvlb vs bare fastify …')
    const sim = await compare(nvlb.url, bareUrl, '/v1/simulate', { duration, connections, body: JSON.stringify(FLOW) })

    progress(`bench api: ${ADOPT_CHANGES} backend changes in the ${BIG_POOL_SIZE}-backend pool, ${nvlb.packetPath}, state dir in ${tmpdir()} …`)
    const changes = await measureAdopt(nvlb)
    // The same on tmpfs, to show how much of it is the disk's fsync.
    let onTmpfs: { drain: AdoptTimes; undo: AdoptTimes } | undefined
    if (existsSync(TMPFS)) {
      progress(`bench api: the same with the state dir on ${TMPFS} …`)
      const shm = await startNvlb(TMPFS, workers)
      try {
        onTmpfs = await measureAdopt(shm)
      } finally {
        await shm.close()
      }
    }

    const rows: Array<[string, string, string, string]> = [
      ['GET /v1/vips', vips.nvlb.toFixed(0), vips.bare.toFixed(0), (vips.nvlb / vips.bare).toFixed(3)],
      ['POST /v1/simulate', sim.nvlb.toFixed(0), sim.bare.toFixed(0), (sim.nvlb / sim.bare).toFixed(3)],
    ]
    const row = (what: string, times: number[]): [string, string, string] => [what, median(times).toFixed(2), Math.max(...times).toFixed(2)]
    const changeRows: Array<[string, string, string]> = [
      row(`drain: PATCH sent → ${nvlb.packetPath} run it (${tmpdir()})`, changes.drain.adopt),
      row(`drain: PATCH sent → response received (${tmpdir()})`, changes.drain.response),
      row(`undo (active again): PATCH sent → ${nvlb.packetPath} run it (${tmpdir()})`, changes.undo.adopt),
    ]
    if (onTmpfs !== undefined) {
      changeRows.push(row(`drain: PATCH sent → ${nvlb.packetPath} run it (${TMPFS})`, onTmpfs.drain.adopt))
      changeRows.push(row(`undo (active again): PATCH sent → ${nvlb.packetPath} run it (${TMPFS})`, onTmpfs.undo.adopt))
    }
    const throughput =
      formatTable(['route', 'nvlb req/s', 'bare req/s', 'ratio'], rows) +
      '\n' +
      formatTable([`backend change, ${BIG_POOL_SIZE}-backend pool`, 'median ms', 'max ms'], changeRows)
    if (values.json) progress(throughput.trimEnd())
    else process.stdout.write(throughput + '\n')

    const metrics: Metric[] = [
      { name: 'api.ratio_vs_bare', value: vips.nvlb / vips.bare, unit: 'ratio', target: 0.8, better: 'higher' },
      { name: 'api.simulate_ratio_vs_bare', value: sim.nvlb / sim.bare, unit: 'ratio', target: 0.8, better: 'higher' },
      // The drains: a change to a pool nvlb has not compiled before (an undo finds its tables cached).
      { name: 'control.adopt_ms', value: median(changes.drain.adopt), unit: 'ms', target: 10, better: 'lower' },
      { name: 'control.adopt_undo_ms', value: median(changes.undo.adopt), unit: 'ms', target: 10, better: 'lower' },
    ]
    printMetrics(metrics, values.json)
    return 0
  } finally {
    await bare.close()
    await nvlb.close()
  }
}
