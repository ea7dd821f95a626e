/**
 * Rule and backend ids are reused once no snapshot and no flow can refer to
 * them: VIPs and backends created and deleted through the control plane
 * without end never run the compiler out of ids, and flows of VIPs nobody
 * touched stay exactly as they were.
 */
import t from 'tap'
import pino from 'pino'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Compiler } from '../../lib/control/compiler'
import { ErrorCodes } from '../../lib/errors'
import { ControlPlane } from '../../lib/control/control-plane'
import type { NvlbConfig } from '../../lib/control/config-types'
import { Engine, HEADROOM, Verdict } from '../../lib/dataplane/engine'
import { G_SWEPT_EPOCH } from '../../lib/dataplane/counters'
import { MAX_BACKEND_IDS, MAX_RULE_IDS, type Snapshot } from '../../lib/dataplane/snapshot'
import { formatIPv4 } from '../../lib/packet/address'
import { parseFrame } from '../../lib/packet/frame'
import { Harness, fromAppTier, fromClient, referenceConfig } from '../helpers/engine-harness'

const CYCLES = Number(process.env.NVLB_ID_CYCLES ?? 100_000)
// About 1.5 ms per cycle (validate, compile, durable write, adopt) on a quiet core: minutes, not seconds.
t.setTimeout(20 * 60_000)

function stateDir(t: { teardown: (fn: () => void) => void }): string {
  // tmpfs when there is one: 100,000 durable writes are about the ids, not the disk.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nvlb-ids-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function send(engine: Engine, frame: Buffer): { verdict: number; out: Buffer | null } {
  const buf = Buffer.alloc(HEADROOM + frame.length + 64)
  buf.set(frame, HEADROOM)
  const verdict = engine.process(buf, HEADROOM, frame.length)
  engine.extra.clear()
  return { verdict, out: verdict === Verdict.TX ? Buffer.from(buf.subarray(engine.outOffset, engine.outOffset + engine.outLength)) : null }
}

/** Where a forwarded frame went: backend address, port and (full NAT) source port. */
function target(out: Buffer | null): string {
  const inner = parseFrame(out!)!.inner!
  return `${inner.ipv4!.dst}:${inner.tcp!.dstPort} from ${inner.ipv4!.src}:${inner.tcp!.srcPort}`
}

t.test(`${CYCLES} create/delete cycles of VIPs and backends through the control plane`, async (t) => {
  const base = referenceConfig()
  // A small Maglev table keeps 100,000 pool builds quick; the ids are what is tested.
  base.node.maglevTableSize = 251
  const engine = new Engine({ maxFlows: 4096 })
  const compiler = new Compiler()
  let now = 1000
  const plane = await ControlPlane.open<Snapshot>({
    stateDir: stateDir(t),
    logger: pino({ level: 'silent' }),
    compile: (config, generation) => compiler.compile(config, generation, undefined, engine.counters.values[G_SWEPT_EPOCH]),
    initialConfig: base,
  })
  t.teardown(() => plane.close())
  plane.subscribe((snapshot) => engine.adopt(snapshot))
  engine.tick(now)

  // Flows of VIPs no cycle touches: a public VIP (dnat) and a CA VIP (full NAT).
  const kept = new Map<string, string>()
  for (let sport = 50000; sport < 50020; sport++) {
    kept.set(`public ${sport}`, target(send(engine, fromClient({ sport })).out))
    kept.set(`ca ${sport}`, target(send(engine, fromAppTier({ vsid: 5002, sport })).out))
    // The client's ACK makes them established (the rule's idle timeout, 240 s, instead of 30 s for a SYN).
    send(engine, fromClient({ sport, flags: ['ack'] }))
    send(engine, fromAppTier({ vsid: 5002, sport, flags: ['ack'] }))
  }
  const createdBefore = engine.statsReport().flowsCreated

  let failures = 0
  let cycleFlows = 0
  for (let n = 0; n < CYCLES; n++) {
    // One cycle: the previous cycle's VIP and pool go, a new VIP (new address) with a new pool comes.
    const vip = formatIPv4((100 << 24) | (64 << 16) | (n & 0xffff))
    const port = 1000 + (n >>> 16)
    await plane
      .update((draft: NvlbConfig) => {
        draft.vips = draft.vips.filter((v) => !v.name.startsWith('cycle-'))
        draft.pools = draft.pools.filter((p) => !p.name.startsWith('cycle-'))
        draft.pools.push({ name: `cycle-${n}`, backends: [{ virtualSubnetId: 5001, address: '10.1.6.22', weight: 1, state: 'active' }] })
        draft.vips.push({
          name: `cycle-${n}`,
          address: vip,
          virtualSubnetId: 0,
          natMode: 'dnat',
          rules: [{ protocol: 'tcp', frontendPort: port, backendPort: 8000 + (n % 1000), pool: `cycle-${n}`, idleTimeoutSeconds: 240, distribution: '5-tuple' }],
        })
      })
      .catch(() => failures++)
    // Some cycles carry a flow, which the sweep must remove once its VIP is gone.
    if (n % 97 === 0 && send(engine, fromClient({ sport: 20000 + (n % 40000), vip, dport: port })).verdict === Verdict.TX) cycleFlows++
    if (n % 1000 === 999) now += 1 // the clock moves, not past the kept flows' idle timeout
    engine.tick(now)
  }
  t.equal(failures, 0, 'no change was refused')
  t.ok(cycleFlows > CYCLES / 100, `${cycleFlows} flows of cycled VIPs were created (and swept)`)
  const snapshot = plane.snapshot!
  t.ok(snapshot.ruleList.length <= 16, `rule ids in use stay few (${snapshot.ruleList.length} of ${MAX_RULE_IDS})`)
  t.ok(snapshot.backendCount <= 32, `backend ids in use stay few (${snapshot.backendCount} of ${MAX_BACKEND_IDS})`)

  // The untouched VIPs' flows are the same flows: same backend, same NAT port, none re-created.
  for (let sport = 50000; sport < 50020; sport++) {
    t.equal(target(send(engine, fromClient({ sport, flags: ['ack'] })).out), kept.get(`public ${sport}`), `public flow ${sport} kept`)
    t.equal(target(send(engine, fromAppTier({ vsid: 5002, sport, flags: ['ack'] })).out), kept.get(`ca ${sport}`), `CA flow ${sport} kept`)
  }
  const stats = engine.statsReport()
  t.equal(stats.flowsCreated - createdBefore, cycleFlows, 'no kept flow was created anew')
  const bluePublic = stats.vips.find((v) => v.vip === 'blue-public')!
  t.equal(bluePublic.flowsCreated, 20, "the kept VIPs' counters are theirs alone")
  const current = stats.vips.find((v) => v.vip.startsWith('cycle-'))!
  t.ok(current.flowsCreated <= 1, "a reused id's counters start again")
})

t.test('a flow that names a removed rule never runs under the rule that gets its id', async (t) => {
  const config = referenceConfig()
  config.node.maglevTableSize = 251
  const h = new Harness(config, { maxFlows: 4096 })
  const withExtra = (name: string, address: string, backend: string): NvlbConfig => {
    const c = referenceConfig()
    c.node.maglevTableSize = 251
    c.pools.push({ name, backends: [{ virtualSubnetId: 5001, address: backend, weight: 1, state: 'active' }] })
    c.vips.push({ name, address, virtualSubnetId: 0, natMode: 'dnat', rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: name, idleTimeoutSeconds: 240, distribution: '5-tuple' }] })
    return c
  }
  h.load(withExtra('one', '203.0.113.50', '10.1.6.20'))
  const first = h.send(fromClient({ sport: 51000, vip: '203.0.113.50' }))
  t.equal(first.verdict, Verdict.TX)
  const ruleOfOne = h.engine.snapshot!.ruleList.find((r) => r?.vipName === 'one')!.id
  // 'one' goes; before the engine has swept, 'two' cannot take its ids.
  h.load(config)
  h.load(withExtra('two', '203.0.113.60', '10.1.6.23'))
  t.not(h.engine.snapshot!.ruleList.find((r) => r?.vipName === 'two')!.id, ruleOfOne, 'not reused before the sweep')
  // The sweep runs in tick(); then a later rule may take the id.
  h.load(config)
  for (let i = 0; i < 64 && h.engine.counters.values[G_SWEPT_EPOCH]! < h.engine.snapshot!.epoch; i++) h.advance(0)
  t.equal(h.engine.counters.values[G_SWEPT_EPOCH], h.engine.snapshot!.epoch, 'the sweep completed')
  h.load(withExtra('three', '203.0.113.70', '10.1.6.23'))
  t.equal(h.engine.snapshot!.ruleList.find((r) => r?.vipName === 'three')!.id, ruleOfOne, 'reused after the sweep')
  // The old flow of 'one' (same client tuple toward 'one''s address) is gone, not carried to 'three'.
  const again = h.send(fromClient({ sport: 51000, vip: '203.0.113.50', flags: ['ack'] }))
  t.same(again.drops, ['not_for_us'])
  const three = h.send(fromClient({ sport: 51000, vip: '203.0.113.70' }))
  t.equal(parseFrame(three.out[0]!.frame)!.inner!.ipv4!.dst, '10.1.6.23', "'three' balances to its own backend")
})

t.test('a compile that fails uses up no ids', async (t) => {
  const compiler = new Compiler()
  const config = referenceConfig()
  const good = compiler.compile(config, 1)
  for (let i = 0; i < 10_000; i++) {
    const bad = referenceConfig()
    bad.vips.push({ name: `bad-${i}`, address: `100.65.${i >> 8}.${i & 255}`, virtualSubnetId: 0, natMode: 'dnat', rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }, { protocol: 'tcp', frontendPort: 80, backendPort: 81, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }] })
    t.throws(() => compiler.compile(bad, 2), { code: ErrorCodes.DUPLICATE_VIP_RULE })
  }
  const after = compiler.compile(config, 2)
  t.equal(after.ruleList.length, good.ruleList.length, 'the same ids as before the rejected documents')
  t.equal(after.backendCount, good.backendCount)
})
