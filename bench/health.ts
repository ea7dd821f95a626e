/**
 * `nvlb bench health`: CPU of one core that nvlb spends probing 1,000 backends
 * once a second with HTTP probes (health.probe_cpu_pct).
 *
 * Two namespaces joined by a veth pair:
 *   <prefix>-nvlb  the health service, the probe tunnel (TUN + its AF_PACKET socket
 *                  on pa0) and the kernel's TCP: exactly what `nvlb run` runs for
 *                  probes, measured with process.cpuUsage() (all its threads, user +
 *                  system; process.cpuUsage() is the scheduler's run time of every
 *                  thread) over the measured seconds, and per thread (main / others)
 *   <prefix>-host  the backends' side (not measured): a minimal NVGRE host that
 *                  decapsulates into a TUN, a kernel owning all 1,000 CAs
 *                  (10.2.0.0/16 routed locally) and one node:http server on port 80
 * Every probe is a GET through NVGRE both ways, on the connection the backend's
 * previous probe kept (HTTP/1.1 keep-alive, as `nvlb run` probes; a new one when
 * the server closed it). The run prints no figure unless every backend answered
 * about once a second in the measured seconds (≥ 97 % of the expected probes,
 * ≤ 0.1 % failed). It also prints the packets per probe each way (what the
 * kernel's TCP costs most by) and the connections opened per probe.
 *
 * Not counted, in production as here: the receive of the backends' replies on
 * nvlb's provider interface runs in whoever sent them (here the host side's
 * sendmmsg on the veth pair; on a NIC, its interrupt), and the mirror image
 * (the host side's receive of nvlb's frames) is counted in nvlb's sendmmsg.
 * With --dataplane a packet worker runs on nvlb's provider interface as in
 * `nvlb run`; the CPU it spends on the probe replies it also receives is printed
 * apart, not in the figure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { nodeMainCommand } from '../examples/blue-red/topology'
import { validateConfig } from '../lib/control/config-validate'
import { AfPacketPort } from '../lib/io/af-packet-socket'
import { BPF_B, BPF_H, BPF_JEQ, BPF_W, BpfProgram } from '../lib/io/bpf-assembler'
import { PollSet } from '../lib/io/poll-set'
import { startWorkerPool } from '../lib/io/worker-pool'
import { disableOffloads } from '../lib/io/offloads'
import { Compiler } from '../lib/control/compiler'
import type { ProbeTransport } from '../lib/health/health-monitor'
import type { ProbeRequest, ProbeResult } from '../lib/health/probe-runner'
import { HealthService } from '../lib/health/health-service'
import { ProbeTunnel } from '../lib/health/probe-tunnel'
import { TunDevice } from '../lib/health/tun-device'
import { TunnelTransport } from '../lib/health/tunnel-transport'
import { readI32, writeU16, writeU32 } from '../lib/packet/bytes'
import { checksum } from '../lib/packet/checksum'
import { parseIPv4, parseMac } from '../lib/packet/address'
import { printMetrics, progress, type Metric } from './report'

const USAGE = `usage: nvlb bench health [--json] [--backends N] [--duration S] [--dataplane] [--prefix P]

CPU of one core nvlb spends probing N backends (default 1000) once a second with HTTP
probes through the overlay (needs root: namespaces, TUN, AF_PACKET).

  --backends N   probed backends (default 1000)
  --duration S   measured seconds after all are up (default 10)
  --dataplane    also run a packet worker on nvlb's provider interface (as nvlb run does)
                 and print the CPU it spends on the probe replies it receives (not in the figure)
  --json         one JSON object per metric line`

/** The longest wait for V8's compiler to settle before the measured seconds, and the quiet seconds in a row that say it has. */
const SETTLE_MAX_MS = 30000
const SETTLE_QUIET_S = 5
const NVLB_PA = '192.168.6.2'
const NVLB_MAC = '02:00:c0:a8:06:02'
const HOST_PA = '192.168.6.4'
const HOST_MAC = '02:00:c0:a8:06:04'
const GATEWAY_MAC = '02:00:00:00:00:01'
const VM_MAC = '00:15:5d:02:00:01'
const PROBE_ADDRESS = '198.18.0.1'
const VSID = 5001

function ca(i: number): string {
  return `10.2.${(i + 1) >> 8}.${(i + 1) & 0xff}`
}

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** The backends' side: NVGRE ↔ TUN, the kernel answering every CA. Runs until stdin closes. */
async function hostRole(): Promise<void> {
  sh(['ip', 'link', 'set', 'lo', 'up'])
  sh(['ip', 'route', 'add', 'local', '10.2.0.0/16', 'dev', 'lo'])
  // 1,000 new connections a second to one process that also runs the tunnel: a deep accept
  // queue, so a busy moment of this (unmeasured) side does not refuse probes.
  sh(['sysctl', '-q', '-w', 'net.core.somaxconn=8192'])
  // The web server is a process of its own: sharing this one's event loop with the tunnel loop
  // below, it was starved on a loaded machine (connections accepted, never answered).
  const webArgv = nodeMainCommand('bench/health', ['--role', 'host-http'])
  const web = spawn(webArgv[0]!, webArgv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
  await firstLine(web, 'the backends\' web server', 30000)
  const tun = new TunDevice('benchhost%d')
  sh(['ip', 'link', 'set', 'dev', tun.name, 'mtu', '1458', 'up'])
  sh(['ip', 'route', 'add', `${PROBE_ADDRESS}/32`, 'dev', tun.name])
  const p = new BpfProgram()
  p.ldAbs(BPF_H, 12).jumpK(BPF_JEQ, 0x0800, null, 'drop')
  p.ldAbs(BPF_B, 23).jumpK(BPF_JEQ, 47, null, 'drop')
  p.ldAbs(BPF_W, 30).jumpK(BPF_JEQ, parseIPv4(HOST_PA), null, 'drop')
  p.retK(0xffff).label('drop').retK(0)
  const port = new AfPacketPort({ interfaceName: 'hpa0', filter: p.encode() })
  const poll = new PollSet([tun.fd, port.fd])
  const buf = Buffer.alloc(65536)
  const tx = Buffer.alloc(64 * 2048)
  const nvlbMac = parseMac(NVLB_MAC)!
  const hostMac = parseMac(HOST_MAC)!
  const vmMac = parseMac(VM_MAC)!
  const gatewayMac = parseMac(GATEWAY_MAC)!
  let stop = false
  process.stdin.on('close', () => (stop = true)).resume()
  process.stdout.write('ready\n')
  let id = 0
  for (;;) {
    // Yield to the event loop now and then (stdin close, the HTTP server).
    await new Promise((r) => setImmediate(r))
    if (stop) break
    const ready = poll.wait(1)
    if ((ready & 1) !== 0) {
      let queued = 0
      for (let i = 0; i < 64; i++) {
        const n = tun.read(buf)
        if (n <= 0) break
        const o = queued++ * 2048
        tx.set(nvlbMac, o)
        tx.set(hostMac, o + 6)
        writeU16(tx, o + 12, 0x0800)
        const ip = o + 14
        tx[ip] = 0x45
        tx[ip + 1] = 0
        writeU16(tx, ip + 2, 20 + 8 + 14 + n)
        writeU16(tx, ip + 4, (id = (id + 1) & 0xffff))
        writeU16(tx, ip + 6, 0)
        tx[ip + 8] = 64
        tx[ip + 9] = 47
        writeU16(tx, ip + 10, 0)
        writeU32(tx, ip + 12, parseIPv4(HOST_PA))
        writeU32(tx, ip + 16, parseIPv4(NVLB_PA))
        writeU16(tx, ip + 10, checksum(tx, ip, 20))
        writeU16(tx, ip + 20, 0x2000)
        writeU16(tx, ip + 22, 0x6558)
        writeU32(tx, ip + 24, VSID << 8)
        tx.set(gatewayMac, ip + 28)
        tx.set(vmMac, ip + 34)
        writeU16(tx, ip + 40, 0x0800)
        buf.copy(tx, ip + 42, 0, n)
        port.send(tx, o, 14 + 42 + n)
      }
      port.flush()
    }
    if ((ready & 2) !== 0) {
      const n = port.receive()
      for (let i = 0; i < n; i++) {
        const off = port.rxOffsets[i]!
        const inner = off + 14 + 20 + 8 + 14
        const total = (port.rxBuffer[inner + 2]! << 8) | port.rxBuffer[inner + 3]!
        if (readI32(port.rxBuffer, inner + 16) >>> 24 !== 10) continue
        tun.write(port.rxBuffer.subarray(inner, inner + total))
      }
    }
  }
  port.close()
  tun.close()
  web.stdin!.end()
  await new Promise((resolve) => (web.exitCode === null ? web.once('close', resolve) : resolve(null)))
}

/** Run time (ns) of each thread of this process, by thread id. */
function threadCpu(): Map<number, number> {
  const out = new Map<number, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      out.set(Number(tid), Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]))
    } catch {
      // the thread ended
    }
  }
  return out
}

/** Thread ids of the packet workers (named nvlb-packet-N). */
function packetWorkerThreads(): Set<number> {
  const out = new Set<number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').startsWith('nvlb-packet')) out.add(Number(tid))
    } catch {
      // the thread ended
    }
  }
  return out
}

/** nvlb's side: the health monitor and the probe tunnel; prints one JSON line of results. */
async function nvlbRole(backends: number, durationS: number, dataplane: boolean): Promise<void> {
  sh(['ip', 'link', 'set', 'lo', 'up'])
  const doc = {
    node: { providerAddress: NVLB_PA, providerMac: NVLB_MAC, gatewayMac: GATEWAY_MAC, providerInterface: 'pa0', probeAddress: PROBE_ADDRESS },
    neighbors: [{ address: HOST_PA, mac: HOST_MAC }],
    lookupRecords: Array.from({ length: backends }, (_, i) => ({ customerAddress: ca(i), virtualSubnetId: VSID, providerAddress: HOST_PA, macAddress: VM_MAC, customerId: 'bench' })),
    customerRoutes: [],
    pools: [{ name: 'bench', backends: Array.from({ length: backends }, (_, i) => ({ virtualSubnetId: VSID, address: ca(i) })) }],
    vips: [{ name: 'bench', address: '10.3.0.100', virtualSubnetId: VSID, rules: [{ protocol: 'tcp', frontendPort: 80, pool: 'bench', probe: 'http' }] }],
    probes: [{ name: 'http', protocol: 'http', port: 80, requestPath: '/', intervalSeconds: 1, timeoutSeconds: 1, unhealthyThreshold: 3, healthyThreshold: 2 }],
  }
  const config = validateConfig(doc)
  // As `nvlb run` does at start (its packet path, lib/io/worker-pool.ts): no GRO/GSO/TSO/checksum
  // offloads on the provider interface.
  disableOffloads('pa0')
  const tunnel = await ProbeTunnel.start()
  // --dataplane: a packet worker on pa0 as `nvlb run` has one; it receives every probe reply too.
  const pool = dataplane ? await startWorkerPool({ snapshot: new Compiler().compile(config, 1), providerInterface: 'pa0', workers: 1 }) : null
  // Every probe's outcome per backend (its target address): the figure counts only when every
  // backend was probed successfully about once a second, as production would.
  const okByHost = new Map<string, number>()
  let failed = 0
  const errors = new Map<string, number>()
  const inner = new TunnelTransport(tunnel)
  const transport: ProbeTransport = {
    configure: (c, b) => inner.configure(c, b),
    hostOf: (vsid, address) => inner.hostOf(vsid, address),
    probe: async (request) => {
      const r = await inner.probe(request)
      count(request, r)
      return r
    },
    // What the monitor calls (the callback form; probe() above is there for completeness).
    start: (request, done) =>
      inner.start(request, (r) => {
        count(request, r)
        done(r)
      }),
  }
  const count = (request: ProbeRequest, r: ProbeResult): void => {
    if (r.ok) okByHost.set(request.host, (okByHost.get(request.host) ?? 0) + 1)
    else {
      failed++
      errors.set(r.error ?? '?', (errors.get(r.error ?? '?') ?? 0) + 1)
    }
  }
  // What `nvlb run` runs for probes: the health service (its monitor, the latency histograms).
  const service = new HealthService({ logger: pino({ level: 'silent' }), transport, republish: async () => undefined, runningEpoch: () => 0 })
  await service.update(config)
  const deadline = Date.now() + 30000
  while (service.list().some((e) => e.state !== 'up') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
  const up = service.list().filter((e) => e.state === 'up').length
  await new Promise((r) => setTimeout(r, 2000))
  // Steady state: V8's optimising compiler works on the probe path in bursts for 10-15 s after the
  // first probes (its helper threads spent 0.66 % of a core in a 10 s window that began 2 s after
  // every backend was up, 0.05 % in one that began 22 s after). The measured seconds begin once
  // those threads were all but idle (under 0.5 % of a core) for SETTLE_QUIET_S seconds in a row,
  // after at most SETTLE_MAX_MS.
  const settleStart = Date.now()
  for (let quiet = 0; quiet < SETTLE_QUIET_S && Date.now() - settleStart < SETTLE_MAX_MS; ) {
    const before = threadCpu()
    await new Promise((r) => setTimeout(r, 1000))
    const after = threadCpu()
    const workers = packetWorkerThreads()
    const spent = [...after]
      .filter(([tid]) => tid !== process.pid && !workers.has(tid))
      .map(([tid, ns]) => (ns - (before.get(tid) ?? ns)) / 1e6)
      .sort((x, y) => y - x)
    // The busiest is the tunnel thread; the rest are helpers.
    const helpersMs = spent.slice(1).reduce((x, y) => x + y, 0)
    quiet = helpersMs < 5 ? quiet + 1 : 0
  }
  const settledMs = Date.now() - settleStart + 2000
  okByHost.clear()
  failed = 0
  errors.clear()
  const tunDrops = () => Number(readFileSync(`/sys/class/net/${tunnel.tunName}/statistics/tx_dropped`, 'latin1'))
  const tunDrops0 = tunDrops()
  const tunnel0 = tunnel.stats()
  const threads0 = threadCpu()
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, durationS * 1000))
  const cpu = process.cpuUsage(cpu0)
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const threads1 = threadCpu()
  const workerThreads = packetWorkerThreads()
  const tunnel1 = tunnel.stats()
  const tunDropped = tunDrops() - tunDrops0
  let ok = 0
  let fewest = Infinity
  /** Successful probes per backend → how many backends had that many. */
  const answers = new Map<number, number>()
  for (const n of okByHost.values()) {
    ok += n
    fewest = Math.min(fewest, n)
    answers.set(n, (answers.get(n) ?? 0) + 1)
  }
  // Per thread (the scheduler's own run time, /proc/self/task/*/schedstat): the main thread runs
  // the monitor, the others are the tunnel thread and V8's helpers.
  let mainMs = 0
  let otherMs = 0
  let workersMs = 0
  /** The busiest other thread is the tunnel's; the rest are V8's and libuv's helpers (compiler, GC). */
  let tunnelMs = 0
  for (const [tid, ns] of threads1) {
    const ms = (ns - (threads0.get(tid) ?? 0)) / 1e6
    if (tid === process.pid) mainMs += ms
    else if (workerThreads.has(tid)) workersMs += ms
    else {
      otherMs += ms
      tunnelMs = Math.max(tunnelMs, ms)
    }
  }
  const result = {
    checks: service.list().length,
    up,
    wallS,
    // The packet workers' share is printed apart and not counted (the figure means the same with and without --dataplane).
    cpuPct: ((cpu.user + cpu.system) / 1e6 / wallS) * 100 - workersMs / 10 / wallS,
    packetWorkersPct: workersMs / 10 / wallS,
    userPct: (cpu.user / 1e6 / wallS) * 100,
    systemPct: (cpu.system / 1e6 / wallS) * 100,
    mainThreadPct: mainMs / 10 / wallS,
    otherThreadsPct: otherMs / 10 / wallS,
    tunnelThreadPct: tunnelMs / 10 / wallS,
    settledMs,
    okPerS: ok / wallS,
    failedPerS: failed / wallS,
    backendsOk: okByHost.size,
    fewestOkPerBackend: okByHost.size === 0 ? 0 : fewest,
    answersPerBackend: Object.fromEntries([...answers].sort((a, b) => a[0] - b[0])),
    packetsOutPerProbe: (tunnel1.to_backends! - tunnel0.to_backends!) / Math.max(1, ok + failed),
    packetsInPerProbe: (tunnel1.from_backends! - tunnel0.from_backends!) / Math.max(1, ok + failed),
    connectionsPerProbe: ((tunnel1.connections ?? 0) - (tunnel0.connections ?? 0)) / Math.max(1, ok + failed),
    errors: Object.fromEntries(errors),
    // Packets the kernel could not queue to the TUN because the tunnel thread was behind.
    tunDropped,
    tunnel: tunnel1,
  }
  await service.stop()
  await tunnel.stop()
  await pool?.stop()
  process.stdout.write(JSON.stringify(result) + '\n')
}

function startRole(namespace: string, args: string[]): ChildProcess {
  const argv = nodeMainCommand('bench/health', args)
  // NVLB_BENCH_PROFILE=DIR: a V8 CPU profile of nvlb's side (all its threads) into DIR.
  const profile = process.env.NVLB_BENCH_PROFILE
  if (profile !== undefined && args.includes('nvlb')) argv.splice(1, 0, '--cpu-prof', '--cpu-prof-dir', profile)
  // NVLB_BENCH_PERF=FILE: nvlb's side under `perf record` (JIT frames via --perf-prof; then `perf inject --jit`).
  const perf = process.env.NVLB_BENCH_PERF
  if (perf !== undefined && args.includes('nvlb')) {
    argv.splice(1, 0, '--perf-prof', '--perf-prof-unwinding-info')
    argv.unshift('perf', 'record', '-q', '-k', '1', '-o', perf, '-e', 'cpu-clock', '-F', '4000', '-g', '--')
  }
  return spawn('ip', ['netns', 'exec', namespace, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
}

function firstLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const errors: string[] = []
    createInterface({ input: child.stderr! }).on('line', (l) => errors.push(l))
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms\n${errors.join('\n')}`)), timeoutMs)
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve(line)
    })
    child.once('close', (code) => reject(new Error(`${what} exited (${code})\n${errors.join('\n')}`)))
  })
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      backends: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '10' },
      dataplane: { type: 'boolean', default: false },
      prefix: { type: 'string' },
      role: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const backends = Number(values.backends)
  const duration = Number(values.duration)
  if (!Number.isInteger(backends) || backends < 1 || backends > 60000) throw new Error('--backends must be 1..60000')
  if (!(duration > 0)) throw new Error('--duration must be a positive number of seconds')
  if (values.role === 'host-http') {
    const server = http.createServer((_req, res) => res.end('ok\n'))
    await new Promise<void>((resolve) => server.listen({ port: 80, host: '0.0.0.0', backlog: 8192 }, resolve))
    process.stdout.write('ready\n')
    await new Promise((resolve) => process.stdin.on('close', resolve).resume())
    server.close()
    server.closeAllConnections()
    return 0
  }
  if (values.role === 'host') {
    await hostRole()
    return 0
  }
  if (values.role === 'nvlb') {
    await nvlbRole(backends, duration, values.dataplane === true)
    return 0
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb bench health: needs root (network namespaces, TUN, AF_PACKET)\n')
    return 2
  }
  const prefix = values.prefix ?? `hb${Math.random().toString(16).slice(2, 6)}`
  const nvlbNs = `${prefix}-nvlb`
  const hostNs = `${prefix}-host`
  const children: ChildProcess[] = []
  try {
    sh(['ip', 'netns', 'add', nvlbNs])
    sh(['ip', 'netns', 'add', hostNs])
    sh(['ip', 'link', 'add', 'pa0', 'netns', nvlbNs, 'address', NVLB_MAC, 'type', 'veth', 'peer', 'name', 'hpa0', 'netns', hostNs, 'address', HOST_MAC])
    sh(['ip', '-n', nvlbNs, 'link', 'set', 'pa0', 'up'])
    sh(['ip', '-n', hostNs, 'link', 'set', 'hpa0', 'up'])
    progress(`bench health: ${backends} backends, HTTP probes once a second, namespaces ${prefix}-*`)
    const host = startRole(hostNs, ['--role', 'host'])
    children.push(host)
    await firstLine(host, 'host side', 60000)
    const nvlb = startRole(nvlbNs, ['--role', 'nvlb', '--backends', String(backends), '--duration', String(duration), ...(values.dataplane === true ? ['--dataplane'] : [])])
    children.push(nvlb)
    const r = JSON.parse(await firstLine(nvlb, 'nvlb side', 120000 + duration * 1000)) as {
      checks: number
      up: number
      wallS: number
      cpuPct: number
      userPct: number
      systemPct: number
      mainThreadPct: number
      otherThreadsPct: number
      tunnelThreadPct: number
      settledMs: number
      packetWorkersPct: number
      okPerS: number
      failedPerS: number
      backendsOk: number
      fewestOkPerBackend: number
      answersPerBackend: Record<string, number>
      packetsOutPerProbe: number
      packetsInPerProbe: number
      connectionsPerProbe: number
      errors: Record<string, number>
      tunDropped: number
      tunnel: Record<string, number>
    }
    progress(
      `checks ${r.checks}, up ${r.up}; ${r.okPerS.toFixed(0)} successful probes/s, ${r.failedPerS.toFixed(1)} failed/s ${JSON.stringify(r.errors)}; ` +
        `${r.backendsOk} backends answered, the fewest ${r.fewestOkPerBackend} times in ${r.wallS.toFixed(1)} s ` +
        `(answers: backends ${JSON.stringify(r.answersPerBackend)}); ` +
        `packets per probe ${r.packetsOutPerProbe.toFixed(2)} out, ${r.packetsInPerProbe.toFixed(2)} in, connections opened per probe ${r.connectionsPerProbe.toFixed(3)}; ` +
        `TUN queue drops ${r.tunDropped}; measured from ${(r.settledMs / 1000).toFixed(0)} s after every backend was up\n` +
        `CPU ${r.cpuPct.toFixed(2)} % of one core (user ${r.userPct.toFixed(2)}, system ${r.systemPct.toFixed(2)}; ` +
        `main thread ${r.mainThreadPct.toFixed(2)}, other threads ${r.otherThreadsPct.toFixed(2)}: the tunnel's ${r.tunnelThreadPct.toFixed(2)}, V8's helpers ${(r.otherThreadsPct - r.tunnelThreadPct).toFixed(2)})` +
        (values.dataplane === true ? `; packet worker (not in the figure) ${r.packetWorkersPct.toFixed(2)} %` : '') +
        `; tunnel ${JSON.stringify(r.tunnel)}`,
    )
    // What production does: every backend probed successfully once a second. A probe runs one
    // interval after the previous one started (rounded up to the wheel's 10 ms tick), so a
    // backend answers ⌊seconds⌋ times in the measured seconds, or one fewer at the edges.
    const allAnswered = r.backendsOk === backends && r.fewestOkPerBackend >= Math.floor(r.wallS) - 1
    if (!allAnswered || r.okPerS < backends * 0.97 || r.failedPerS > (r.okPerS + r.failedPerS) * 0.001) {
      process.stderr.write(
        `nvlb bench health: ${r.okPerS.toFixed(0)} of ${backends} probes/s succeeded, ${r.failedPerS.toFixed(1)}/s failed, ` +
          `${r.backendsOk} backends answered (the fewest ${r.fewestOkPerBackend} times); no figure\n`,
      )
      return 1
    }
    const metrics: Metric[] = [{ name: 'health.probe_cpu_pct', value: r.cpuPct, unit: '%', target: 5, better: 'lower' }]
    printMetrics(metrics, values.json === true)
    return 0
  } finally {
    for (const c of children) {
      c.stdin?.end()
      const exited = new Promise((resolve) => c.once('close', resolve))
      const timer = setTimeout(() => c.kill('SIGKILL'), 3000)
      if (c.exitCode === null && c.signalCode === null) await exited
      clearTimeout(timer)
    }
    for (const ns of [nvlbNs, hostNs]) {
      try {
        sh(['ip', 'netns', 'del', ns])
      } catch {
        // not created
      }
    }
  }
}
