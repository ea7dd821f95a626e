/**
 * `nvlb bench e2e`: HTTP through nvlb end to end, against what it replaces, in one run
 * on one deployment (the reference deployment of examples/blue-red):
 *
 *   vip     client → Blue public VIP 203.0.113.10 → nvlb (AF_PACKET) → NVGRE → host
 *           emulator → blue-vm1..4, and back the same way
 *   direct  client → blue-vm1..4, each over a plain veth of its own (no load balancer, no
 *           NVGRE, no host), the connections spread over the four as the VIP spreads them
 *   nft     client → 198.18.100.10 → kernel forwarding + nftables DNAT in a namespace of
 *           its own → blue-vm1..4 over plain veths
 *
 * autocannon runs inside the client namespace (keep-alive connections), the paths in
 * the order vip, direct, nft, nft, direct, vip so that drift on a shared machine hits
 * all of them alike. Metrics: e2e.ratio_vs_direct (req/s vip ÷ direct),
 * e2e.p99_added_us (p99 vip − direct), e2e.ratio_vs_nft. Where the CPU went during
 * every run is printed too: CPU µs per request for nvlb, the host emulators, the VM servers,
 * the load generator and the kernel (with whatever else runs on the machine), and the frames
 * nvlb handled per request through the VIP with its CPU per frame.
 */
import { parseArgs } from 'node:util'
import { addDirectLinks, addNftLoadBalancer, NFT_NODE } from '../examples/blue-red/baselines'
import { CpuMeter, machineBusySeconds } from '../examples/blue-red/cpu-usage'
import { answeredBy, deploy, type Deployment } from '../examples/blue-red/deploy'
import { startLoad, type LoadResult } from '../examples/blue-red/load'
import { httpGetInNamespace } from '../examples/blue-red/topology'
import { formatTable } from '../lib/cli/table'
import { printMetrics, progress, type Metric } from './report'

const USAGE = `usage: nvlb bench e2e [--json] [--duration S] [--connections N] [--workers N] [--busy-poll US] [--io MODE] [--prefix P]

HTTP req/s and p99 latency through nvlb's Blue public VIP vs. the same client straight to a
backend vs. an nftables DNAT load balancer, same deployment, same run (needs root).

  --duration S      seconds per measurement (default 4); each path is measured twice
  --connections N   keep-alive connections (default 16)
  --workers N       nvlb packet workers (default 1)
  --busy-poll US    nvlb run --busy-poll: µs a worker keeps looking for frames before it
                    sleeps (default 1000, as on a balancer with cores of its own; 0: off)
  --io MODE         nvlb run --io: rings (default) or af-xdp
  --json            one JSON object per metric line`

type PathName = 'vip' | 'direct' | 'nft'
const ORDER: PathName[] = ['vip', 'direct', 'nft', 'nft', 'direct', 'vip']

interface PathTarget {
  name: PathName
  /** Where the load goes (the direct path: one URL per VM, connections spread over them). */
  urls: string[]
  /** VM names allowed to answer. */
  backends: string[]
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
}

async function checkPath(d: Deployment, path: PathTarget): Promise<void> {
  for (const url of path.urls) {
    const answer = await httpGetInNamespace(d.topology.client.namespace, url, 5000)
    const by = answeredBy(answer.body)
    if (answer.status !== 200 || !path.backends.includes(by)) {
      throw new Error(`${path.name} path ${url}: HTTP ${answer.status} from '${by}', expected one of ${path.backends.join(', ')}`)
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      duration: { type: 'string', default: '4' },
      connections: { type: 'string', default: '16' },
      workers: { type: 'string', default: '1' },
      'busy-poll': { type: 'string', default: '1000' },
      io: { type: 'string', default: 'rings' },
      prefix: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb bench e2e: needs root (network namespaces)\n')
    return 2
  }
  if (values.io !== 'rings' && values.io !== 'af-xdp') {
    process.stderr.write(`nvlb bench e2e: --io must be rings or af-xdp, not '${values.io}'\n`)
    return 2
  }
  const duration = Number(values.duration)
  const connections = Number(values.connections)

  const d = await deploy({ prefix: values.prefix, workers: Number(values.workers), busyPollUs: Number(values['busy-poll']), io: values.io as 'rings' | 'af-xdp', extraNodes: [NFT_NODE], log: progress })
  try {
    const blue = d.vips.find((v) => v.name === 'blue-public')!
    const blueVms = blue.backends.map((name) => d.topology.vms.find((vm) => vm.name === name)!)
    const paths: Record<PathName, PathTarget> = {
      vip: { name: 'vip', urls: [blue.url], backends: blue.backends },
      direct: { name: 'direct', urls: addDirectLinks(d.topology, blueVms), backends: blue.backends },
      nft: {
        name: 'nft',
        urls: [`http://${addNftLoadBalancer(d.topology, blueVms, [{ protocol: 'tcp', port: 80, backendPort: 80 }])}/`],
        backends: blue.backends,
      },
    }
    for (const path of Object.values(paths)) await checkPath(d, path)

    const pidsOf = (group: { processes: Array<{ child: { pid?: number } }> }) => () => group.processes.map((p) => p.child.pid)
    // The load generator reports its own CPU time; the kernel's share is the machine's minus the processes'.
    const meter = new CpuMeter({
      nvlb: () => [d.nvlb.child.pid],
      'host emulators': pidsOf(d.hosts),
      'VM servers': pidsOf(d.servers),
    })

    const results: Record<PathName, LoadResult[]> = { vip: [], direct: [], nft: [] }
    /** Per path: CPU seconds by process group, summed over its runs. */
    const cpu: Record<PathName, Record<string, number>> = { vip: {}, direct: {}, nft: {} }
    progress(`warm-up, then ${ORDER.join(', ')}: ${duration} s each, ${connections} keep-alive connections`)
    for (const path of ['vip', 'direct', 'nft'] as PathName[]) {
      await startLoad(d.topology.client.namespace, paths[path].urls, { durationSeconds: 1, connections, reconnectRate: 0 }).result
    }
    /** Frames nvlb's engine received during the VIP runs (GET /v1/stats). */
    let vipFrames = 0
    const nvlbFrames = async (): Promise<number> => (await d.api.get<{ rxPackets: number }>('/v1/stats')).body.rxPackets
    for (const name of ORDER) {
      const framesBefore = name === 'vip' ? await nvlbFrames() : 0
      const run = startLoad(d.topology.client.namespace, paths[name].urls, { durationSeconds: duration, connections, reconnectRate: 0, progressMs: 1000 })
      const before = meter.sample()
      const machineBefore = machineBusySeconds()
      const result = await run.result
      const used = CpuMeter.share(before, meter.sample(), 1)
      used['load generator'] = result.cpuSeconds
      const known = Object.values(used).reduce((a, b) => a + b, 0)
      used['kernel and the rest of the machine'] = machineBusySeconds() - machineBefore - known
      for (const [group, seconds] of Object.entries(used)) cpu[name][group] = (cpu[name][group] ?? 0) + seconds
      const foreign = Object.keys(result.backends).filter((b) => !paths[name].backends.includes(b))
      if (foreign.length > 0) throw new Error(`${name}: answered by ${foreign.join(', ')}`)
      results[name].push(result)
      if (name === 'vip') vipFrames += (await nvlbFrames()) - framesBefore
      progress(
        `  ${name.padEnd(6)} ${Math.round(result.rps)} req/s  p50 ${(result.p50Us / 1000).toFixed(2)} ms  p99 ${(result.p99Us / 1000).toFixed(2)} ms  errors ${result.errors + result.non2xx}`,
      )
    }

    const summary = (name: PathName) => ({
      rps: mean(results[name].map((r) => r.rps)),
      p50: mean(results[name].map((r) => r.p50Us)),
      p99: mean(results[name].map((r) => r.p99Us)),
      errors: results[name].reduce((s, r) => s + r.errors + r.non2xx, 0),
    })
    const vip = summary('vip')
    const direct = summary('direct')
    const nft = summary('nft')
    const rows = (
      [
        [`nvlb VIP (NVGRE, host emulators${values['busy-poll'] === '0' ? '' : `, busy-poll ${values['busy-poll']} µs`}${values.io === 'af-xdp' ? ', AF_XDP' : ''})`, vip],
        ['direct to blue-vm1..4 (a veth each)', direct],
        ['nftables DNAT (kernel)', nft],
      ] as const
    ).map(([label, s]) => [label, Math.round(s.rps), (s.p50 / 1000).toFixed(2), (s.p99 / 1000).toFixed(2), s.errors])
    progress('\n' + formatTable(['path', 'req/s', 'p50 ms', 'p99 ms', 'errors'], rows))
    // Where the time goes: CPU µs per request, by process group (the machine has 2 cores, all shared).
    const requests = (name: PathName) => results[name].reduce((sum, r) => sum + r.requests, 0)
    const groups = Object.keys(cpu.vip)
    const perRequest = (name: PathName, group: string) => (((cpu[name][group] ?? 0) * 1e6) / Math.max(1, requests(name))).toFixed(1)
    const cpuRows = [...groups, 'total'].map((group) => [
      group,
      ...(['vip', 'direct', 'nft'] as PathName[]).map((name) =>
        group === 'total'
          ? ((Object.values(cpu[name]).reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, requests(name))).toFixed(1)
          : perRequest(name, group),
      ),
    ])
    progress('CPU µs per request by process group:\n' + formatTable(['process group', 'vip', 'direct', 'nft'], cpuRows))
    const nvlbSeconds = (cpu.vip['nvlb (user)'] ?? 0) + (cpu.vip['nvlb (kernel)'] ?? 0)
    progress(
      `nvlb handled ${(vipFrames / Math.max(1, requests('vip'))).toFixed(2)} frames per request through the VIP, ` +
        `${((nvlbSeconds * 1e6) / Math.max(1, vipFrames)).toFixed(2)} µs of nvlb's CPU per frame`,
    )

    const metrics: Metric[] = [
      { name: 'e2e.ratio_vs_direct', value: vip.rps / direct.rps, unit: 'ratio', target: 0.8, better: 'higher' },
      { name: 'e2e.p99_added_us', value: vip.p99 - direct.p99, unit: 'us', target: 200, better: 'lower' },
      { name: 'e2e.ratio_vs_nft', value: vip.rps / nft.rps, unit: 'ratio', target: 1, better: 'higher' },
      { name: 'e2e.p99_added_vs_nft_us', value: vip.p99 - nft.p99, unit: 'us', target: 200, better: 'lower' },
    ]
    printMetrics(metrics, values.json)
    return 0
  } finally {
    await d.teardown()
  }
}
