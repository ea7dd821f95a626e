/**
 * The fuzzer, bounded for CI: every target (Engine.process and each lib/packet decode) for a
 * fixed number of inputs from a fixed seed, no finding allowed. Longer runs: npm run fuzz --
 * --minutes N. Also: the invariants the fuzzer checks do catch what they are meant to catch.
 */
import t from 'tap'
import { buildFrame } from '../lib/packet/frame'
import { Invariants } from '../fuzz/invariants'
import { makeTargets, runAll } from '../fuzz/run'
import { MAC, referenceConfig } from './helpers/engine-harness'

const ENGINE_INPUTS = 30000
const CODEC_INPUTS = 4000

t.test('bounded fuzzing run: no finding on any target', async (t) => {
  const targets = makeTargets()
  const reports = runAll(targets, { engineIterations: ENGINE_INPUTS, codecIterations: CODEC_INPUTS }, { seed: 20261201 })
  t.equal(reports.length, 10, 'engine and nine codec targets')
  for (const r of reports) {
    const text = r.findings.map((f) => `${f.finding.kind}: ${f.finding.detail}\n${f.input === null ? '' : targets.find((x) => x.name === r.target)!.describe(f.input)}`).join('\n')
    t.same(r.findings.length, 0, `${r.target}: ${r.executions} inputs, ${r.units} frames/decodes, coverage ${r.covered}/${r.sites}${text === '' ? '' : `\n${text}`}`)
  }
  const engine = reports.find((r) => r.target === 'engine')!
  t.ok(engine.units > ENGINE_INPUTS, 'the engine ran more frames than inputs (inputs are frame sequences)')
  t.ok(engine.covered / engine.sites > 0.6, `the engine run reached ${engine.covered} of ${engine.sites} lib/dataplane coverage sites (coverage feedback works)`)
  t.ok(engine.corpus > 100, `corpus grew to ${engine.corpus}`)
})

t.test('the invariants catch cross-tenant output, oversized output, bad checksums and leaked addresses', async (t) => {
  const inv = new Invariants(referenceConfig())
  const redClient = buildFrame({ eth: { src: MAC.client, dst: MAC.external }, ipv4: { src: '198.51.100.10', dst: '203.0.113.20' }, tcp: { srcPort: 1000, dstPort: 80, flags: ['syn'] } })
  const toBlue = (opts: { payload?: number; checksum?: number; vsid?: number; host?: string } = {}): Buffer =>
    buildFrame({
      eth: { src: MAC.provider, dst: '02:00:c0:a8:06:04' },
      ipv4: { src: '192.168.6.2', dst: opts.host ?? '192.168.6.4', ...(opts.checksum === undefined ? {} : { checksum: opts.checksum }) },
      nvgre: {
        vsid: opts.vsid ?? 5001,
        inner: {
          eth: { src: MAC.gateway, dst: '00:15:5d:01:06:21' },
          ipv4: { src: '198.51.100.10', dst: '10.1.6.21' },
          tcp: { srcPort: 1000, dstPort: 80, flags: ['syn'] },
          ...(opts.payload === undefined ? {} : { payload: Buffer.alloc(opts.payload) }),
        },
      },
    })
  const blueCtx = inv.context(buildFrame({ eth: { src: MAC.client, dst: MAC.external }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, tcp: { srcPort: 1000, dstPort: 80, flags: ['syn'] } }))
  t.equal(inv.check(blueCtx, toBlue(), 0), null, 'a Blue client to a Blue backend: fine')
  t.equal(inv.check(inv.context(redClient), toBlue(), 0)?.kind, 'cross_tenant', 'a Red client to a Blue backend')
  t.equal(inv.check(blueCtx, toBlue({ payload: 1500 }), 0)?.kind, 'mtu', 'above providerMtu')
  t.equal(inv.check(blueCtx, toBlue({ checksum: 0x1234 }), 0)?.kind, 'ip_checksum', 'wrong outer checksum')
  t.equal(inv.check(blueCtx, toBlue({ host: '192.168.6.5' }), 0)?.kind, 'wrong_host', 'to a host the record does not name')
  t.equal(inv.check(blueCtx, toBlue(), 1)?.kind, 'side', 'NVGRE on the external side')
  const leak = buildFrame({ eth: { src: MAC.external, dst: MAC.client }, ipv4: { src: '10.1.6.21', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 1000, flags: ['syn', 'ack'] } })
  t.equal(inv.check(blueCtx, leak, 1)?.kind, 'tenant_address_leak', 'a CA as source on the external side')
  const badTcp = buildFrame({ eth: { src: MAC.external, dst: MAC.client }, ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 1000, flags: ['ack'], checksum: 0x1111 } })
  t.equal(inv.check(blueCtx, badTcp, 1)?.kind, 'l4_checksum', 'a TCP checksum valid on input, wrong on output')
  // Hairpin: a Red VM (VSID 6002) to the Blue public VIP may reach Blue, from nvlb's external address only.
  const redVmTo = (dst: string) =>
    buildFrame({
      eth: { src: MAC.host4, dst: MAC.provider },
      ipv4: { src: '192.168.6.7', dst: '192.168.6.2' },
      nvgre: { vsid: 6002, inner: { eth: { src: '00:15:5d:01:05:20', dst: MAC.gateway }, ipv4: { src: '10.1.5.20', dst }, tcp: { srcPort: 1000, dstPort: 80, flags: ['syn'] } } },
    })
  const hairpinned = (src: string): Buffer =>
    buildFrame({
      eth: { src: MAC.provider, dst: '02:00:c0:a8:06:04' },
      ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
      nvgre: { vsid: 5001, inner: { eth: { src: MAC.gateway, dst: '00:15:5d:01:06:21' }, ipv4: { src, dst: '10.1.6.21' }, tcp: { srcPort: 1024, dstPort: 80, flags: ['syn'] } } },
    })
  t.equal(inv.check(inv.context(redVmTo('203.0.113.10')), hairpinned('198.51.100.1'), 0), null, "a Red VM's hairpin to the Blue public VIP, from the external address")
  t.equal(inv.check(inv.context(redVmTo('203.0.113.10')), hairpinned('10.1.5.20'), 0)?.kind, 'cross_tenant', "a Red VM's CA into Blue")
  t.equal(inv.check(inv.context(redVmTo('10.1.5.100')), hairpinned('198.51.100.1'), 0)?.kind, 'cross_tenant', "a Red VM's CA VIP request into Blue")
})
