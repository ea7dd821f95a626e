/**
 * The reference deployment end to end (real TCP stacks, real HTTP, nvlb on AF_PACKET,
 * configured through its admin API): every VIP answers from its own tenant only and from
 * every backend of its pool, and tshark on the provider bridge sees nvlb's NVGRE with
 * outer source = nvlb's PA and key = the backend's VSID. nvlb runs on AF_XDP and busy-polls here (nvlb run --io af-xdp --busy-poll 200).
 */
import t from 'tap'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deployForTest, KeepaliveClient, needsRoot, OutputWatcher, waitFor } from './helpers'

const FRESH_CONNECTIONS = 40

/** Frames in a capture file (0 while the file has no complete frame yet). */
function framesIn(file: string): number {
  try {
    const text = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return text.split('\n').filter((line) => line !== '').length
  } catch {
    return 0
  }
}

t.test('four VIPs through nvlb on real interfaces', { skip: needsRoot }, async (t) => {
  // AF_XDP and busy-polling here (the other deployments sleep on packet rings): the same answers either way.
  const d = await deployForTest(t, { busyPollUs: 200, io: 'af-xdp' })
  const dir = mkdtempSync(join(tmpdir(), `nvlb-e2e-${d.prefix}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  // tshark on nvlb's port of the provider bridge, inside the provider namespace, GRE only.
  const capture = join(dir, 'provider.pcap')
  const tshark = spawn(
    'ip',
    ['netns', 'exec', d.topology.provider.namespace, 'tshark', '-i', d.topology.provider.nvlbPort, '-f', 'ip proto 47', '-F', 'pcap', '-w', capture, '-q'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const tsharkExited = new Promise<number | null>((resolve) => tshark.once('close', (code) => resolve(code)))
  t.teardown(() => {
    if (tshark.exitCode === null && tshark.signalCode === null) tshark.kill('SIGKILL')
  })
  await new OutputWatcher(tshark).waitFor(/Capturing on/, 30000)

  let sentThroughNvlb = 0
  await t.test('HTTP through each VIP: right tenant only, every backend of the pool', async (t) => {
    await Promise.all(
      d.vips.map(async (vip) => {
        const client = new KeepaliveClient(vip.fromNamespace, vip.url, 1)
        try {
          const { bodies, errors } = await client.fresh(FRESH_CONNECTIONS)
          const answered = Object.keys(bodies).sort()
          t.same(errors, [], `${vip.name}: every request succeeded`)
          t.equal(Object.values(bodies).reduce((a, b) => a + b, 0), FRESH_CONNECTIONS, `${vip.name}: ${FRESH_CONNECTIONS} answers`)
          t.same(
            answered.filter((name) => !vip.backends.includes(name)),
            [],
            `${vip.name}: answered only by pool ${vip.pool} (${vip.tenant})`,
          )
          t.same(answered, [...vip.backends].sort(), `${vip.name}: every backend answered (${JSON.stringify(bodies)})`)
          sentThroughNvlb += FRESH_CONNECTIONS
        } finally {
          await client.close()
        }
      }),
    )
    const io = (await d.api.get<{ io: { mode: string; busyPollUs: number; perWorker: { sleeps: number; rxPackets: number }[] } }>('/v1/stats')).body.io
    t.equal(io.mode, 'af-xdp', '/v1/stats: the worker is on AF_XDP')
    t.equal(io.busyPollUs, 200, 'and busy-polls 200 µs')
    t.ok(io.perWorker[0]!.sleeps > 0, `and count their sleeps (${io.perWorker[0]!.sleeps}, ${io.perWorker[0]!.rxPackets} frames)`)
  })

  await t.test('tshark on the provider bridge: outer source = nvlb PA, key = backend VSID', async (t) => {
    // Each connection puts at least its SYN, request and FIN on the wire to a host.
    await waitFor('the capture to hold the traffic', () => framesIn(capture) >= sentThroughNvlb * 3, 30000, 200)
    tshark.kill('SIGINT')
    t.equal(await tsharkExited, 0, 'tshark stopped cleanly')

    const fields = ['eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'gre.key', 'gre.proto', 'tcp.dstport']
    const text = execFileSync('tshark', ['-r', capture, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 << 20,
    })
    const nvlbMac = d.topology.nvlb.providerMac
    const hostByPa = new Map(d.topology.hosts.map((h) => [h.providerAddress, h]))
    let fromNvlb = 0
    const problems: string[] = []
    const seen = new Set<string>()
    for (const line of text.split('\n')) {
      if (line === '') continue
      const [ethSrc, ethDst, ipSrc, ipDst, key, proto, dport] = line.split('|') as string[]
      const [outerMac, innerSrcMac] = ethSrc!.split(',')
      if (outerMac !== nvlbMac) continue
      fromNvlb++
      const [outerSrc, innerSrc] = ipSrc!.split(',')
      const [outerDst, innerDst] = ipDst!.split(',')
      const innerDstMac = ethDst!.split(',')[1]
      const vsid = Number(key) >>> 8
      if (outerSrc !== d.topology.nvlb.providerAddress) problems.push(`outer source ${outerSrc}`)
      if (proto !== '0x6558') problems.push(`GRE protocol ${proto}`)
      const host = hostByPa.get(outerDst!)
      if (host === undefined) {
        problems.push(`outer destination ${outerDst} is not a host PA`)
        continue
      }
      // The inner destination is a VM of that host, in exactly the VSID of the key.
      const vm = host.vms.find((v) => v.address === innerDst && v.virtualSubnetId === vsid)
      if (vm === undefined) {
        problems.push(`key VSID ${vsid} / inner ${innerSrc}→${innerDst} matches no VM on ${host.name}`)
        continue
      }
      if (innerDstMac !== vm.mac) problems.push(`${vm.name}: inner destination MAC ${innerDstMac}, lookup record says ${vm.mac}`)
      if (innerSrcMac !== d.topology.config.node.gatewayMac) problems.push(`${vm.name}: inner source MAC ${innerSrcMac}`)
      if (dport === '80') seen.add(vm.name)
    }
    t.ok(fromNvlb >= sentThroughNvlb * 3, `frames nvlb sent to the hosts: ${fromNvlb}`)
    t.same(problems.slice(0, 10), [], 'every frame from nvlb: outer source = PA, key VSID = the destination VM\'s, MACs from the lookup records')
    const backends = [...new Set(d.vips.flatMap((v) => v.backends))].sort()
    t.same([...seen].sort(), backends, 'requests reached every backend, each inside its own VSID')
  })
})
