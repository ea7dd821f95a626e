/**
 * Traffic follows health, in one engine: the compiler takes the set of backends
 * probes saw down; down backends get no new flows and their flows are released
 * on their next packet, others keep theirs; whenAllDown 'drop' and 'useAll';
 * probe replies are not the packet path's business (no tenant counter moves).
 */
import t from 'tap'
import { Verdict } from '../../lib/dataplane/engine'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { validateConfig } from '../../lib/control/config-validate'
import type { NvlbConfig } from '../../lib/control/config-types'
import { Harness, MAC, fromClient, referenceConfig } from '../helpers/engine-harness'

function probedConfig(whenAllDown?: 'drop' | 'useAll'): NvlbConfig {
  const doc = JSON.parse(JSON.stringify(referenceConfig()))
  doc.node.probeAddress = '198.18.0.1'
  doc.probes = [{ name: 'web', protocol: 'http' }]
  for (const v of doc.vips) for (const r of v.rules) {
    r.probe = 'web'
    if (whenAllDown !== undefined) r.whenAllDown = whenAllDown
  }
  return validateConfig(doc)
}

const BLUE = ['5001/10.1.6.20:80', '5001/10.1.6.21:80', '5001/10.1.6.22:80', '5001/10.1.6.23:80']

/** Which blue backend a public flow from `sport` reaches (inner destination CA). */
function backendOf(h: Harness, sport: number, flags: ('syn' | 'ack')[] = ['ack']): string | null {
  const r = h.send(fromClient({ sport, flags }))
  if (r.verdict !== Verdict.TX) return null
  const f = parseFrame(r.out[0]!.frame)!
  return `5001/${f.inner!.ipv4!.dst}:80`
}

function load(h: Harness, config: NvlbConfig, down: string[]): void {
  h.engine.adopt(h.compiler.compile(config, 1, { down: new Set(down.map((b) => `blue-web|${b}`)) }))
}

t.test('a down backend gets no new flows; its flows move, the others stay', async (t) => {
  const config = probedConfig()
  const h = new Harness(config)
  load(h, config, [])
  const before = new Map<number, string>()
  for (let sport = 20000; sport < 20400; sport++) before.set(sport, backendOf(h, sport, ['syn'])!)
  const victim = BLUE[1]!
  t.ok([...before.values()].filter((b) => b === victim).length > 20, 'the victim had flows')

  load(h, config, [victim])
  let moved = 0
  let toVictim = 0
  let stayed = 0
  for (const [sport, was] of before) {
    const now = backendOf(h, sport)
    if (now === victim || now === null) toVictim++
    if (was === victim) moved++
    else if (now === was) stayed++
  }
  t.equal(toVictim, 0, 'no packet reaches the down backend')
  t.ok(moved > 0)
  t.equal(stayed, before.size - moved, 'every flow on a healthy backend stays where it was')
  let newToVictim = 0
  for (let sport = 30000; sport < 30200; sport++) if (backendOf(h, sport, ['syn']) === victim) newToVictim++
  t.equal(newToVictim, 0, 'no new flow reaches it')

  load(h, config, [])
  let back = 0
  for (let sport = 40000; sport < 40400; sport++) if (backendOf(h, sport, ['syn']) === victim) back++
  t.ok(back > 20, 'back up: new flows reach it again')
})

t.test('all backends down: drop (counted) or useAll', async (t) => {
  const dropping = probedConfig()
  const h = new Harness(dropping)
  load(h, dropping, BLUE)
  const r = h.send(fromClient({ sport: 1234, flags: ['syn'] }))
  t.equal(r.verdict, Verdict.DROP)
  t.same(r.drops, ['no_backend'])

  const useAll = probedConfig('useAll')
  const u = new Harness(useAll)
  load(u, useAll, BLUE)
  const seen = new Set<string>()
  for (let sport = 1000; sport < 1100; sport++) seen.add(backendOf(u, sport, ['syn'])!)
  t.same([...seen].sort(), BLUE, 'balanced over all of them')
  const again = backendOf(u, 1000)
  t.ok(again !== null, 'their flows are kept')
})

t.test('a draining backend keeps its flows while it is up; admin state stays separate from health', async (t) => {
  const config = probedConfig()
  const h = new Harness(config)
  load(h, config, [])
  const flows = new Map<number, string>()
  for (let sport = 50000; sport < 50200; sport++) flows.set(sport, backendOf(h, sport, ['syn'])!)
  const drained = JSON.parse(JSON.stringify(config))
  drained.pools.find((p: any) => p.name === 'blue-web').backends[1].state = 'draining'
  const d = validateConfig(drained)
  load(h, d, [])
  for (const [sport, was] of flows) t.equal(backendOf(h, sport), was)
  const snap = h.compiler.compile(d, 2, { down: new Set([`blue-web|${BLUE[1]}`]) })
  t.ok(snap.backendDown.some((v) => v === 1))
  t.same(
    snap.backendState.filter((_, i) => snap.backendName[i] === BLUE[1] && snap.backendPool[i] === 'blue-web'),
    new Uint8Array([1]),
    'still draining (admin state) while down (health)',
  )
})

t.test('probe replies to node.probeAddress are left alone by the packet path', async (t) => {
  const config = probedConfig()
  const h = new Harness(config)
  const reply = buildFrame({
    eth: { src: '02:00:c0:a8:06:04', dst: MAC.provider },
    ipv4: { src: '192.168.6.4', dst: '192.168.6.2' },
    nvgre: { vsid: 5001, inner: { eth: { src: '00:15:5d:01:06:21', dst: MAC.gateway }, ipv4: { src: '10.1.6.21', dst: '198.18.0.1' }, tcp: { srcPort: 80, dstPort: 40000, flags: 'SA' } } },
  })
  const before = h.engine.statsReport()
  const r = h.send(reply)
  t.equal(r.verdict, Verdict.CONSUMED)
  t.same(r.out, [])
  t.same(r.drops, [], 'not counted as a drop')
  const after = h.engine.statsReport()
  t.equal(after.activeFlows, before.activeFlows, 'no flow-table room taken')
  t.same(after.backends.map((b) => b.packets), before.backends.map((b) => b.packets))
})
