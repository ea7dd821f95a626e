import t from 'tap'
import { describeTopology, referenceConfig } from '../../examples/blue-red/topology'
import { HOST_HEADROOM, HostEmulator, PROVIDER_PORT, PENDING_TIMEOUT_SECONDS } from '../../lib/host/host-emulator'
import { HostPolicy } from '../../lib/host/host-policy'
import { buildFrame, FrameSpec, parseFrame, ParsedFrame } from '../../lib/packet/frame'

const layout = describeTopology('unit')
const GATEWAY_MAC = '02:00:00:00:00:01'
const NVLB_MAC = '02:00:c0:a8:06:02'
const CLIENT = '198.51.100.10'

function emulatorFor(hostName: string, policy = HostPolicy.fromConfig(referenceConfig())): HostEmulator {
  const host = layout.hosts.find((h) => h.name === hostName)!
  return new HostEmulator({
    name: host.name,
    providerAddress: host.providerAddress,
    providerMac: host.providerMac,
    vms: host.vms.map((vm) => ({ name: vm.name, virtualSubnetId: vm.virtualSubnetId, customerAddress: vm.address })),
    policy,
  })
}

function vm(name: string) {
  return layout.vms.find((v) => v.name === name)!
}

function hostMac(name: string): string {
  return layout.hosts.find((h) => h.name === name)!.providerMac
}

/** The port number of a VM on its host's emulator. */
function portOf(emulator: HostEmulator, vmName: string): number {
  return emulator.vmPorts.find((p) => p !== null && p.name === vmName)!.port
}

interface Out {
  port: number
  frame: Buffer
  parsed: ParsedFrame
}

/** Runs one frame through the emulator and returns what it sent (and clears the queue). */
function run(emulator: HostEmulator, port: number, frame: Buffer, headroom = 0): Out[] {
  const buf = Buffer.alloc(headroom + frame.length)
  frame.copy(buf, headroom)
  emulator.process(port, buf, headroom, frame.length)
  const out: Out[] = []
  for (let i = 0; i < emulator.out.count; i++) {
    const bytes = emulator.out.frame(i)
    out.push({ port: emulator.out.ports[i]!, frame: bytes, parsed: parseFrame(bytes)! })
  }
  emulator.out.clear()
  return out
}

function tcpFrom(vmName: string, dst: string, dstMac: string, extra: Partial<FrameSpec> = {}): Buffer {
  const v = vm(vmName)
  return buildFrame({
    eth: { src: v.mac, dst: dstMac },
    ipv4: { src: v.address, dst, df: true },
    tcp: { srcPort: 40000, dstPort: 80, flags: ['syn'], seq: 1 },
    ...extra,
  })
}

function arpRequestFrom(vmName: string, target: string): Buffer {
  const v = vm(vmName)
  return buildFrame({
    eth: { src: v.mac, dst: 'ff:ff:ff:ff:ff:ff' },
    arp: { op: 'request', senderMac: v.mac, senderIp: v.address, targetIp: target },
  })
}

/** NVGRE from nvlb (or another host) to a host. */
function nvgreTo(hostName: string, vsid: number, inner: FrameSpec, outer: Partial<{ srcMac: string; src: string; dst: string }> = {}): Buffer {
  const host = layout.hosts.find((h) => h.name === hostName)!
  return buildFrame({
    eth: { src: outer.srcMac ?? NVLB_MAC, dst: host.providerMac },
    ipv4: { src: outer.src ?? '192.168.6.2', dst: outer.dst ?? host.providerAddress },
    nvgre: { vsid, flowId: 9, inner },
  })
}

function innerToVm(vmName: string, src = CLIENT): FrameSpec {
  const v = vm(vmName)
  return {
    eth: { src: GATEWAY_MAC, dst: v.mac },
    ipv4: { src, dst: v.address },
    tcp: { srcPort: 51000, dstPort: 80, flags: ['syn'] },
  }
}

t.test('ARP from a VM is answered from the lookup records', async (t) => {
  const h1 = emulatorFor('host1')
  const port = portOf(h1, 'blue-vm1')
  const cases: Array<[string, string, string | null]> = [
    ['gateway CA of the VSID (record → nvlb)', '10.1.6.1', GATEWAY_MAC],
    ['a VM on another host', '10.1.6.22', '00:15:5d:01:06:22'],
    ['a VM on the same host', '10.1.6.21', '00:15:5d:01:06:21'],
    ['a CA of the same routing domain in another VSID', '10.1.5.100', GATEWAY_MAC],
    ['an address without a record', '10.1.6.99', null],
    ['the VM itself (duplicate address detection)', '10.1.6.20', null],
  ]
  for (const [what, target, mac] of cases) {
    const out = run(h1, port, arpRequestFrom('blue-vm1', target))
    if (mac === null) {
      t.equal(out.length, 0, `${what}: no answer`)
      continue
    }
    t.equal(out.length, 1, `${what}: one answer`)
    const reply = out[0]!
    t.equal(reply.port, port, `${what}: back to the asking VM`)
    t.equal(reply.parsed.eth.dst, '00:15:5d:01:06:20')
    t.equal(reply.parsed.eth.src, mac)
    t.match(reply.parsed.arp, { opName: 'reply', senderMac: mac, senderIp: target, targetMac: '00:15:5d:01:06:20', targetIp: '10.1.6.20' }, what)
  }
  t.equal(h1.counters.arpRepliesToVm, 4)
  t.equal(h1.counters.dropArpUnanswered, 2)
})

t.test('ARP never answers with another tenant\'s record', async (t) => {
  // 10.1.6.20 is Blue only; Red's VSID 6001 has no such CA.
  const h2 = emulatorFor('host2')
  t.same(run(h2, portOf(h2, 'red-vm1'), arpRequestFrom('red-vm1', '10.1.6.20')), [])
  // 10.1.6.22 exists in both: Red gets Red's MAC.
  const out = run(h2, portOf(h2, 'red-vm1'), arpRequestFrom('red-vm1', '10.1.6.22'))
  t.equal(out[0]!.parsed.arp!.senderMac, '00:15:5d:02:06:22')
})

t.test('a gateway without a record is still answered with the gateway MAC', async (t) => {
  const config = referenceConfig()
  config.lookupRecords = config.lookupRecords.filter((r) => !(r.virtualSubnetId === 5001 && r.customerAddress === '10.1.6.1'))
  const h1 = emulatorFor('host1', HostPolicy.fromConfig(config))
  const out = run(h1, portOf(h1, 'blue-vm1'), arpRequestFrom('blue-vm1', '10.1.6.1'))
  t.equal(out.length, 1)
  t.equal(out[0]!.parsed.arp!.senderMac, GATEWAY_MAC)
})

t.test('a reply to a client goes to nvlb through the default route (the seed return path)', async (t) => {
  const h1 = emulatorFor('host1')
  const out = run(h1, portOf(h1, 'blue-vm2'), tcpFrom('blue-vm2', CLIENT, GATEWAY_MAC))
  t.equal(out.length, 1)
  const o = out[0]!
  t.equal(o.port, PROVIDER_PORT)
  t.match(o.parsed.eth, { src: hostMac('host1'), dst: NVLB_MAC, vlan: null })
  t.match(o.parsed.ipv4, { src: '192.168.6.4', dst: '192.168.6.2', protocol: 47, checksumValid: true, ttl: 64 })
  t.match(o.parsed.gre, { vsid: 5001, flagsVersion: 0x2000, protocol: 0x6558 })
  t.equal(o.parsed.error, null)
  const inner = o.parsed.inner!
  t.match(inner.eth, { src: '00:15:5d:01:06:21', dst: GATEWAY_MAC, vlan: null })
  t.match(inner.ipv4, { src: '10.1.6.21', dst: CLIENT })
  t.match(inner.tcp, { srcPort: 40000, dstPort: 80, checksumValid: true })
  t.equal(o.frame.length, 42 + 14 + 20 + 20, 'outer 42 bytes + the inner frame')
  t.equal(h1.counters.encapsulated, 1)
})

t.test('a VM on another host in the same VSID is reached by its record', async (t) => {
  const h1 = emulatorFor('host1')
  const out = run(h1, portOf(h1, 'blue-vm2'), tcpFrom('blue-vm2', '10.1.6.22', '00:15:5d:01:06:22'))
  t.equal(out.length, 1)
  t.match(out[0]!.parsed.eth, { dst: hostMac('host2') })
  t.match(out[0]!.parsed.ipv4, { src: '192.168.6.4', dst: '192.168.6.5' })
  t.equal(out[0]!.parsed.gre!.vsid, 5001)
  t.equal(out[0]!.parsed.inner!.eth.dst, '00:15:5d:01:06:22')
})

t.test('a VM on the same host in the same VSID is delivered locally', async (t) => {
  const h1 = emulatorFor('host1')
  const frame = tcpFrom('blue-vm1', '10.1.6.21', '00:15:5d:01:06:21')
  const out = run(h1, portOf(h1, 'blue-vm1'), frame)
  t.equal(out.length, 1)
  t.equal(out[0]!.port, portOf(h1, 'blue-vm2'))
  t.same(out[0]!.frame, frame, 'the frame as sent')
  t.equal(h1.counters.deliveredLocally, 1)
  t.equal(h1.counters.encapsulated, 0)
})

t.test('routing between VSIDs of one domain writes the destination VSID into the key', async (t) => {
  const h1 = emulatorFor('host1')
  // A backend answering the Blue CA VIP (VSID 5002) from VSID 5001, through its gateway.
  let out = run(h1, portOf(h1, 'blue-vm2'), tcpFrom('blue-vm2', '10.1.5.100', GATEWAY_MAC))
  t.equal(out[0]!.parsed.gre!.vsid, 5002, 'the VIP\'s VSID')
  t.equal(out[0]!.parsed.ipv4!.dst, '192.168.6.2', 'the VIP lives on nvlb')
  // The Blue app tier VM (5002) on host4.
  out = run(h1, portOf(h1, 'blue-vm2'), tcpFrom('blue-vm2', '10.1.5.20', GATEWAY_MAC))
  t.equal(out[0]!.parsed.gre!.vsid, 5002)
  t.equal(out[0]!.parsed.ipv4!.dst, '192.168.6.7')
  t.equal(out[0]!.parsed.inner!.eth.dst, '00:15:5d:01:05:20', 'inner destination MAC from the record')
})

t.test('the app tier reaches the CA VIP in its own VSID (seed Figure 6)', async (t) => {
  const h4 = emulatorFor('host4')
  const out = run(h4, portOf(h4, 'blue-vm11'), tcpFrom('blue-vm11', '10.1.5.100', GATEWAY_MAC))
  t.match(out[0]!.parsed.ipv4, { src: '192.168.6.7', dst: '192.168.6.2' })
  t.equal(out[0]!.parsed.gre!.vsid, 5002)
  t.match(out[0]!.parsed.inner!.ipv4, { src: '10.1.5.20', dst: '10.1.5.100' })
  const red = run(h4, portOf(h4, 'red-vm11'), tcpFrom('red-vm11', '10.1.5.100', GATEWAY_MAC))
  t.equal(red[0]!.parsed.gre!.vsid, 6002, 'same CA, other tenant: Red\'s VSID')
})

t.test('tenants stay apart: Red never reaches a Blue-only CA', async (t) => {
  const h2 = emulatorFor('host2')
  // 10.1.6.20 exists only in Blue: Red's packet follows Red's default route to nvlb, in Red's VSID.
  const out = run(h2, portOf(h2, 'red-vm1'), tcpFrom('red-vm1', '10.1.6.20', GATEWAY_MAC))
  t.equal(out.length, 1)
  t.equal(out[0]!.parsed.gre!.vsid, 6001)
  t.equal(out[0]!.parsed.ipv4!.dst, '192.168.6.2')
  // The overlapping CA 10.1.6.22 is Red's red-vm2 on host3, not Blue's blue-vm3 (host2).
  const overlap = run(h2, portOf(h2, 'red-vm1'), tcpFrom('red-vm1', '10.1.6.22', '00:15:5d:02:06:22'))
  t.match(overlap[0]!.parsed.ipv4, { dst: '192.168.6.6' })
  t.equal(overlap[0]!.parsed.gre!.vsid, 6001)
  t.equal(overlap[0]!.parsed.inner!.eth.dst, '00:15:5d:02:06:22')
})

t.test('frames from a VM that a host refuses', async (t) => {
  const h1 = emulatorFor('host1')
  const port = portOf(h1, 'blue-vm1')
  const v = vm('blue-vm1')
  const cases: Array<[string, Buffer, keyof HostEmulator['counters']]> = [
    ['spoofed source address', buildFrame({ eth: { src: v.mac, dst: GATEWAY_MAC }, ipv4: { src: '10.1.6.21', dst: CLIENT }, udp: { srcPort: 1, dstPort: 2 } }), 'dropSpoofedSource'],
    ['VLAN-tagged', buildFrame({ eth: { src: v.mac, dst: GATEWAY_MAC, vlan: 7 }, ipv4: { src: v.address, dst: CLIENT }, udp: { srcPort: 1, dstPort: 2 } }), 'dropVlanTagged'],
    ['IPv4 broadcast', buildFrame({ eth: { src: v.mac, dst: 'ff:ff:ff:ff:ff:ff' }, ipv4: { src: v.address, dst: '255.255.255.255' }, udp: { srcPort: 68, dstPort: 67 } }), 'dropBroadcast'],
    ['IPv6', buildFrame({ eth: { src: v.mac, dst: GATEWAY_MAC, ethertype: 0x86dd }, payload: Buffer.alloc(40) }), 'dropUnsupportedEthertype'],
    ['truncated IPv4', buildFrame({ eth: { src: v.mac, dst: GATEWAY_MAC, ethertype: 0x0800 }, payload: Buffer.from([0x45, 0, 0]) }), 'dropMalformed'],
    ['larger than the provider MTU allows', buildFrame({ eth: { src: v.mac, dst: GATEWAY_MAC }, ipv4: { src: v.address, dst: CLIENT }, udp: { srcPort: 1, dstPort: 2 }, payload: Buffer.alloc(1459 - 28) }), 'dropTooBig'],
  ]
  for (const [what, frame, counter] of cases) {
    const before = h1.counters[counter]
    t.same(run(h1, port, frame), [], `${what}: nothing sent`)
    t.equal(h1.counters[counter], before + 1, `${what}: counted as ${counter}`)
  }
  const config = referenceConfig()
  config.customerRoutes = []
  const noRoutes = emulatorFor('host1', HostPolicy.fromConfig(config))
  t.same(run(noRoutes, port, tcpFrom('blue-vm1', CLIENT, GATEWAY_MAC)), [], 'no customer route: nothing sent')
  t.equal(noRoutes.counters.dropNoRoute, 1)
  // The largest packet that fits: 1458 bytes of IP.
  const fits = buildFrame({ eth: { src: v.mac, dst: GATEWAY_MAC }, ipv4: { src: v.address, dst: CLIENT }, udp: { srcPort: 1, dstPort: 2 }, payload: Buffer.alloc(1458 - 28) })
  const out = run(h1, port, fits)
  t.equal(out.length, 1)
  t.equal(out[0]!.parsed.ipv4!.totalLength, 1500, 'outer packet of exactly the provider MTU')
})

t.test('Ethernet padding is not carried inside the tunnel', async (t) => {
  const h1 = emulatorFor('host1')
  const frame = buildFrame({ eth: { src: vm('blue-vm2').mac, dst: GATEWAY_MAC }, ipv4: { src: '10.1.6.21', dst: CLIENT }, udp: { srcPort: 1, dstPort: 2 } })
  const padded = Buffer.concat([frame, Buffer.alloc(60 - frame.length)])
  const out = run(h1, portOf(h1, 'blue-vm2'), padded)
  t.equal(out[0]!.frame.length, 42 + frame.length)
  t.equal(out[0]!.parsed.ipv4!.totalLength, 20 + 8 + frame.length)
})

t.test('encapsulation works in place when the frame has headroom', async (t) => {
  const h1 = emulatorFor('host1')
  const frame = tcpFrom('blue-vm2', CLIENT, GATEWAY_MAC)
  const buf = Buffer.alloc(64 + frame.length)
  frame.copy(buf, 64)
  h1.process(portOf(h1, 'blue-vm2'), buf, 64, frame.length)
  t.equal(h1.out.count, 1)
  t.equal(h1.out.buffers[0], buf, 'same buffer')
  t.equal(h1.out.offsets[0], 64 - HOST_HEADROOM)
  t.equal(h1.out.lengths[0], frame.length + HOST_HEADROOM)
  const inPlace = h1.out.frame(0)
  h1.out.clear()
  const copied = run(h1, portOf(h1, 'blue-vm2'), frame)[0]!.frame
  // Only the outer IPv4 id (and so its checksum) differ between two packets.
  t.same(inPlace.subarray(0, 18), copied.subarray(0, 18))
  t.same(inPlace.subarray(20, 24), copied.subarray(20, 24))
  t.same(inPlace.subarray(26), copied.subarray(26))
  t.not(inPlace.readUInt16BE(18), copied.readUInt16BE(18), 'outer IPv4 ids count up')
})

t.test('NVGRE from nvlb is decapsulated to the VM of (VSID, inner destination) — the seed example', async (t) => {
  const h1 = emulatorFor('host1')
  const inner = innerToVm('blue-vm2')
  const frame = nvgreTo('host1', 5001, inner)
  const parsedIn = parseFrame(frame)!
  t.match(parsedIn, {
    eth: { src: NVLB_MAC, dst: hostMac('host1') },
    ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
    gre: { vsid: 5001 },
    inner: { eth: { src: GATEWAY_MAC, dst: '00:15:5d:01:06:21' }, ipv4: { src: CLIENT, dst: '10.1.6.21' } },
  })
  const out = run(h1, PROVIDER_PORT, frame)
  t.equal(out.length, 1)
  t.equal(out[0]!.port, portOf(h1, 'blue-vm2'))
  t.same(out[0]!.frame, buildFrame(inner), 'exactly the inner frame')
  t.equal(h1.counters.decapsulated, 1)
})

t.test('an outer 802.1Q tag on the provider link is accepted', async (t) => {
  const h1 = emulatorFor('host1')
  const inner = innerToVm('blue-vm2')
  const tagged = buildFrame({
    eth: { src: NVLB_MAC, dst: hostMac('host1'), vlan: 42 },
    ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
    nvgre: { vsid: 5001, inner },
  })
  const out = run(h1, PROVIDER_PORT, tagged)
  t.equal(out.length, 1)
  t.same(out[0]!.frame, buildFrame(inner))
})

t.test('decapsulation rewrites the inner destination MAC to the VM', async (t) => {
  const h1 = emulatorFor('host1')
  const inner = innerToVm('blue-vm2')
  inner.eth = { ...inner.eth, dst: '02:99:99:99:99:99' }
  const out = run(h1, PROVIDER_PORT, nvgreTo('host1', 5001, inner))
  t.equal(out[0]!.parsed.eth.dst, '00:15:5d:01:06:21')
})

t.test('overlapping CAs are told apart by the VSID', async (t) => {
  const h4 = emulatorFor('host4')
  const blue = run(h4, PROVIDER_PORT, nvgreTo('host4', 5002, innerToVm('blue-vm11')))
  t.equal(blue[0]!.port, portOf(h4, 'blue-vm11'))
  const redInner = innerToVm('red-vm11')
  const red = run(h4, PROVIDER_PORT, nvgreTo('host4', 6002, redInner))
  t.equal(red[0]!.port, portOf(h4, 'red-vm11'))
  t.equal(red[0]!.parsed.eth.dst, '00:15:5d:02:05:20')
  // Red's 10.1.6.21 lives on host2; Blue's 10.1.6.21 on host1: key 6001 at host1 goes nowhere.
  const h1 = emulatorFor('host1')
  t.same(run(h1, PROVIDER_PORT, nvgreTo('host1', 6001, innerToVm('blue-vm2'))), [])
  t.equal(h1.counters.dropUnknownDestination, 1)
})

t.test('provider frames a host drops, by reason', async (t) => {
  const h1 = emulatorFor('host1')
  const inner = innerToVm('blue-vm2')
  const good = nvgreTo('host1', 5001, inner)
  const withGre = (flagsVersion: number, protocol = 0x6558): Buffer =>
    buildFrame({
      eth: { src: NVLB_MAC, dst: hostMac('host1') },
      ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
      nvgre: { vsid: 5001, inner, flagsVersion, protocol },
    })
  const badChecksum = Buffer.from(good)
  badChecksum[14 + 10] ^= 0xff
  const otherMac = Buffer.from(good)
  otherMac.set([2, 0, 0xc0, 0xa8, 6, 5], 0)
  const outerFragment = buildFrame({
    eth: { src: NVLB_MAC, dst: hostMac('host1') },
    ipv4: { src: '192.168.6.2', dst: '192.168.6.4', mf: true },
    nvgre: { vsid: 5001, inner },
  })
  const cases: Array<[string, Buffer, keyof HostEmulator['counters']]> = [
    ['addressed to another host\'s MAC', otherMac, 'dropNotForHost'],
    ['addressed to another PA', nvgreTo('host1', 5001, inner, { dst: '192.168.6.5' }), 'dropNotForHost'],
    ['bad outer checksum', badChecksum, 'dropBadChecksum'],
    ['outer fragment', outerFragment, 'dropOuterFragment'],
    ['not GRE', buildFrame({ eth: { src: NVLB_MAC, dst: hostMac('host1') }, ipv4: { src: '192.168.6.2', dst: '192.168.6.4' }, udp: { srcPort: 1, dstPort: 4789 } }), 'dropNotNvgre'],
    ['GRE checksum bit', withGre(0xa000), 'dropBadNvgre'],
    ['GRE sequence bit', withGre(0x3000), 'dropBadNvgre'],
    ['GRE without key', withGre(0x0000), 'dropBadNvgre'],
    ['GRE protocol not 0x6558', withGre(0x2000, 0x0800), 'dropBadNvgre'],
    ['VSID below 4096', nvgreTo('host1', 4095, inner), 'dropBadNvgre'],
    ['tagged inner frame', nvgreTo('host1', 5001, { ...inner, eth: { ...inner.eth, vlan: 5 } }), 'dropVlanTagged'],
    ['inner ARP', nvgreTo('host1', 5001, { eth: { src: GATEWAY_MAC, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: GATEWAY_MAC, senderIp: '10.1.6.1', targetIp: '10.1.6.21' } }), 'dropInnerNotIpv4'],
    ['unknown inner destination', nvgreTo('host1', 5001, { ...inner, ipv4: { src: CLIENT, dst: '10.1.6.22' } }), 'dropUnknownDestination'],
    ['truncated', good.subarray(0, 14 + 20 + 4), 'dropMalformed'],
  ]
  for (const [what, frame, counter] of cases) {
    const before = h1.counters[counter]
    t.same(run(h1, PROVIDER_PORT, frame), [], `${what}: nothing delivered`)
    t.equal(h1.counters[counter], before + 1, `${what}: counted as ${counter}`)
  }
  t.equal(h1.counters.decapsulated, 0)
})

t.test('ARP on the provider link: the host answers for its PA', async (t) => {
  const h1 = emulatorFor('host1')
  const request = buildFrame({
    eth: { src: NVLB_MAC, dst: 'ff:ff:ff:ff:ff:ff' },
    arp: { op: 'request', senderMac: NVLB_MAC, senderIp: '192.168.6.2', targetIp: '192.168.6.4' },
  })
  const out = run(h1, PROVIDER_PORT, request)
  t.equal(out.length, 1)
  t.equal(out[0]!.port, PROVIDER_PORT)
  t.match(out[0]!.parsed.eth, { src: hostMac('host1'), dst: NVLB_MAC })
  t.match(out[0]!.parsed.arp, { opName: 'reply', senderMac: hostMac('host1'), senderIp: '192.168.6.4', targetIp: '192.168.6.2', targetMac: NVLB_MAC })
  const other = buildFrame({
    eth: { src: NVLB_MAC, dst: 'ff:ff:ff:ff:ff:ff' },
    arp: { op: 'request', senderMac: NVLB_MAC, senderIp: '192.168.6.2', targetIp: '192.168.6.5' },
  })
  t.same(run(h1, PROVIDER_PORT, other), [], 'no answer for another host\'s PA')
})

t.test('an unknown provider neighbour is resolved by ARP, the frames wait for it', async (t) => {
  const config = referenceConfig()
  config.neighbors = []
  const h1 = emulatorFor('host1', HostPolicy.fromConfig(config))
  h1.tick(100)
  const toVm3 = tcpFrom('blue-vm2', '10.1.6.22', '00:15:5d:01:06:22')
  const first = run(h1, portOf(h1, 'blue-vm2'), toVm3)
  t.equal(first.length, 1, 'only an ARP request')
  t.match(first[0]!.parsed.eth, { dst: 'ff:ff:ff:ff:ff:ff', src: hostMac('host1') })
  t.match(first[0]!.parsed.arp, { opName: 'request', senderIp: '192.168.6.4', targetIp: '192.168.6.5' })
  t.same(run(h1, portOf(h1, 'blue-vm2'), toVm3), [], 'a second frame waits too, no second request')
  t.equal(h1.counters.arpRequestsSent, 1)

  h1.tick(101)
  const retry = h1.out.count
  t.equal(retry, 1, 'the request is repeated after a second')
  h1.out.clear()

  const reply = buildFrame({
    eth: { src: hostMac('host2'), dst: hostMac('host1') },
    arp: { op: 'reply', senderMac: hostMac('host2'), senderIp: '192.168.6.5', targetMac: hostMac('host1'), targetIp: '192.168.6.4' },
  })
  const released = run(h1, PROVIDER_PORT, reply)
  t.equal(released.length, 2, 'both waiting frames leave')
  for (const r of released) {
    t.match(r.parsed.eth, { dst: hostMac('host2'), src: hostMac('host1') })
    t.match(r.parsed.ipv4, { dst: '192.168.6.5', checksumValid: true })
    t.equal(r.parsed.gre!.vsid, 5001)
  }
  t.equal(run(h1, portOf(h1, 'blue-vm2'), toVm3)[0]!.parsed.eth.dst, hostMac('host2'), 'then sent at once')

  // Frames for a neighbour that never answers expire.
  run(h1, portOf(h1, 'blue-vm2'), tcpFrom('blue-vm2', '10.1.6.23', '00:15:5d:01:06:23'))
  h1.tick(101 + PENDING_TIMEOUT_SECONDS + 1)
  h1.out.clear()
  t.equal(h1.counters.dropPendingExpired, 1)
})

t.test('two hosts: what one encapsulates, the other delivers unchanged', async (t) => {
  const h1 = emulatorFor('host1')
  const h2 = emulatorFor('host2')
  const frame = buildFrame({
    eth: { src: vm('blue-vm2').mac, dst: '00:15:5d:01:06:22' },
    ipv4: { src: '10.1.6.21', dst: '10.1.6.22', id: 77 },
    tcp: { srcPort: 40000, dstPort: 80, flags: ['psh', 'ack'], seq: 5, ack: 9 },
    payload: 'GET / HTTP/1.1\r\n\r\n',
  })
  const wire = run(h1, portOf(h1, 'blue-vm2'), frame, 64)
  t.equal(wire.length, 1)
  const delivered = run(h2, PROVIDER_PORT, wire[0]!.frame)
  t.equal(delivered.length, 1)
  t.equal(delivered[0]!.port, portOf(h2, 'blue-vm3'))
  t.same(delivered[0]!.frame, frame, 'the VM receives the frame its peer sent')
})

t.test('a VM whose record places it elsewhere is refused at construction', async (t) => {
  const policy = HostPolicy.fromConfig(referenceConfig())
  t.throws(
    () =>
      new HostEmulator({
        name: 'host1',
        providerAddress: '192.168.6.4',
        providerMac: '02:00:c0:a8:06:04',
        vms: [{ name: 'blue-vm3', virtualSubnetId: 5001, customerAddress: '10.1.6.22' }],
        policy,
      }),
    /another provider address/,
  )
  t.throws(
    () =>
      new HostEmulator({
        name: 'host1',
        providerAddress: '192.168.6.4',
        providerMac: '02:00:c0:a8:06:04',
        vms: [{ name: 'nobody', virtualSubnetId: 5001, customerAddress: '10.1.6.99' }],
        policy,
      }),
    /no lookup record/,
  )
})
