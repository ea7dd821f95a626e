/**
 * BGP announcements of two nvlb instances to a router, with real BIRD daemons in network
 * namespaces `hab<hex>-*` created by the test and removed also when it fails (examples/ha/bgp-lab.ts).
 * The instances run `nvlb run --no-dataplane --bgp-peer …`; the router's BIRD installs what it
 * learns as kernel routes, which the test reads back with `ip route`.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { DEFAULT_TIMERS } from '../../lib/ha/bird-config'
import { referenceConfig } from '../../examples/blue-red/topology'
import { createBgpLab, LAB_TOKEN, type BgpLab } from '../../examples/ha/bgp-lab'

const haveBird = (() => {
  try {
    execFileSync('bird', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : !haveBird ? 'needs BIRD (apt-get install bird2)' : false

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
  const lab: BgpLab = await createBgpLab(`hab${randomBytes(2).toString('hex').slice(0, 3)}`, 2, DEFAULT_TIMERS)
  t.teardown(() => lab.destroy())
  const blue = '203.0.113.10'
  const red = '203.0.113.20'

  // Not ready (no configuration yet): the session comes up, nothing is announced.
  const first = await lab.startInstance(1, undefined)
  await waitFor('nvlb1 session', () => lab.session('nvlb1'), (o) => /Established/.test(o))
  t.same(lab.nextHops(blue), [], 'an instance without a configuration announces nothing')

  // A configuration through the admin API: nvlb1 becomes ready and announces the public VIPs.
  const config = referenceConfig()
  config.node.externalAddress = lab.nextHopOf(1)
  const put = execFileSync('ip', ['netns', 'exec', lab.namespace('nvlb1'), 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT',
    '-H', `authorization: Bearer ${LAB_TOKEN}`, '-H', 'content-type: application/json',
    '--data-binary', JSON.stringify(config), 'http://127.0.0.1:8573/v1/config'], { encoding: 'utf8' })
  t.equal(put, '200', 'configuration accepted')
  t.same(await waitFor('blue via nvlb1', () => lab.nextHops(blue), (h) => h.length === 1), ['192.0.2.2'], 'announced once ready')

  // The second instance: one kernel route with both next hops, for each public VIP; none for the CA VIPs.
  const second = await lab.startInstance(2, referenceConfig(), ['--drain-ms', '300'])
  t.same(await waitFor('blue ECMP', () => lab.nextHops(blue), (h) => h.length === 2), ['192.0.2.2', '192.0.2.6'], 'blue: both instances')
  t.same(await waitFor('red ECMP', () => lab.nextHops(red), (h) => h.length === 2), ['192.0.2.2', '192.0.2.6'], 'red: both instances')
  t.same(lab.nextHops('10.1.5.100'), [], 'a CA VIP is not announced')
  const route = execFileSync('ip', ['-n', lab.namespace('router'), 'route', 'show', `${blue}/32`], { encoding: 'utf8' })
  t.match(route, /nexthop via 192\.0\.2\.2 dev ext1[\s\S]*nexthop via 192\.0\.2\.6 dev ext2/, 'one multipath kernel route')

  // SIGTERM: the instance withdraws before it exits (drain 300 ms), exit 0.
  second.child.kill('SIGTERM')
  t.same(await waitFor('blue back to nvlb1 only', () => lab.nextHops(blue), (h) => h.length === 1), ['192.0.2.2'], 'withdrawn on SIGTERM')
  t.equal(await second.exited, 0, 'nvlb2 exits 0 after the drain')

  // kill -9: the speaker dies with nvlb (pdeathsig), the session closes, the route goes.
  first.child.kill('SIGKILL')
  await first.exited
  t.same(await waitFor('no route after kill -9', () => lab.nextHops(blue), (h) => h.length === 0), [], 'withdrawn when nvlb is killed')
})
