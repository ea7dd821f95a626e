/**
 * BGP announcements of two nvlb instances to a router, with real BIRD daemons in network
 * namespaces `hab<hex>-*` created by the test (and removed also when it fails):
 *
 *   <p>-router  bgp1 172.31.1.1/30 ── bgp0 <p>-nvlb1   (BGP session)
 *               ext1 192.0.2.1/30  ── ext0 <p>-nvlb1   (next hop 192.0.2.2, nvlb1's external address)
 *               bgp2 172.31.2.1/30 ── bgp0 <p>-nvlb2
 *               ext2 192.0.2.5/30  ── ext0 <p>-nvlb2   (next hop 192.0.2.6)
 *
 * The instances run `nvlb run --no-dataplane` (packet I/O is not what is tested here); the
 * router's BIRD installs what it learns as kernel routes, which the test reads with `ip route`.
 */
import t from 'tap'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { BirdProcess } from '../../lib/ha/bird-process'
import { routerConfig, DEFAULT_TIMERS } from '../../lib/ha/bird-config'
import { referenceConfig } from '../../examples/blue-red/topology'

const root = process.getuid?.() === 0
const haveBird = (() => {
  try {
    execFileSync('bird', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
const skip = !root ? 'needs root (network namespaces)' : !haveBird ? 'needs BIRD (apt-get install bird2)' : false

const prefix = `hab${randomBytes(2).toString('hex').slice(0, 3)}`
const ns = (node: string): string => `${prefix}-${node}`
const nodes = ['router', 'nvlb1', 'nvlb2']
const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const REPO = join(__dirname, '..', '..')
const dir = skip === false ? mkdtempSync(join(tmpdir(), `${prefix}-`)) : ''

function destroy(): void {
  for (const node of nodes) {
    try {
      ip(['netns', 'delete', ns(node)])
    } catch {
      // not there
    }
  }
  rmSync(dir, { recursive: true, force: true })
}

function setup(): void {
  for (const node of nodes) {
    ip(['netns', 'add', ns(node)])
    ip(['-n', ns(node), 'link', 'set', 'lo', 'up'])
  }
  t.teardown(destroy)
  process.on('exit', destroy)
  for (const i of [1, 2]) {
    ip(['link', 'add', `bgp${i}`, 'netns', ns('router'), 'type', 'veth', 'peer', 'name', 'bgp0', 'netns', ns(`nvlb${i}`)])
    ip(['link', 'add', `ext${i}`, 'netns', ns('router'), 'type', 'veth', 'peer', 'name', 'ext0', 'netns', ns(`nvlb${i}`)])
    ip(['-n', ns('router'), 'address', 'add', `172.31.${i}.1/30`, 'dev', `bgp${i}`])
    ip(['-n', ns('router'), 'address', 'add', `192.0.2.${4 * i - 3}/30`, 'dev', `ext${i}`])
    ip(['-n', ns(`nvlb${i}`), 'address', 'add', `172.31.${i}.2/30`, 'dev', 'bgp0'])
    for (const [n, dev] of [['router', `bgp${i}`], ['router', `ext${i}`], [`nvlb${i}`, 'bgp0'], [`nvlb${i}`, 'ext0']] as const) {
      ip(['-n', ns(n), 'link', 'set', dev, 'up'])
    }
  }
}

const router = new BirdProcess({ runDir: join(dir, 'router'), namespace: ns('router') })

function configFor(i: number): string {
  const config = referenceConfig()
  config.node.externalAddress = `192.0.2.${4 * i - 2}`
  const path = join(dir, `nvlb${i}.json`)
  writeFileSync(path, JSON.stringify(config))
  return path
}

interface Instance {
  child: ChildProcess
  output: string[]
  exited: Promise<number | null>
}

const instances: Instance[] = []
t.teardown(() => {
  for (const inst of instances) if (inst.child.exitCode === null) inst.child.kill('SIGKILL')
})

function startInstance(i: number, options: { config: boolean }): Promise<Instance> {
  const args = [
    '--import', 'tsx', join(REPO, 'bin', 'nvlb.ts'), 'run', '--no-dataplane',
    ...(options.config ? ['--config', configFor(i)] : []),
    '--state-dir', join(dir, `state${i}`), '--api-listen', '127.0.0.1:8573',
    '--bgp-peer', `172.31.${i}.1:65000`, '--bgp-asn', '65001', '--router-id', `172.31.${i}.2`,
    '--bgp-next-hop', `192.0.2.${4 * i - 2}`, '--drain-ms', '300',
  ]
  const child = spawn('ip', ['netns', 'exec', ns(`nvlb${i}`), process.execPath, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NVLB_TOKEN: 'hab-test-token' },
  })
  const output: string[] = []
  const inst: Instance = { child, output, exited: new Promise((r) => child.once('exit', (code) => r(code))) }
  instances.push(inst)
  createInterface({ input: child.stderr! }).on('line', (l) => output.push(l))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nvlb${i} not ready:\n${output.join('\n')}`)), 60000)
    createInterface({ input: child.stdout! }).on('line', (l) => {
      output.push(l)
      if (l.includes('"msg":"admin API listening"')) {
        clearTimeout(timer)
        resolve(inst)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`nvlb${i} exited ${code}:\n${output.join('\n')}`))
    })
  })
}

/** Next hops of the router's kernel route to `address` (empty: no route). */
function nextHops(address: string): string[] {
  const out = ip(['-n', ns('router'), 'route', 'show', `${address}/32`])
  return [...out.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort()
}

async function waitFor<T>(what: string, probe: () => T, ok: (v: T) => boolean, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last = probe()
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
    last = probe()
  }
  return last
}

t.test('router learns, installs ECMP and loses the VIP routes', { skip }, async (t) => {
  setup()
  t.teardown(() => router.stop())
  await router.start(
    routerConfig({
      routerId: '172.31.0.1',
      localAsn: 65000,
      neighbors: [1, 2].map((i) => ({ name: `nvlb${i}`, address: `172.31.${i}.2`, asn: 65001 })),
      nextHopInterfaces: ['ext*'],
      maxPaths: 16,
      timers: DEFAULT_TIMERS,
    }),
  )
  const blue = '203.0.113.10'
  const red = '203.0.113.20'

  // Not ready (no configuration yet): the session comes up, nothing is announced.
  const first = await startInstance(1, { config: false })
  const established = (): string =>
    execFileSync('ip', ['netns', 'exec', ns('router'), 'birdc', '-s', router.socketPath, 'show', 'protocols', 'nvlb1'], { encoding: 'utf8' })
  await waitFor('nvlb1 session', established, (o) => /Established/.test(o))
  t.same(nextHops(blue), [], 'an instance without a configuration announces nothing')

  // A configuration through the admin API: nvlb1 becomes ready and announces the public VIPs.
  const config = JSON.parse(execFileSync('cat', [configFor(1)], { encoding: 'utf8' })) as unknown
  const put = execFileSync('ip', ['netns', 'exec', ns('nvlb1'), 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT',
    '-H', 'authorization: Bearer hab-test-token', '-H', 'content-type: application/json',
    '--data-binary', JSON.stringify(config), 'http://127.0.0.1:8573/v1/config'], { encoding: 'utf8' })
  t.equal(put, '200', 'configuration accepted')
  t.same(await waitFor('blue via nvlb1', () => nextHops(blue), (h) => h.length === 1), ['192.0.2.2'], 'announced once ready')

  // The second instance: one kernel route with both next hops, for each public VIP; none for the CA VIPs.
  const second = await startInstance(2, { config: true })
  t.same(await waitFor('blue ECMP', () => nextHops(blue), (h) => h.length === 2), ['192.0.2.2', '192.0.2.6'], 'blue: both instances')
  t.same(await waitFor('red ECMP', () => nextHops(red), (h) => h.length === 2), ['192.0.2.2', '192.0.2.6'], 'red: both instances')
  t.same(nextHops('10.1.5.100'), [], 'a CA VIP is not announced')
  const route = ip(['-n', ns('router'), 'route', 'show', `${blue}/32`])
  t.match(route, /nexthop via 192\.0\.2\.2 dev ext1[\s\S]*nexthop via 192\.0\.2\.6 dev ext2/, 'one multipath kernel route')

  // SIGTERM: the instance withdraws before it exits (drain 300 ms), exit 0.
  second.child.kill('SIGTERM')
  t.same(await waitFor('blue back to nvlb1 only', () => nextHops(blue), (h) => h.length === 1), ['192.0.2.2'], 'withdrawn on SIGTERM')
  t.equal(await second.exited, 0, 'nvlb2 exits 0 after the drain')

  // kill -9: the speaker dies with nvlb (pdeathsig), the session closes, the route goes.
  first.child.kill('SIGKILL')
  await first.exited
  t.same(await waitFor('no route after kill -9', () => nextHops(blue), (h) => h.length === 0), [], 'withdrawn when nvlb is killed')
})
