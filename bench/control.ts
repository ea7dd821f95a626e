/**
 * bench/control (`nvlb bench control [--json] [--records N] [--sizes A,B,…] [--changes K] [--dataplane]`):
 * the control plane at cloud scale, measured on a real `nvlb run` process.
 *
 * A generated document holds N lookup records and N/100 VIPs the way an HNV
 * gateway of many tenants sees them: 1000 records per tenant over two VSIDs
 * (a gateway record `.1` pointing at nvlb's PA, the VMs on hosts of 40 VMs
 * each), a default customer route per VSID, per tenant two pools of 16
 * backends (VM CAs of the tenant) and ten VIPs: five public (tcp 80)
 * and five CA VIPs (tcp 80). Maglev tables are 4093 slots (a prime > 100 × 16
 * backends, so the 1% balance of a table still holds). Every VIP has one rule,
 * so 1,000,000 records come with the 10,000 VIPs the benchmark asks for (10,000 of the
 * packet path's MAX_RULE_IDS rule ids). Backend changes go to pools that VIPs use.
 *
 * For every size:
 * - `control.start_s`: `nvlb run --config FILE` on an empty state dir, from
 *   spawn until GET /readyz answers 200 (parse, validate, compile, write the
 *   state dir, start the packet path, listen). A restart from the state dir
 *   (no --config) is measured and shown too.
 * - `control.change_ms`: one `PATCH /v1/pools/P/backends/VSID/ADDRESS`
 *   (state draining ↔ active) until its answer, which nvlb sends only once the
 *   change is durable and every packet worker runs it; median of --changes
 *   changes after 3 unmeasured ones, each to another pool.
 * - `control.import_100k_s`: `POST /v1/policy/lookup-records/bulk` adding
 *   100,000 new records (100 tenants' worth, new VSIDs) until its answer.
 * - `control.bytes_per_record`: VmRSS of the nvlb process once ready and idle
 *   until V8 has returned the start-up garbage (held for 12 s, at most 120 s), minus
 *   that at the smallest size, divided by the difference in records (so it
 *   counts everything that grows with the document: records, VIPs, pools,
 *   their tables). Needs at least two sizes; with one size, the smallest is
 *   measured as well.
 *
 * With --dataplane (root), nvlb runs its AF_PACKET packet workers (--workers 2)
 * on one end of a veth pair this benchmark creates (named nvcb<hex>a/b, no
 * addresses, no traffic), so "every packet worker runs it" means threads that
 * got the snapshot by message, not an in-process engine.
 *
 * The metrics are those of the largest size; a table shows how each grows.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { formatTable } from '../lib/cli/table'
import { MAX_RULE_IDS } from '../lib/dataplane/snapshot'
import { createBenchVethPair, type BenchVethPair } from './veth-pair'
import { printMetrics, progress, type Metric } from './report'

const TOKEN = 'bench-control-token-0123456789abcdef'
const RECORDS_PER_TENANT = 1000
const VMS_PER_HOST = 40
const BACKENDS_PER_POOL = 16
const MAGLEV_SIZE = 4093
const IMPORT_RECORDS = 100_000
const VIPS_PER_TENANT = 10
const WARMUP_CHANGES = 3
const NVLB_PA = '192.168.0.2'
const GATEWAY_MAC = '02:00:00:00:00:01'

const USAGE = `usage: nvlb bench control [--json] [--records N] [--sizes A,B,…] [--changes K] [--dataplane] [--keep-going]

  --records N     lookup records of the measured document (default 1000000), N/100 VIPs
  --sizes A,B,…   measure these sizes (ascending) and print how each metric grows; the metrics are the largest's
  --changes K     measured backend changes per size (default 21; median)
  --dataplane     run nvlb's AF_PACKET packet workers (--workers 2) on a veth pair of its own (root)
  --json          one JSON object per metric line`

type Json = Record<string, any>

function mac(prefix: number, index: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0')
  return `00:15:${hex(prefix)}:${hex((index >> 16) & 255)}:${hex((index >> 8) & 255)}:${hex(index & 255)}`
}

/** The i-th CA of a tenant: 10.x.y.z, never .0 or .255 (0 and 500 are its VSIDs' gateways). */
function caOf(i: number): string {
  return `10.${(i / 62500) | 0}.${((i / 250) | 0) % 250}.${(i % 250) + 1}`
}

function gatewayIndex(vsid: number): number {
  return (vsid & 1) * (RECORDS_PER_TENANT / 2)
}

/** The CA of a pool's i-th backend in a VSID. */
function backendAddress(vsid: number, i: number): string {
  return caOf(gatewayIndex(vsid) + 1 + i * 7)
}

function hostOf(globalVm: number): string {
  const h = (globalVm / VMS_PER_HOST) | 0
  return `172.${16 + ((h >> 16) & 15)}.${(h >> 8) & 255}.${h & 255}`
}

function vsidsOf(tenant: number): [number, number] {
  return [5000 + 2 * tenant, 5001 + 2 * tenant]
}

/** One tenant's lookup records (RECORDS_PER_TENANT), in its two VSIDs. */
function tenantRecords(tenant: number): Json[] {
  const out: Json[] = []
  const customerId = `tenant-${tenant}`
  const half = RECORDS_PER_TENANT / 2
  for (const vsid of vsidsOf(tenant)) {
    // Addresses are unique within the tenant (its routing domain): the second VSID has the next range.
    const base = (vsid & 1) * half
    out.push({ customerAddress: caOf(base), virtualSubnetId: vsid, providerAddress: NVLB_PA, macAddress: GATEWAY_MAC, customerId })
    for (let i = 1; i < half; i++) {
      const globalVm = tenant * RECORDS_PER_TENANT + base + i
      out.push({ customerAddress: caOf(base + i), virtualSubnetId: vsid, providerAddress: hostOf(globalVm), macAddress: mac(0x5d, globalVm), customerId })
    }
  }
  return out
}

function publicVipAddress(index: number): string {
  // 198.18.0.0/15, the benchmarking range: 131072 addresses.
  return `198.${18 + ((index >> 16) & 1)}.${(index >> 8) & 255}.${index & 255}`
}

/** The document of §4 with `records` lookup records (a multiple of 1000) and records/100 VIPs. */
export function controlDocument(records: number, providerInterface?: string): Json {
  const tenants = tenantCount(records)
  if (tenants * VIPS_PER_TENANT > MAX_RULE_IDS) throw new Error(`${tenants * VIPS_PER_TENANT} VIP rules: the packet path has ${MAX_RULE_IDS} rule ids`)
  const lookupRecords: Json[] = []
  const customerRoutes: Json[] = []
  const pools: Json[] = []
  const vips: Json[] = []
  for (let t = 0; t < tenants; t++) {
    for (const r of tenantRecords(t)) lookupRecords.push(r)
    const customerId = `tenant-${t}`
    const [a, b] = vsidsOf(t)
    for (const vsid of [a, b]) customerRoutes.push({ customerId, virtualSubnetId: vsid, destinationPrefix: '0.0.0.0/0', nextHop: caOf(gatewayIndex(vsid)) })
    const backends = (vsid: number) =>
      Array.from({ length: BACKENDS_PER_POOL }, (_, i) => ({ virtualSubnetId: vsid, address: backendAddress(vsid, i), weight: 1 + (i % 3), state: 'active' }))
    pools.push({ name: `t${t}-web`, backends: backends(a) })
    pools.push({ name: `t${t}-app`, backends: backends(b) })
    for (let v = 0; v < VIPS_PER_TENANT / 2; v++) {
      vips.push({ name: `t${t}-public-${v}`, address: publicVipAddress(t * 5 + v), virtualSubnetId: 0, rules: [{ protocol: 'tcp', frontendPort: 80, pool: `t${t}-web` }] })
      vips.push({ name: `t${t}-internal-${v}`, address: `10.255.0.${10 + v}`, virtualSubnetId: a, rules: [{ protocol: 'tcp', frontendPort: 80, pool: `t${t}-app` }] })
    }
  }
  const node: Json = {
    providerAddress: NVLB_PA,
    providerMac: '02:00:c0:a8:00:02',
    externalAddress: '198.51.100.1',
    externalMac: '02:00:c6:33:64:01',
    gatewayMac: GATEWAY_MAC,
    providerMtu: 1500,
    maglevTableSize: MAGLEV_SIZE,
    maxFlows: 65536,
  }
  if (providerInterface !== undefined) node.providerInterface = providerInterface
  return { node, neighbors: [], lookupRecords, customerRoutes, pools, vips }
}

/** IMPORT_RECORDS new records: the tenants after the document's own. */
function importRecords(firstTenant: number): Json[] {
  const out: Json[] = []
  for (let t = firstTenant; out.length < IMPORT_RECORDS; t++) for (const r of tenantRecords(t)) out.push(r)
  return out.slice(0, IMPORT_RECORDS)
}

/** Tenants (every one has VIPS_PER_TENANT VIPs of one rule each: N/100 VIPs in all). */
function tenantCount(records: number): number {
  return Math.max(1, Math.round(records / RECORDS_PER_TENANT))
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function rssBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) * 1024
}

/**
 * VmRSS once V8 has returned the start-up garbage: it does so when the process has been
 * idle for a while (its memory reducer, some 30-60 s after a start of a million records),
 * not at the next GC. The reducer collects in up to three rounds about 8 s apart, so a
 * plateau of 5 s could be the one between two rounds (one build measured 432 and 491 MB
 * that way). Sampled every second until it has fallen by a tenth and then held for
 * 12 s, or for at most 120 s.
 */
async function settledRss(pid: number): Promise<number> {
  const HELD_S = 12
  const samples: number[] = [rssBytes(pid)]
  const started = performance.now()
  while (performance.now() - started < 120_000) {
    await delay(1000)
    samples.push(rssBytes(pid))
    const last = samples.slice(-(HELD_S + 1))
    const fell = Math.min(...samples) < samples[0]! * 0.9
    if (fell && last.length === HELD_S + 1 && Math.max(...last) < Math.min(...last) * 1.01) break
  }
  return samples[samples.length - 1]!
}

interface Nvlb {
  child: ChildProcess
  url: string
  exited: Promise<number | null>
  stderr: () => string
}

/** The nvlb entry next to this file: dist/bin/nvlb.js when compiled, bin/nvlb.ts under tsx. */
function nvlbCommand(): string[] {
  const ext = extname(__filename)
  const entry = join(__dirname, '..', 'bin', `nvlb${ext}`)
  return ext === '.ts' ? ['--import', 'tsx', entry] : [entry]
}

async function startNvlb(args: string[]): Promise<{ nvlb: Nvlb; readyS: number }> {
  const port = await freePort()
  const started = performance.now()
  const child = spawn(process.execPath, [...nvlbCommand(), 'run', '--api-listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args], {
    env: { ...process.env, NVLB_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let gone = false
  void exited.then(() => (gone = true))
  const url = `http://127.0.0.1:${port}`
  for (;;) {
    if (gone) throw new Error(`nvlb run exited before it was ready:\n${stderr}`)
    try {
      const res = await fetch(`${url}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } })
      await res.arrayBuffer()
      if (res.status === 200) break
    } catch {
      // not listening yet
    }
    await delay(20)
  }
  const readyS = (performance.now() - started) / 1000
  return { nvlb: { child, url, exited, stderr: () => stderr }, readyS }
}

async function stopNvlb(nvlb: Nvlb): Promise<void> {
  if (nvlb.child.exitCode !== null || nvlb.child.signalCode !== null) return
  nvlb.child.kill('SIGTERM')
  const timer = setTimeout(() => nvlb.child.kill('SIGKILL'), 60_000)
  await nvlb.exited
  clearTimeout(timer)
}

async function request(url: string, method: string, body?: unknown): Promise<{ status: number; json: any; ms: number }> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  const started = performance.now()
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(text === undefined ? {} : { 'content-type': 'application/json' }) },
    body: text,
  })
  const json = (await res.json()) as unknown
  return { status: res.status, json, ms: performance.now() - started }
}

/** One backend change per pool, spread over the tenants with VIPs; time until the answer (durable and run by every worker). */
async function measureChanges(url: string, tenants: number, count: number): Promise<number[]> {
  const times: number[] = []
  for (let i = -WARMUP_CHANGES; i < count; i++) {
    const k = i + WARMUP_CHANGES
    const tenant = (k * 7919) % tenants
    const [a] = vsidsOf(tenant)
    const backend = k % BACKENDS_PER_POOL
    const address = backendAddress(a, backend)
    // Every tenant's backend is changed at most twice: draining, then active again.
    const state = Math.floor(k / tenants) % 2 === 0 ? 'draining' : 'active'
    const r = await request(`${url}/v1/pools/t${tenant}-web/backends/${a}/${address}`, 'PATCH', { state })
    if (r.status !== 200) throw new Error(`PATCH t${tenant}-web ${a}/${address}: HTTP ${r.status} ${JSON.stringify(r.json)}`)
    if (i >= 0) times.push(r.ms)
  }
  return times
}

interface SizeResult {
  records: number
  vips: number
  documentBytes: number
  startS: number
  restartS: number
  changeMs: number
  changeMaxMs: number
  importS: number
  rssBytes: number
  /** VmRSS 2 s after ready, before V8 returned the start-up garbage. */
  earlyRssBytes: number
  peakRssBytes: number
}

async function measureSize(records: number, changes: number, veth: BenchVethPair | undefined): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nvc11-bench-control-'))
  const stateDir = join(dir, 'state')
  const file = join(dir, 'config.json')
  let nvlb: Nvlb | undefined
  try {
    const doc = controlDocument(records, veth?.a)
    const tenants = doc.pools.length / 2
    const text = JSON.stringify(doc)
    writeFileSync(file, text)
    const vips = doc.vips.length as number
    const dataplane = veth === undefined ? ['--no-dataplane'] : ['--workers', '2']
    progress(`bench control: ${records} records, ${vips} VIPs, ${doc.pools.length} pools (${(text.length / 1e6).toFixed(1)} MB): start with --config …`)
    const first = await startNvlb(['--config', file, '--state-dir', stateDir, ...dataplane])
    nvlb = first.nvlb
    await stopNvlb(nvlb)
    progress(`bench control: ${records} records: restart from the state dir …`)
    const second = await startNvlb(['--state-dir', stateDir, ...dataplane])
    nvlb = second.nvlb
    // Memory is read once the start-up garbage is returned (settledRss); the size 2 s after ready is shown too.
    await delay(2000)
    const earlyRss = rssBytes(nvlb.child.pid!)
    const rss = await settledRss(nvlb.child.pid!)
    progress(`bench control: ${records} records: RSS ${(earlyRss / 1e6).toFixed(0)} MB 2 s after ready, ${(rss / 1e6).toFixed(0)} MB once settled`)
    progress(`bench control: ${records} records: ${changes} backend changes …`)
    const times = await measureChanges(nvlb.url, tenants, changes)
    progress(`bench control: ${records} records: bulk import of ${IMPORT_RECORDS} records …`)
    const imported = await request(`${nvlb.url}/v1/policy/lookup-records/bulk`, 'POST', { add: importRecords(tenants + 10) })
    if (imported.status !== 200 || imported.json.added !== IMPORT_RECORDS) throw new Error(`bulk import: HTTP ${imported.status} ${JSON.stringify(imported.json).slice(0, 500)}`)
    const peak = rssBytes(nvlb.child.pid!, 'VmHWM')
    await stopNvlb(nvlb)
    nvlb = undefined
    return {
      records,
      vips,
      documentBytes: text.length,
      startS: first.readyS,
      restartS: second.readyS,
      changeMs: median(times),
      changeMaxMs: Math.max(...times),
      importS: imported.ms / 1000,
      rssBytes: rss,
      earlyRssBytes: earlyRss,
      peakRssBytes: peak,
    }
  } finally {
    if (nvlb !== undefined) {
      nvlb.child.kill('SIGKILL')
      await nvlb.exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      records: { type: 'string' },
      sizes: { type: 'string' },
      changes: { type: 'string', default: '21' },
      dataplane: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const parseSize = (text: string) => Number(text.replace(/_/g, ''))
  let sizes = values.sizes !== undefined ? values.sizes.split(',').map(parseSize) : [parseSize(values.records ?? '1000000')]
  const changes = Number(values.changes)
  if (sizes.some((n) => !Number.isInteger(n) || n < RECORDS_PER_TENANT || n % RECORDS_PER_TENANT !== 0) || !Number.isInteger(changes) || changes < 1) {
    process.stderr.write(`nvlb bench control: sizes are multiples of ${RECORDS_PER_TENANT}; --changes a positive integer\n\n${USAGE}\n`)
    return 2
  }
  sizes = [...new Set(sizes)].sort((x, y) => x - y)
  // Memory per record needs a second, small size to subtract.
  const baseline = 10_000
  if (sizes.length === 1 && sizes[0]! > baseline) sizes.unshift(baseline)

  const veth = values.dataplane ? createBenchVethPair('nvcb') : undefined
  const results: SizeResult[] = []
  try {
    for (const n of sizes) results.push(await measureSize(n, changes, veth))
  } finally {
    veth?.remove()
  }

  const smallest = results[0]!
  const perRecord = (r: SizeResult) => (r === smallest ? NaN : (r.rssBytes - smallest.rssBytes) / (r.records - smallest.records))
  const mb = (bytes: number) => (bytes / 1e6).toFixed(0)
  const table = formatTable(
    ['records', 'VIPs', 'doc MB', 'start s', 'restart s', 'change ms (median)', 'change ms (max)', 'import 100k s', 'RSS MB (2 s)', 'RSS MB (settled)', 'peak RSS MB', 'bytes/record'],
    results.map((r) => [
      String(r.records),
      String(r.vips),
      mb(r.documentBytes),
      r.startS.toFixed(2),
      r.restartS.toFixed(2),
      r.changeMs.toFixed(1),
      r.changeMaxMs.toFixed(1),
      r.importS.toFixed(2),
      mb(r.earlyRssBytes),
      mb(r.rssBytes),
      mb(r.peakRssBytes),
      r === smallest ? '—' : perRecord(r).toFixed(0),
    ]),
  )
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  const heading = `nvlb run ${values.dataplane ? '--workers 2 (AF_PACKET packet workers on a veth pair)' : '--no-dataplane'}; load average at the end ${load}\n`
  if (values.json) progress((heading + table).trimEnd())
  else process.stdout.write(heading + table + '\n')

  const largest = results[results.length - 1]!
  const metrics: Metric[] = [
    { name: 'control.start_s', value: largest.startS, unit: 's', target: 10, better: 'lower' },
    { name: 'control.change_ms', value: largest.changeMs, unit: 'ms', target: 50, better: 'lower' },
    { name: 'control.import_100k_s', value: largest.importS, unit: 's', target: 5, better: 'lower' },
  ]
  if (results.length > 1) metrics.push({ name: 'control.bytes_per_record', value: perRecord(largest), unit: 'bytes', target: 300, better: 'lower' })
  printMetrics(metrics, values.json)
  return 0
}
