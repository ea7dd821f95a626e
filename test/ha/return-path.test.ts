/**
 * The shared return path in one process (docs/ha.md, "The return path"): two engines with the same
 * configuration and their own `node`, as two instances. A public dnat reply that reaches the
 * instance which never saw its connection is translated without a flow; a client's mid-flow packet
 * there picks the backend the other instance picked; NVGRE to the shared PA is accepted; replies
 * that are not public dnat replies are not translated; ambiguous configurations are refused.
 */
import t from 'tap'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { Side, Verdict } from '../../lib/dataplane/engine'
import { Compiler } from '../../lib/control/compiler'
import type { NvlbConfig } from '../../lib/control/config-types'
import { NvlbError } from '../../lib/errors'
import { validateConfig } from '../../lib/control/config-validate'
import { fromClient, Harness, MAC, referenceConfig } from '../helpers/engine-harness'

const SHARED_PA = '192.168.7.1'
const ROUTER_MAC = '02:00:c0:a8:06:01'

function instance(i: 1 | 2): NvlbConfig {
  const config = referenceConfig()
  config.node = {
    ...config.node,
    ...(i === 2 ? { providerAddress: '192.168.6.3', providerMac: '02:00:c0:a8:06:03', externalAddress: '192.0.2.6', externalMac: '02:00:c0:00:02:06', probeAddress: '198.18.0.2' } : {}),
    sharedProviderAddress: SHARED_PA,
  }
  return config
}

const PROVIDER_MAC = { 1: MAC.provider, 2: '02:00:c0:a8:06:03' } as const
const EXTERNAL_MAC = { 1: MAC.external, 2: '02:00:c0:00:02:06' } as const

/** The backend's answer to what instance 1 sent it, as the router delivers it to instance `to` (outer destination: the shared PA). */
function replyVia(sent: Buffer, to: 1 | 2, opts: { flags?: ('syn' | 'ack' | 'psh' | 'fin')[]; dst?: string; vsid?: number; outerSrc?: string; outerDst?: string; payload?: string } = {}): Buffer {
  const f = parseFrame(sent)!
  const inner = f.inner!
  return buildFrame({
    eth: { src: ROUTER_MAC, dst: PROVIDER_MAC[to] },
    ipv4: { src: opts.outerSrc ?? f.ipv4!.dst, dst: opts.outerDst ?? SHARED_PA, ttl: 63 },
    nvgre: {
      vsid: opts.vsid ?? f.gre!.vsid,
      inner: {
        eth: { src: inner.eth.dst, dst: MAC.gateway },
        ipv4: { src: inner.ipv4!.dst, dst: opts.dst ?? inner.ipv4!.src, df: true },
        tcp: { srcPort: inner.tcp!.dstPort, dstPort: inner.tcp!.srcPort, seq: 9000, ack: inner.tcp!.seq + 1, flags: opts.flags ?? ['syn', 'ack'] },
        ...(opts.payload === undefined ? {} : { payload: opts.payload }),
      },
    },
  })
}

function clientTo(i: 1 | 2, sport: number, flags: ('syn' | 'ack' | 'psh')[] = ['syn'], payload?: string): Buffer {
  const frame = fromClient({ sport, flags, ...(payload === undefined ? {} : { payload }), srcMac: ROUTER_MAC })
  // to this instance's external MAC
  Buffer.from(EXTERNAL_MAC[i].split(':').map((b) => parseInt(b, 16))).copy(frame, 0)
  return frame
}

t.test('a reply that reaches the other instance is translated without a flow', async (t) => {
  const a = new Harness(instance(1))
  const b = new Harness(instance(2))
  const syn = a.send(clientTo(1, 40001))
  t.equal(syn.verdict, Verdict.TX, syn.drops.join(','))
  const toBackend = syn.out[0]!.frame

  // b has seen no client-side frame yet: it has no next hop to send a reply to.
  const early = b.send(replyVia(toBackend, 2))
  t.same(early.drops, ['no_flow'], 'without any client-side next hop the reply is not translated')

  // b carries a flow of its own (ECMP), so it knows the client-side next hop (the router).
  t.equal(b.send(clientTo(2, 40002)).verdict, Verdict.TX)
  const r = b.send(replyVia(toBackend, 2, { flags: ['ack', 'psh'], payload: 'HTTP/1.1 200 OK\r\n\r\nblue-vm' }))
  t.equal(r.verdict, Verdict.TX, r.drops.join(','))
  t.equal(r.out[0]!.side, Side.EXTERNAL)
  const f = parseFrame(r.out[0]!.frame)!
  t.equal(f.eth.dst, ROUTER_MAC, 'toward the client-side next hop')
  t.equal(f.eth.src, EXTERNAL_MAC[2])
  t.equal(f.ipv4!.src, '203.0.113.10', 'from the Blue VIP')
  t.equal(f.ipv4!.dst, '198.51.100.10')
  t.equal(f.tcp!.srcPort, 80)
  t.equal(f.tcp!.dstPort, 40001)
  t.ok(f.ipv4!.checksumValid, 'IP checksum')
  t.equal(f.tcp!.checksumValid, true, 'TCP checksum')
  t.equal(b.engine.statsReport().repliesWithoutFlow, 1, 'counted as a reply without a flow')
  t.equal(b.engine.statsReport().flowsCreated, 1, 'and no flow made for it')
})

t.test("a client's mid-flow packet at the other instance goes to the same backend", async (t) => {
  const a = new Harness(instance(1))
  const b = new Harness(instance(2))
  let checked = 0
  for (let sport = 41000; sport < 41064; sport++) {
    const first = parseFrame(a.send(clientTo(1, sport)).out[0]!.frame)!
    const later = b.send(clientTo(2, sport, ['ack', 'psh'], 'GET / HTTP/1.1\r\n\r\n'))
    t.equal(later.verdict, Verdict.TX, later.drops.join(','))
    const f = parseFrame(later.out[0]!.frame)!
    if (f.inner!.ipv4!.dst !== first.inner!.ipv4!.dst || f.ipv4!.dst !== first.ipv4!.dst) t.fail(`port ${sport}: ${f.inner!.ipv4!.dst} instead of ${first.inner!.ipv4!.dst}`)
    else checked++
  }
  t.equal(checked, 64, 'every one of 64 connections picked the same backend on both instances')
  t.equal(b.engine.statsReport().flowsCreated, 64, 'the second instance tracks them from then on')
})

t.test('NVGRE to the shared PA is accepted only where it is configured', async (t) => {
  const a = new Harness(instance(1))
  const toBackend = a.send(clientTo(1, 42000)).out[0]!.frame
  t.equal(a.send(replyVia(toBackend, 1)).verdict, Verdict.TX, 'own flow, reply addressed to the shared PA')
  const plain = referenceConfig()
  const c = new Harness(plain)
  const t2 = c.send(fromClient({ sport: 42000 })).out[0]!.frame
  const r = c.send(replyVia(t2, 1))
  t.equal(r.verdict, Verdict.DROP, 'without node.sharedProviderAddress the shared PA is not ours')
  t.equal(c.send(replyVia(t2, 1, { outerDst: '192.168.6.2' })).verdict, Verdict.TX, 'its own PA is')
})

t.test('what is not a public dnat reply is not translated without a flow', async (t) => {
  const a = new Harness(instance(1))
  const b = new Harness(instance(2))
  const toBackend = a.send(clientTo(1, 43000)).out[0]!.frame
  b.send(clientTo(2, 43001))
  t.same(b.send(replyVia(toBackend, 2, { outerSrc: '192.168.6.7' })).drops, ['spoofed_provider_address'], 'from another host than the backend record names')
  t.same(b.send(replyVia(toBackend, 2, { dst: '10.1.6.1' })).drops, ['no_flow'], 'to a tenant address (one with a lookup record: the gateway CA)')
  t.same(b.send(replyVia(toBackend, 2, { dst: '10.1.5.100', vsid: 5002 })).drops, ['no_flow'], 'a full-NAT reply (to the CA VIP, in its VSID)')
  t.same(b.send(replyVia(toBackend, 2, { dst: '192.0.2.6' })).drops, ['no_flow'], "to the instance's external address (a hairpin reply)")
  // The backend disabled: its flows end, and so do its flowless replies.
  const config = instance(2)
  const dip = parseFrame(toBackend)!.inner!.ipv4!.dst
  const vsid = parseFrame(toBackend)!.gre!.vsid
  config.pools.find((p) => p.name === 'blue-web')!.backends.find((m) => m.address === dip && m.virtualSubnetId === vsid)!.state = 'disabled'
  b.load(config)
  t.same(b.send(replyVia(toBackend, 2)).drops, ['no_flow'], 'from a disabled backend')
  t.equal(b.engine.statsReport().repliesWithoutFlow, 0)
})

t.test('a backend behind two public dnat rules with one backend port is refused with a shared PA', async (t) => {
  t.doesNotThrow(() => new Compiler().compile(instance(1), 1), 'the reference configuration (Blue and Red) compiles')
  const twice = (config: NvlbConfig): NvlbConfig => {
    config.vips.push({ ...structuredClone(config.vips[0]!), name: 'blue-public-2', address: '203.0.113.11' })
    return config
  }
  const config = twice(instance(1))
  const err = (() => {
    try {
      new Compiler().compile(config, 1)
      return undefined
    } catch (e) {
      return e as NvlbError
    }
  })()
  t.ok(err instanceof NvlbError, 'refused')
  t.equal(err?.field, `vips[${config.vips.length - 1}].rules[0].pool`, 'naming the second rule')
  t.match(err?.message ?? '', /5001\/10\.1\.6\.20:80.*vips\[0\]\.rules\[0\] \(203\.0\.113\.10:80\)/, 'the backend and the rule it already serves')
  // Another backend port, or full NAT, is unambiguous.
  config.vips[config.vips.length - 1]!.rules[0]!.backendPort = 8080
  t.doesNotThrow(() => new Compiler().compile(config, 1), 'another backend port')
  const fullnat = twice(instance(1))
  fullnat.vips[fullnat.vips.length - 1]!.natMode = 'fullnat'
  t.doesNotThrow(() => new Compiler().compile(fullnat, 1), 'full NAT')

  // One instance (no shared PA) keeps accepting it; the shared backends' replies then need their flow.
  const single = twice(referenceConfig())
  const h = new Harness(single)
  const other = new Harness(single)
  other.send(fromClient({ sport: 45001, srcMac: ROUTER_MAC }))
  const sent = h.send(fromClient({ sport: 45000 })).out[0]!.frame
  t.same(other.send(replyVia(sent, 1, { outerDst: '192.168.6.2' })).drops, ['no_flow'], 'without a shared PA the configuration is valid; an ambiguous backend is not translated without a flow')
  const plain = referenceConfig()
  const p1 = new Harness(plain)
  const p2 = new Harness(plain)
  p2.send(fromClient({ sport: 45001, srcMac: ROUTER_MAC }))
  const s1 = p1.send(fromClient({ sport: 45000 })).out[0]!.frame
  t.equal(p2.send(replyVia(s1, 1, { outerDst: '192.168.6.2' })).verdict, Verdict.TX, 'an unambiguous one is (a single instance restarted, say)')
})

t.test("a record of the probe address is accepted on the instance's own PA only", async (t) => {
  const own = instance(2)
  own.lookupRecords.push({ customerAddress: '198.18.0.2', virtualSubnetId: 5001, providerAddress: '192.168.6.3', macAddress: MAC.gateway, customerId: 'blue', rule: 'TranslationMethodEncap' })
  t.doesNotThrow(() => validateConfig(own), 'on its own PA: how probe answers reach the instance that probed')
  const other = instance(1)
  other.lookupRecords.push({ customerAddress: '198.18.0.1', virtualSubnetId: 5001, providerAddress: '192.168.6.3', macAddress: MAC.gateway, customerId: 'blue', rule: 'TranslationMethodEncap' })
  t.throws(() => validateConfig(other), /node\.probeAddress|tenant address/, 'on another PA: refused as before')
})
