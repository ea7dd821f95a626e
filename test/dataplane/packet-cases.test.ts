/**
 * The packet case table (katran style): {description, input, verdict, output}.
 * Every drop reason of lib/dataplane/drop-reasons.ts has at least one case;
 * the last test checks that.
 */
import t, { type Test } from 'tap'
import { buildFrame, parseFrame, type FrameSpec } from '../../lib/packet/frame'
import { HEADROOM, Side, Verdict } from '../../lib/dataplane/engine'
import { DROP_REASON_NAMES } from '../../lib/dataplane/drop-reasons'
import { TCP_FLAG_RST } from '../../lib/packet/tcp'
import type { NvlbConfig } from '../../lib/control/config-types'
import { Harness, MAC, fromAppTier, fromClient, referenceConfig, replyTo, type Result } from '../helpers/engine-harness'

interface Case {
  description: string
  /** Frames sent first (to set up flows); their results are not checked. */
  setup?: (h: Harness) => void
  input: (h: Harness) => Buffer
  verdict: number
  /** The drop reasons counted for the input, in order. */
  drops?: string[]
  /** Checks on what was emitted. */
  output?: (t: Test, r: Result) => void
  config?: () => NvlbConfig
  /** Transmit queue slots, when not the default. */
  extraSlots?: number
  /** The interface the input arrives on (default: one interface for both sides). */
  side?: number
  /** Run the input through an engine that has adopted no snapshot. */
  unconfigured?: boolean
}

const VM11 = { eth: { src: '00:15:5d:01:05:20', dst: MAC.gateway }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100' }, tcp: { srcPort: 33001, dstPort: 80, flags: ['syn'] as 'syn'[] } }

function nvgre(inner: FrameSpec, overrides: { vsid?: number; flagsVersion?: number; protocol?: number; outer?: Partial<FrameSpec['ipv4'] & object> } = {}): Buffer {
  return buildFrame({
    eth: { src: MAC.host4, dst: MAC.provider },
    ipv4: { src: '192.168.6.7', dst: '192.168.6.2', ...(overrides.outer ?? {}) },
    nvgre: { vsid: overrides.vsid ?? 5002, inner, ...(overrides.flagsVersion === undefined ? {} : { flagsVersion: overrides.flagsVersion }), ...(overrides.protocol === undefined ? {} : { protocol: overrides.protocol }) },
  })
}

function withConfig(edit: (c: NvlbConfig) => void): () => NvlbConfig {
  return () => {
    const c = referenceConfig()
    edit(c)
    return c
  }
}

/** The same NVGRE frame sent from another outer source PA (outer checksum recomputed). */
function withOuterSource(frame: Buffer, pa: string): Buffer {
  const f = Buffer.from(frame)
  const ip = 14
  pa.split('.').forEach((octet, i) => (f[ip + 12 + i] = Number(octet)))
  f.writeUInt16BE(0, ip + 10)
  let sum = 0
  for (let i = 0; i < 20; i += 2) sum += f.readUInt16BE(ip + i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  f.writeUInt16BE(~sum & 0xffff, ip + 10)
  return f
}

/** The frame nvlb sent toward a backend for a client SYN (public VIP). */
function sentToBackend(h: Harness, sport: number): Buffer {
  return h.send(fromClient({ sport })).out[0]!.frame
}

/**
 * A public (or, with `vsid`, CA VIP) connection through its handshake: client
 * ISN 1000 (500 for the app tier), backend ISN 9000. Returns the SYN as nvlb
 * sent it to the backend (for replyTo).
 */
function established(h: Harness, sport: number, vsid?: number): Buffer {
  const client = (flags: ('syn' | 'ack')[], seq: number, ack?: number) =>
    vsid === undefined ? fromClient({ sport, flags, seq, ...(ack === undefined ? {} : { ack }) }) : fromAppTier({ vsid, sport, flags, seq, ...(ack === undefined ? {} : { ack }) })
  const isn = vsid === undefined ? 1000 : 500
  const syn = h.send(client(['syn'], isn)).out[0]!.frame
  h.send(replyTo(syn, vsid === undefined ? {} : { vsid }))
  h.send(client(['ack'], isn + 1, 9001))
  return syn
}

const cases: Case[] = [
  // ------------------------------------------------------------ forwarded
  {
    description: 'ARP request for a public VIP is answered with the external MAC',
    input: () => buildFrame({ eth: { src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: MAC.client, senderIp: '198.51.100.10', targetIp: '203.0.113.20' } }),
    verdict: Verdict.TX,
    output: (t, r) => {
      const f = parseFrame(r.out[0]!.frame)!
      t.equal(r.out[0]!.side, Side.EXTERNAL)
      t.equal(f.eth.dst, MAC.client)
      t.equal(f.arp!.opName, 'reply')
      t.equal(f.arp!.senderMac, MAC.external)
      t.equal(f.arp!.senderIp, '203.0.113.20')
      t.equal(f.arp!.targetIp, '198.51.100.10')
    },
  },
  {
    description: "ARP request for nvlb's PA is answered with the provider MAC",
    input: () => buildFrame({ eth: { src: MAC.host4, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: MAC.host4, senderIp: '192.168.6.7', targetIp: '192.168.6.2' } }),
    verdict: Verdict.TX,
    output: (t, r) => {
      t.equal(r.out[0]!.side, Side.PROVIDER)
      t.equal(parseFrame(r.out[0]!.frame)!.arp!.senderMac, MAC.provider)
    },
  },
  {
    description: 'a tagged outer frame is accepted',
    input: () => buildFrame({ eth: { src: MAC.client, dst: MAC.external, vlan: 100 }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, tcp: { srcPort: 41000, dstPort: 80, flags: ['syn'] } }),
    verdict: Verdict.TX,
    output: (t, r) => t.equal(parseFrame(r.out[0]!.frame)!.gre!.protocol, 0x6558),
  },
  {
    description: 'SYN with MSS 1460 is clamped to providerMtu − 82 when mssClamp is on',
    config: withConfig((c) => (c.node.mssClamp = true)),
    input: () => fromClient({ sport: 41001, mss: 1460 }),
    verdict: Verdict.TX,
    output: (t, r) => {
      const f = parseFrame(r.out[0]!.frame)!
      t.equal(f.inner!.tcp!.mss, 1418)
      t.equal(f.inner!.tcp!.checksumValid, true)
    },
  },
  {
    description: 'DF clear and too big after encapsulation: fragmented, then each fragment encapsulated',
    input: () => fromClient({ sport: 41002, df: false, flags: ['ack'], payload: 'y'.repeat(1460) }),
    verdict: Verdict.CONSUMED,
    output: (t, r) => {
      t.equal(r.out.length, 2)
      for (const o of r.out) {
        const f = parseFrame(o.frame)!
        t.ok(f.ipv4!.totalLength <= 1500, 'fits the provider MTU')
        t.equal(f.gre!.vsid >= 4096, true)
        t.ok(f.inner!.ipv4!.checksumValid)
      }
      const first = parseFrame(r.out[0]!.frame)!.inner!.ipv4!
      const second = parseFrame(r.out[1]!.frame)!.inner!.ipv4!
      t.equal(first.mf, true)
      t.equal(second.mf, false)
      t.equal(second.fragmentOffset * 8, first.totalLength - first.headerLength)
      t.equal(first.totalLength - 20 + second.totalLength - 20, 20 + 1460)
    },
  },
  // ------------------------------------------------------------ dropped
  { description: 'no configuration adopted', unconfigured: true, input: () => fromClient({ sport: 1 }), verdict: Verdict.DROP, drops: ['no_configuration'] },
  { description: 'frame shorter than an Ethernet header', input: () => Buffer.alloc(10), verdict: Verdict.DROP, drops: ['truncated'] },
  {
    description: 'two 802.1Q tags',
    input: () => Buffer.from('02000000000102000000000281000064810000c8080045000014000000004000000000000000000000', 'hex'),
    verdict: Verdict.DROP,
    drops: ['vlan_double_tagged'],
  },
  { description: 'IPv6', input: () => buildFrame({ eth: { src: MAC.client, dst: MAC.external, ethertype: 0x86dd }, payload: Buffer.alloc(40) }), verdict: Verdict.DROP, drops: ['not_ipv4'] },
  {
    description: 'IPv4 ethertype carrying version 6',
    input: () => {
      const f = fromClient({ sport: 2 })
      f[14] = 0x65
      return f
    },
    verdict: Verdict.DROP,
    drops: ['bad_ip_header'],
  },
  { description: 'outer IPv4 checksum wrong', input: () => nvgre(VM11, { outer: { checksum: 0x1234 } }), verdict: Verdict.DROP, drops: ['bad_ip_checksum'] },
  { description: 'outer IPv4 fragment', input: () => nvgre(VM11, { outer: { mf: true } }), verdict: Verdict.DROP, drops: ['outer_fragment'] },
  {
    description: 'GRE header cut short',
    input: () => buildFrame({ eth: { src: MAC.host4, dst: MAC.provider }, ipv4: { src: '192.168.6.7', dst: '192.168.6.2', protocol: 47 }, payload: Buffer.from([0x20, 0x00, 0x65, 0x58]) }),
    verdict: Verdict.DROP,
    drops: ['gre_truncated'],
  },
  { description: 'GRE C bit set', input: () => nvgre(VM11, { flagsVersion: 0xa000 }), verdict: Verdict.DROP, drops: ['gre_checksum_present'] },
  { description: 'GRE S bit set', input: () => nvgre(VM11, { flagsVersion: 0x3000 }), verdict: Verdict.DROP, drops: ['gre_sequence_present'] },
  { description: 'GRE K bit clear', input: () => nvgre(VM11, { flagsVersion: 0x0000 }), verdict: Verdict.DROP, drops: ['gre_key_absent'] },
  { description: 'GRE version 1', input: () => nvgre(VM11, { flagsVersion: 0x2001 }), verdict: Verdict.DROP, drops: ['gre_bad_version'] },
  { description: 'GRE protocol IPv4 instead of 0x6558', input: () => nvgre(VM11, { protocol: 0x0800 }), verdict: Verdict.DROP, drops: ['gre_bad_protocol'] },
  { description: 'VSID below 4096', input: () => nvgre(VM11, { vsid: 100 }), verdict: Verdict.DROP, drops: ['vsid_out_of_range'] },
  { description: 'VSID 0xFFFFFF', input: () => nvgre(VM11, { vsid: 0xffffff }), verdict: Verdict.DROP, drops: ['vsid_out_of_range'] },
  { description: 'tagged inner frame', input: () => nvgre({ ...VM11, eth: { ...VM11.eth, vlan: 5 } }), verdict: Verdict.DROP, drops: ['inner_tagged'] },
  {
    description: 'inner ARP',
    input: () => nvgre({ eth: { src: '00:15:5d:01:05:20', dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: '00:15:5d:01:05:20', senderIp: '10.1.5.20', targetIp: '10.1.5.1' } }),
    verdict: Verdict.DROP,
    drops: ['inner_not_ipv4'],
  },
  { description: 'a VSID no record or route defines', input: () => nvgre(VM11, { vsid: 7777 }), verdict: Verdict.DROP, drops: ['unknown_vsid'] },
  { description: 'public VIP, port without a rule', input: () => fromClient({ sport: 3, dport: 443 }), verdict: Verdict.DROP, drops: ['no_vip_rule'] },
  { description: 'UDP to a TCP-only public VIP', input: () => fromClient({ sport: 3, udp: true }), verdict: Verdict.DROP, drops: ['no_vip_rule'] },
  { description: 'an address that is no VIP', input: () => fromClient({ sport: 4, vip: '198.51.100.99' }), verdict: Verdict.DROP, drops: ['not_for_us'] },
  {
    description: 'every backend of the pool draining',
    config: withConfig((c) => c.pools.find((p) => p.name === 'blue-web')!.backends.forEach((b) => (b.state = 'draining'))),
    input: () => fromClient({ sport: 5 }),
    verdict: Verdict.DROP,
    drops: ['no_backend'],
  },
  {
    description: 'a backend reply with no flow',
    input: () => replyTo(sentToBackend(new Harness(), 6)),
    verdict: Verdict.DROP,
    drops: ['no_flow'],
  },
  {
    description: "a reply from another routing domain's VSID",
    input: (h) => replyTo(h.send(fromAppTier({ vsid: 5002, sport: 6001 })).out[0]!.frame, { vsid: 6001 }),
    verdict: Verdict.DROP,
    drops: ['wrong_routing_domain'],
  },
  {
    description: "CA VIP client whose lookup record went away after its SYN: the reply cannot be delivered",
    input: (h) => {
      const sent = h.send(fromAppTier({ vsid: 5002, sport: 6002 })).out[0]!.frame
      const c = referenceConfig()
      c.lookupRecords = c.lookupRecords.filter((r) => !(r.customerAddress === '10.1.5.20' && r.virtualSubnetId === 5002))
      h.load(c)
      return replyTo(sent, { vsid: 5002 })
    },
    verdict: Verdict.DROP,
    drops: ['no_lookup_record'],
  },
  // ------------------------------------------------------------ interfaces and MACs
  { description: 'NVGRE arriving on the external interface', side: Side.EXTERNAL, input: () => fromAppTier({ vsid: 5002, sport: 6101 }), verdict: Verdict.DROP, drops: ['wrong_interface'] },
  { description: 'plain IP to a public VIP arriving on the provider interface', side: Side.PROVIDER, input: () => fromClient({ sport: 6102 }), verdict: Verdict.DROP, drops: ['wrong_interface'] },
  {
    description: "ARP for nvlb's PA arriving on the external interface",
    side: Side.EXTERNAL,
    input: () => buildFrame({ eth: { src: MAC.host4, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: MAC.host4, senderIp: '192.168.6.7', targetIp: '192.168.6.2' } }),
    verdict: Verdict.DROP,
    drops: ['wrong_interface'],
  },
  { description: 'each side on its own interface: NVGRE on the provider one is forwarded', side: Side.PROVIDER, input: () => fromAppTier({ vsid: 5002, sport: 6103 }), verdict: Verdict.TX },
  { description: 'each side on its own interface: a client on the external one is forwarded', side: Side.EXTERNAL, input: () => fromClient({ sport: 6104 }), verdict: Verdict.TX },
  {
    description: "a frame to a MAC that is not nvlb's (promiscuous socket) is ignored",
    input: () => buildFrame({ eth: { src: MAC.client, dst: '02:00:00:00:99:99' }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, tcp: { srcPort: 6105, dstPort: 80, flags: ['syn'] } }),
    verdict: Verdict.DROP,
    drops: ['not_our_mac'],
  },
  {
    description: "NVGRE to another MAC than nvlb's provider MAC is ignored",
    input: () => buildFrame({ eth: { src: MAC.host4, dst: '02:00:c0:a8:06:05' }, ipv4: { src: '192.168.6.7', dst: '192.168.6.2' }, nvgre: { vsid: 5002, inner: VM11 } }),
    verdict: Verdict.DROP,
    drops: ['not_our_mac'],
  },
  {
    description: "unicast ARP to another MAC than nvlb's is ignored",
    input: () => buildFrame({ eth: { src: MAC.host4, dst: '02:00:c0:a8:06:05' }, arp: { op: 'request', senderMac: MAC.host4, senderIp: '192.168.6.7', targetIp: '192.168.6.2' } }),
    verdict: Verdict.DROP,
    drops: ['not_our_mac'],
  },
  {
    description: 'a client frame from source MAC 00:00:00:00:00:00 is dropped (its replies would go to that MAC)',
    input: () => fromClient({ sport: 6107, srcMac: '00:00:00:00:00:00' }),
    verdict: Verdict.DROP,
    drops: ['bad_source_mac'],
    output: (t, r) => t.equal(r.out.length, 0, 'nothing sent, no flow'),
  },
  {
    description: 'a client frame from a group (multicast or broadcast) source MAC is dropped',
    input: () => fromClient({ sport: 6108, srcMac: '01:00:5e:00:00:01' }),
    verdict: Verdict.DROP,
    drops: ['bad_source_mac'],
  },
  {
    description: 'NVGRE from source MAC 00:00:00:00:00:00 is dropped (the host would be learnt at that MAC)',
    input: () => buildFrame({ eth: { src: '00:00:00:00:00:00', dst: MAC.provider }, ipv4: { src: '192.168.6.7', dst: '192.168.6.2' }, nvgre: { vsid: 5002, inner: VM11 } }),
    verdict: Verdict.DROP,
    drops: ['bad_source_mac'],
  },
  {
    description: 'broadcast ARP from a group source MAC is dropped',
    input: () => buildFrame({ eth: { src: 'ff:ff:ff:ff:ff:ff', dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: MAC.host4, senderIp: '192.168.6.7', targetIp: '192.168.6.2' } }),
    verdict: Verdict.DROP,
    drops: ['bad_source_mac'],
  },
  {
    description: 'a broadcast IPv4 frame is ignored (broadcast is for ARP only)',
    input: () => buildFrame({ eth: { src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, tcp: { srcPort: 6106, dstPort: 80, flags: ['syn'] } }),
    verdict: Verdict.DROP,
    drops: ['not_our_mac'],
  },
  {
    description: "nvlb's fragmentation-needed errors are rate-limited per source (burst 20, then dropped)",
    setup: (h) => {
      for (let i = 0; i < 20; i++) h.send(fromClient({ sport: 9, df: true, flags: ['ack'], payload: 'z'.repeat(1460) }))
    },
    input: () => fromClient({ sport: 9, df: true, flags: ['ack'], payload: 'z'.repeat(1460) }),
    verdict: Verdict.DROP,
    drops: ['packet_too_big', 'icmp_rate_limited'],
    output: (t, r) => t.equal(r.out.length, 0, 'no ICMP error sent'),
  },
  {
    description: "another source still gets its fragmentation-needed while one is rate-limited",
    setup: (h) => {
      for (let i = 0; i < 25; i++) h.send(fromClient({ sport: 9, df: true, flags: ['ack'], payload: 'z'.repeat(1460) }))
    },
    input: () => fromClient({ sport: 9, client: '198.51.100.11', df: true, flags: ['ack'], payload: 'z'.repeat(1460) }),
    verdict: Verdict.CONSUMED,
    drops: ['packet_too_big'],
  },
  // ------------------------------------------------------------ neighbours and client MACs
  {
    description: 'a new public flow when the client-MAC table is full is refused (never sent to 00:00:00:00:00:00)',
    setup: (h) => {
      const macs = (h.engine as unknown as { clientMacs: { intern(b: Uint8Array, o: number): number } }).clientMacs
      const m = new Uint8Array(6)
      for (let i = 1; macs.intern(m, 0) >= 0; i++) {
        m[0] = 2
        m[3] = (i >>> 16) & 0xff
        m[4] = (i >>> 8) & 0xff
        m[5] = i & 0xff
      }
    },
    input: () => fromClient({ sport: 6201, srcMac: '02:77:00:00:00:01' }),
    verdict: Verdict.DROP,
    drops: ['client_macs_full'],
  },
  {
    description: "a gratuitous ARP claiming nvlb's own PA changes nothing",
    input: () => buildFrame({ eth: { src: '02:66:66:66:66:66', dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: '02:66:66:66:66:66', senderIp: '192.168.6.2', targetIp: '192.168.6.2' } }),
    verdict: Verdict.DROP,
    drops: ['arp_ignored'],
  },
  {
    description: 'a gratuitous ARP flood claiming a static neighbour does not redirect its traffic',
    setup: (h) => {
      for (const ip of ['192.168.6.4', '192.168.6.5', '192.168.6.6']) {
        for (const op of ['request', 'reply'] as const) {
          h.send(buildFrame({ eth: { src: '02:66:66:66:66:66', dst: MAC.provider }, arp: { op, senderMac: '02:66:66:66:66:66', senderIp: ip, targetIp: '192.168.6.2' } }))
        }
      }
    },
    input: () => fromClient({ sport: 6202 }),
    verdict: Verdict.TX,
    output: (t, r) => t.not(parseFrame(r.out[0]!.frame)!.eth.dst, '02:66:66:66:66:66'),
  },
  // ------------------------------------------------------------ tenant trust: the outer source PA must be the CA's host
  {
    description: "a CA VIP request from a host that is not the client CA's (another host's PA)",
    input: () => nvgre(VM11, { outer: { src: '192.168.6.5' } }),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: 'a CA VIP request from a CA no lookup record names',
    input: () => nvgre({ ...VM11, ipv4: { src: '10.1.5.77', dst: '10.1.5.100' } }),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a CA VIP request with nvlb's own PA as the outer source",
    input: () => nvgre({ ...VM11, ipv4: { src: '10.1.5.100', dst: '10.1.5.100' } }, { outer: { src: '192.168.6.2' } }),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a host speaking for another tenant's VM (a CA of VSID 5001 put in the key of VSID 5002)",
    input: () => nvgre({ ...VM11, ipv4: { src: '10.1.6.20', dst: '10.1.5.100' } }, { outer: { src: '192.168.6.4' } }),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a hairpin request (tenant VM → public VIP) from another host's PA",
    input: () => nvgre({ ...VM11, ipv4: { src: '10.1.5.20', dst: '203.0.113.10' } }, { outer: { src: '192.168.6.5' } }),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a public VIP backend's reply from a host that is not the backend's",
    input: (h) => withOuterSource(replyTo(sentToBackend(h, 8)), '192.168.6.9'),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a CA VIP backend's reply (in the VIP's VSID) from a host that is not the backend's",
    input: (h) => withOuterSource(replyTo(h.send(fromAppTier({ vsid: 5002, sport: 6003 })).out[0]!.frame, { vsid: 5002 }), '192.168.6.7'),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a CA VIP request from a peer instance's PA (node.peerProviderAddresses) is accepted",
    config: withConfig((c) => (c.node.peerProviderAddresses = ['192.168.6.3'])),
    input: () => nvgre(VM11, { outer: { src: '192.168.6.3' } }),
    verdict: Verdict.TX,
    output: (t, r) => t.equal(parseFrame(r.out[0]!.frame)!.inner!.ipv4!.dst.startsWith('10.1.6.'), true),
  },
  {
    description: "a public VIP backend's reply from a peer instance's PA is delivered",
    config: withConfig((c) => (c.node.peerProviderAddresses = ['192.168.6.3'])),
    input: (h) => withOuterSource(replyTo(sentToBackend(h, 10)), '192.168.6.3'),
    verdict: Verdict.TX,
    output: (t, r) => t.equal(parseFrame(r.out[0]!.frame)!.ipv4!.dst, '198.51.100.10'),
  },
  {
    description: 'with peers configured, NVGRE from a PA that is neither the host nor a peer is still spoofed',
    config: withConfig((c) => (c.node.peerProviderAddresses = ['192.168.6.3'])),
    input: () => nvgre(VM11, { outer: { src: '192.168.6.9' } }),
    verdict: Verdict.DROP,
    drops: ['spoofed_provider_address'],
  },
  {
    description: "a CA VIP backend's reply in the VIP's VSID from the backend's host is delivered",
    input: (h) => replyTo(h.send(fromAppTier({ vsid: 5002, sport: 6004 })).out[0]!.frame, { vsid: 5002 }),
    verdict: Verdict.TX,
    output: (t, r) => t.equal(parseFrame(r.out[0]!.frame)!.ipv4!.dst, '192.168.6.7'),
  },
  {
    description: 'next hop of a host PA unknown: ARP request sent',
    config: withConfig((c) => (c.neighbors = [])),
    input: () => fromClient({ sport: 7 }),
    verdict: Verdict.DROP,
    drops: ['neighbor_unresolved'],
    output: (t, r) => {
      t.equal(r.out.length, 1)
      const arp = parseFrame(r.out[0]!.frame)!
      t.equal(arp.eth.dst, 'ff:ff:ff:ff:ff:ff')
      t.equal(arp.arp!.opName, 'request')
      t.equal(arp.arp!.senderIp, '192.168.6.2')
      t.ok(['192.168.6.4', '192.168.6.5', '192.168.6.6'].includes(arp.arp!.targetIp))
    },
  },
  {
    description: 'a second flow would own the same reply 5-tuple (two dnat VIPs, one backend)',
    config: withConfig((c) => {
      c.pools.push({ name: 'one', backends: [{ virtualSubnetId: 5001, address: '10.1.6.20', weight: 1, state: 'active' }] })
      for (const vip of c.vips) if (vip.virtualSubnetId === 0) vip.rules[0]!.pool = 'one'
      c.vips.find((v) => v.name === 'red-public')!.rules[0]!.pool = 'one'
    }),
    setup: (h) => void h.send(fromClient({ sport: 8, vip: '203.0.113.10' })),
    input: () => fromClient({ sport: 8, vip: '203.0.113.20' }),
    verdict: Verdict.DROP,
    drops: ['reverse_collision'],
  },
  {
    description: 'a non-first fragment of a reply nvlb knows nothing about',
    input: () => nvgre({ eth: { src: '00:15:5d:01:06:21', dst: MAC.gateway }, ipv4: { src: '10.1.6.21', dst: '198.51.100.10', fragmentOffset: 100, protocol: 6 }, payload: Buffer.alloc(40) }, { vsid: 5001 }),
    verdict: Verdict.DROP,
    drops: ['fragment_no_state'],
  },
  {
    description: 'ICMP error quoting no tracked flow',
    input: () =>
      buildFrame({
        eth: { src: MAC.client, dst: MAC.external },
        ipv4: { src: '198.51.100.10', dst: '203.0.113.10' },
        icmp: { type: 3, code: 3, quote: { ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 9999 } }, quoteLength: 28 },
      }),
    verdict: Verdict.DROP,
    drops: ['icmp_no_flow'],
  },
  {
    description: "a forged port unreachable for someone else's public flow (not from the client) is dropped",
    setup: (h) => h.send(fromClient({ sport: 9101 })),
    input: () =>
      buildFrame({
        eth: { src: MAC.client, dst: MAC.external },
        ipv4: { src: '198.51.100.66', dst: '203.0.113.10' },
        icmp: { type: 3, code: 3, quote: { ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 9101 } }, quoteLength: 28 },
      }),
    verdict: Verdict.DROP,
    drops: ['icmp_forged'],
  },
  {
    description: 'a port unreachable from the client itself is passed to the backend',
    setup: (h) => h.send(fromClient({ sport: 9102 })),
    input: () =>
      buildFrame({
        eth: { src: MAC.client, dst: MAC.external },
        ipv4: { src: '198.51.100.10', dst: '203.0.113.10' },
        icmp: { type: 3, code: 3, quote: { ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, tcp: { srcPort: 80, dstPort: 9102 } }, quoteLength: 28 },
      }),
    verdict: Verdict.TX,
  },
  {
    description: 'a RST from an Internet client 16 MiB outside the window is dropped; the flow stays',
    setup: (h) => void established(h, 9201),
    input: () => fromClient({ sport: 9201, flags: ['rst'], seq: 1001 + (1 << 24) }),
    verdict: Verdict.DROP,
    drops: ['rst_outside_window'],
  },
  {
    description: 'a RST from an Internet client within the window is passed to the backend',
    setup: (h) => void established(h, 9202),
    input: () => fromClient({ sport: 9202, flags: ['rst'], seq: 1001 + 60000 }),
    verdict: Verdict.TX,
    output: (t, r) => {
      const inner = parseFrame(r.out[0]!.frame)!.inner!
      t.equal(inner.ipv4!.src, '198.51.100.10')
      t.ok((inner.tcp!.flags & TCP_FLAG_RST) !== 0)
    },
  },
  {
    description: "a RST from a public VIP's backend outside the window is dropped",
    input: (h) => replyTo(established(h, 9203), { flags: ['rst', 'ack'], seq: 9001 - (1 << 25), ack: 1001 }),
    verdict: Verdict.DROP,
    drops: ['rst_outside_window'],
  },
  {
    description: "a RST from a public VIP's backend at its next sequence number goes to the client",
    input: (h) => replyTo(established(h, 9204), { flags: ['rst', 'ack'], seq: 9001, ack: 1001 }),
    verdict: Verdict.TX,
    output: (t, r) => {
      const f = parseFrame(r.out[0]!.frame)!
      t.equal(f.ipv4!.dst, '198.51.100.10')
      t.ok((f.tcp!.flags & TCP_FLAG_RST) !== 0)
    },
  },
  {
    description: 'a RST from a CA VIP client (full NAT) outside the window is dropped',
    setup: (h) => void established(h, 9205, 5002),
    input: () => fromAppTier({ vsid: 5002, sport: 9205, flags: ['rst'], seq: 501 + 0x40000000 }),
    verdict: Verdict.DROP,
    drops: ['rst_outside_window'],
  },
  {
    description: "a backend's RST|ACK refusing a SYN (nothing known of its sequence space) goes to the client",
    input: (h) => replyTo(sentToBackend(h, 9206), { flags: ['rst', 'ack'], seq: 0 }),
    verdict: Verdict.TX,
  },
  {
    description: 'a RST for a flow first seen mid-stream (no SYN) is passed',
    setup: (h) => h.send(fromClient({ sport: 9207, flags: ['ack'], seq: 3_000_000_000, ack: 77 })),
    input: () => fromClient({ sport: 9207, flags: ['rst'], seq: 3_000_000_000 }),
    verdict: Verdict.TX,
  },
  {
    description: 'ICMP echo request to a VIP',
    input: () => buildFrame({ eth: { src: MAC.client, dst: MAC.external }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, icmp: { type: 8, id: 1, seq: 1 } }),
    verdict: Verdict.DROP,
    drops: ['icmp_unsupported'],
  },
  {
    description: 'DF set and too big after encapsulation: ICMP fragmentation-needed with MTU 1458 back to the client',
    input: () => fromClient({ sport: 9, df: true, flags: ['ack'], payload: 'z'.repeat(1460) }),
    verdict: Verdict.CONSUMED,
    drops: ['packet_too_big'],
    output: (t, r) => {
      t.equal(r.out.length, 1)
      t.equal(r.out[0]!.side, Side.EXTERNAL)
      const f = parseFrame(r.out[0]!.frame)!
      t.equal(f.eth.dst, MAC.client)
      t.equal(f.ipv4!.src, '203.0.113.10')
      t.equal(f.ipv4!.dst, '198.51.100.10')
      t.equal(f.icmp!.type, 3)
      t.equal(f.icmp!.code, 4)
      t.equal(f.icmp!.nextHopMtu, 1458)
      t.equal(f.icmp!.checksumValid, true)
      t.equal(f.icmp!.quoted!.ipv4.dst, '203.0.113.10', 'quotes the packet as the client sent it')
    },
  },
  {
    description: 'more output frames than the transmit queue holds',
    extraSlots: 1,
    input: () => fromClient({ sport: 10, df: false, flags: ['ack'], payload: 'y'.repeat(1460) }),
    verdict: Verdict.DROP,
    drops: ['tx_queue_full'],
  },
  {
    description: 'ARP for an address nvlb does not own',
    input: () => buildFrame({ eth: { src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: MAC.client, senderIp: '198.51.100.10', targetIp: '198.51.100.77' } }),
    verdict: Verdict.DROP,
    drops: ['arp_ignored'],
  },
  {
    description: 'TCP header cut short',
    input: () => buildFrame({ eth: { src: MAC.client, dst: MAC.external }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10', protocol: 6 }, payload: Buffer.from([0, 1, 0, 80, 0, 0, 0, 0, 0, 0]) }),
    verdict: Verdict.DROP,
    drops: ['bad_l4_header'],
  },
]

// ------------------------------------------------------------ several rules on one VIP
// Any number of rules per VIP, protocol and port: CA and public VIPs, TCP and UDP mixed.
type RuleShape = Array<{ protocol: 'tcp' | 'udp'; frontendPort: number; backendPort: number }>
const RULE_SHAPES: Array<{ name: string; rules: RuleShape }> = [
  { name: 'two TCP rules', rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80 }, { protocol: 'tcp', frontendPort: 5201, backendPort: 5201 }] },
  {
    name: 'three TCP rules',
    rules: [
      { protocol: 'tcp', frontendPort: 80, backendPort: 80 },
      { protocol: 'tcp', frontendPort: 5201, backendPort: 5201 },
      { protocol: 'tcp', frontendPort: 8080, backendPort: 8081 },
    ],
  },
  {
    name: 'TCP and UDP rules mixed',
    rules: [
      { protocol: 'tcp', frontendPort: 80, backendPort: 80 },
      { protocol: 'udp', frontendPort: 53, backendPort: 5353 },
      { protocol: 'tcp', frontendPort: 5201, backendPort: 5202 },
      { protocol: 'udp', frontendPort: 5201, backendPort: 5201 },
      { protocol: 'udp', frontendPort: 4789, backendPort: 4789 },
    ],
  },
]

/** The reference configuration with these rules on blue-ca and blue-public. */
function withRules(rules: RuleShape): () => NvlbConfig {
  return withConfig((c) => {
    for (const name of ['blue-ca', 'blue-public']) {
      c.vips.find((v) => v.name === name)!.rules = rules.map((r) => ({ ...r, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' as const }))
    }
  })
}

for (const shape of RULE_SHAPES) {
  for (const [i, rule] of shape.rules.entries()) {
    const udp = rule.protocol === 'udp'
    cases.push(
      {
        description: `CA VIP with ${shape.name}: ${rule.protocol}:${rule.frontendPort} is balanced`,
        config: withRules(shape.rules),
        input: () => fromAppTier({ vsid: 5002, sport: 35000 + i, dport: rule.frontendPort, udp }),
        verdict: Verdict.TX,
        output: (t, r) => {
          const inner = parseFrame(r.out[0]!.frame)!.inner!
          t.equal(inner.ipv4!.src, '10.1.5.100', 'full NAT')
          t.equal((udp ? inner.udp : inner.tcp)!.dstPort, rule.backendPort, "the rule's backend port")
          t.equal((udp ? inner.udp : inner.tcp)!.checksumValid, true)
        },
      },
      {
        description: `public VIP with ${shape.name}: ${rule.protocol}:${rule.frontendPort} is balanced`,
        config: withRules(shape.rules),
        input: () => fromClient({ sport: 36000 + i, dport: rule.frontendPort, udp }),
        verdict: Verdict.TX,
        output: (t, r) => {
          const inner = parseFrame(r.out[0]!.frame)!.inner!
          t.equal(inner.ipv4!.src, '198.51.100.10', 'client address kept')
          t.equal((udp ? inner.udp : inner.tcp)!.dstPort, rule.backendPort, "the rule's backend port")
        },
      },
    )
  }
}

cases.push({
  description: 'a non-first fragment to a VIP with several rules of its protocol, first fragment unseen',
  config: withRules(RULE_SHAPES[0]!.rules),
  input: () =>
    buildFrame({
      eth: { src: MAC.client, dst: MAC.external },
      ipv4: { src: '198.51.100.10', dst: '203.0.113.10', fragmentOffset: 100, protocol: 6, id: 77 },
      payload: Buffer.alloc(40),
    }),
  verdict: Verdict.DROP,
  drops: ['fragment_no_state'],
})

cases.push(
  {
    description: 'a tenant VM to a public VIP (hairpin): source NAT to the external address, NVGRE to the backend',
    input: () => fromAppTier({ vsid: 5002, sport: 44000, vip: '203.0.113.10' }),
    verdict: Verdict.TX,
    output: (t, r) => {
      const f = parseFrame(r.out[0]!.frame)!
      t.equal(f.gre!.vsid, 5001)
      t.equal(f.inner!.ipv4!.src, '198.51.100.1')
    },
  },
  {
    description: 'a tenant VM to a public VIP port without a rule',
    input: () => fromAppTier({ vsid: 5002, sport: 44001, vip: '203.0.113.10', dport: 443 }),
    verdict: Verdict.DROP,
    drops: ['no_vip_rule'],
  },
  {
    description: 'a tenant VM to a public VIP while node.externalAddress is not set',
    config: withConfig((c) => delete c.node.externalAddress),
    input: () => fromAppTier({ vsid: 5002, sport: 44002, vip: '203.0.113.10' }),
    verdict: Verdict.DROP,
    drops: ['hairpin_unavailable'],
  },
)

t.test('several rules per VIP: every rule carries traffic both ways, with and without prefetch', async (t) => {
  for (const shape of RULE_SHAPES) {
    for (const prefetch of [false, true]) {
      const h = new Harness(withRules(shape.rules)(), { prefetch })
      for (const [i, rule] of shape.rules.entries()) {
        const udp = rule.protocol === 'udp'
        const what = `${shape.name}, ${rule.protocol}:${rule.frontendPort}${prefetch ? ', prefetched' : ''}`
        // CA VIP: request, then the backend's reply with the VIP's VSID.
        const ca = h.send(fromAppTier({ vsid: 5002, sport: 37000 + i, dport: rule.frontendPort, udp }))
        t.equal(ca.verdict, Verdict.TX, `${what}: CA request (${ca.drops.join(',')})`)
        if (ca.verdict !== Verdict.TX) continue
        const caBack = h.send(replyTo(ca.out[0]!.frame, { vsid: 5002 }))
        t.equal(caBack.verdict, Verdict.TX, `${what}: CA reply (${caBack.drops.join(',')})`)
        const rev = parseFrame(caBack.out[0]!.frame)!.inner!
        t.equal(rev.ipv4!.dst, '10.1.5.20')
        t.equal((udp ? rev.udp : rev.tcp)!.srcPort, rule.frontendPort, `${what}: reply from the frontend port`)
        t.equal((udp ? rev.udp : rev.tcp)!.dstPort, 37000 + i)
        // Public VIP.
        const pub = h.send(fromClient({ sport: 38000 + i, dport: rule.frontendPort, udp }))
        t.equal(pub.verdict, Verdict.TX, `${what}: public request (${pub.drops.join(',')})`)
        const pubBack = h.send(replyTo(pub.out[0]!.frame))
        t.equal(pubBack.verdict, Verdict.TX, `${what}: public reply (${pubBack.drops.join(',')})`)
        const plain = parseFrame(pubBack.out[0]!.frame)!
        t.equal(plain.ipv4!.src, '203.0.113.10')
        t.equal((udp ? plain.udp : plain.tcp)!.srcPort, rule.frontendPort)
      }
      // A port no rule has is still refused.
      t.same(h.send(fromClient({ sport: 39000, dport: 9999 })).drops, ['no_vip_rule'])
    }
  }
})

for (const c of cases) {
  t.test(c.description, async (t) => {
    const h = new Harness(c.config?.() ?? referenceConfig(), { ...(c.extraSlots === undefined ? {} : { extraSlots: c.extraSlots }), unconfigured: c.unconfigured === true })
    c.setup?.(h)
    const r = h.send(c.input(h), c.side)
    t.equal(r.verdict, c.verdict, `verdict (drops: ${r.drops.join(',') || 'none'})`)
    t.same(r.drops, c.drops ?? [], 'drop reasons counted')
    c.output?.(t, r)
  })
}

t.test('a frame with no headroom in front cannot be encapsulated', async (t) => {
  const h = new Harness()
  const frame = fromClient({ sport: 11 })
  const verdict = h.engine.process(frame, 0, frame.length)
  t.equal(verdict, Verdict.DROP)
  t.equal(h.engine.statsReport().drops.no_headroom, 1)
  t.ok(HEADROOM >= 56, 'the documented headroom fits the outer headers')
})

t.test('every drop reason has a case', async (t) => {
  const covered = new Set(cases.flatMap((c) => c.drops ?? []))
  covered.add('no_headroom')
  covered.add('nat_ports_exhausted') // nat-ports.test.ts
  t.same(DROP_REASON_NAMES.filter((n) => !covered.has(n)), [])
})

t.test('a neighbour is never learnt from the outer header of NVGRE that fails the trust check', async (t) => {
  const c = referenceConfig()
  c.neighbors = []
  const h = new Harness(c)
  const attacker = '02:66:66:66:66:66'
  // Claims host .4's PA, but the inner CA's record is on host .7.
  const spoofed = buildFrame({ eth: { src: attacker, dst: MAC.provider }, ipv4: { src: '192.168.6.4', dst: '192.168.6.2' }, nvgre: { vsid: 5002, inner: VM11 } })
  t.same(h.send(spoofed).drops, ['spoofed_provider_address'])
  for (let sport = 6300; sport < 6340; sport++) {
    for (const o of h.send(fromClient({ sport })).out) t.not(parseFrame(o.frame)!.eth.dst, attacker, `client port ${sport}: nothing sent to the spoofer's MAC`)
  }
})
