import t from 'tap'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import type { FramePort } from '../../lib/io/frame-port'
import { HostEmulator, PROVIDER_PORT } from '../../lib/host/host-emulator'
import { HostPolicy } from '../../lib/host/host-policy'
import { encapProgram, KernelEncap } from '../../lib/host/kernel-encap'
import { parseIPv4 } from '../../lib/packet/address'
import { buildFrame, type FrameSpec } from '../../lib/packet/frame'
import { smallConfig, BACKEND, HOST_MAC, HOST_PA, VM_MAC, VSID } from '../io/helpers/config'
import { FrameExchange, seededRandom } from './helpers/frame-exchange'
import { SKIP_NOT_ROOT, createVethPair } from '../io/helpers/veth'

/**
 * The kernel's encapsulation against the emulator it stands in for: every frame a VM sends
 * is offered to both; where the program sends a frame to the provider side it is the
 * emulator's, byte for byte but for the outer IPv4 identification and checksum (checked
 * valid), and anything it does not take reaches the emulator's socket untouched.
 */

const LOCAL_VM = '10.1.6.22'
const FAR_VM = '10.1.6.30'
const CLIENT = '198.51.100.10'
const GATEWAY_MAC = '02:00:00:00:00:01'

function emulator(): HostEmulator {
  const config = smallConfig()
  config.lookupRecords.push(
    { customerAddress: LOCAL_VM, virtualSubnetId: VSID, providerAddress: HOST_PA, macAddress: '00:15:5d:01:06:22', customerId: 'blue', rule: 'TranslationMethodEncap' },
    // On a host whose MAC nobody configured: the emulator must ARP for it first.
    { customerAddress: FAR_VM, virtualSubnetId: VSID, providerAddress: '192.168.6.9', macAddress: '00:15:5d:01:06:30', customerId: 'blue', rule: 'TranslationMethodEncap' },
  )
  return new HostEmulator({
    name: 'host',
    providerAddress: HOST_PA,
    providerMac: HOST_MAC,
    vms: [
      { name: 'vm1', virtualSubnetId: VSID, customerAddress: BACKEND },
      { name: 'vm2', virtualSubnetId: VSID, customerAddress: LOCAL_VM },
    ],
    policy: HostPolicy.fromConfig(config),
  })
}

function fromVm(dst = CLIENT, extra: Partial<FrameSpec> = {}): Buffer {
  return buildFrame({
    eth: { src: VM_MAC, dst: GATEWAY_MAC },
    ipv4: { src: BACKEND, dst, df: true },
    udp: { srcPort: 9000, dstPort: 40000 },
    payload: 'kernel encap',
    ...extra,
  })
}

/** `frame` with the outer IPv4 identification and checksum zeroed (the kernel draws its own identification). */
function normalized(frame: Buffer): Buffer {
  const copy = Buffer.from(frame)
  copy.fill(0, 18, 20)
  copy.fill(0, 24, 26)
  return copy
}

function checksumValid(frame: Buffer): boolean {
  let sum = 0
  for (let i = 14; i < 34; i += 2) sum += frame.readUInt16BE(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum === 0xffff
}

t.test('the program assembles and ends in exits', async (t) => {
  const code = encapProgram(parseIPv4(HOST_PA), 7, 3, 4)
  t.equal(code.length % 8, 0)
  t.ok(code.length / 8 < 250, `${code.length / 8} instructions`)
  t.equal(code[code.length - 8], 0x95)
})

t.test('kernel encapsulation agrees with the host emulator', { skip: SKIP_NOT_ROOT }, async (t) => {
  // vm: the VM sends at vm.b, the program sits at vm.a (the host's VM port);
  // provider: the program redirects out of provider.a, what leaves arrives at provider.b.
  const vm = createVethPair('kev')
  const provider = createVethPair('kep')
  const other = createVethPair('kev') // vm2's port, never used for sending here
  const ports: FramePort[] = []
  let encap: KernelEncap | null = null
  t.teardown(() => {
    for (const p of ports) p.close()
    encap?.close()
    for (const v of [vm, provider, other]) v.remove()
  })
  const e = emulator()
  encap = new KernelEncap(e, provider.a, [vm.a, other.a])
  const sender = new AfPacketPort({ interfaceName: vm.b })
  const passed = new AfPacketPort({ interfaceName: vm.a })
  const out = new AfPacketPort({ interfaceName: provider.b })
  ports.push(sender, passed, out)
  const marker = Buffer.from('kernel encap')
  const exchange = new FrameExchange(sender, [passed, out], marker)
  const offer = (frame: Buffer) => exchange.offer(frame)
  const emulated = (frame: Buffer): Buffer | null => {
    e.process(1, Buffer.from(frame), 0, frame.length)
    const result = e.out.count === 1 && e.out.ports[0] === PROVIDER_PORT ? e.out.frame(0) : null
    e.out.clear()
    return result !== null && result.includes(marker) ? result : null
  }

  const padded = Buffer.concat([fromVm(CLIENT, { udp: undefined, tcp: { srcPort: 80, dstPort: 40000, flags: ['ack'], seq: 1, ack: 2 }, payload: 'kernel encap' }), Buffer.alloc(6)])
  const taken: Array<[string, Buffer]> = [
    ['UDP to the Internet (default route, via nvlb)', fromVm()],
    ['TCP to the Internet', fromVm(CLIENT, { udp: undefined, tcp: { srcPort: 80, dstPort: 40000, flags: ['syn', 'ack'], seq: 1, ack: 2 } })],
    ['Ethernet padding after the IP packet', padded],
    ['ICMP', fromVm(CLIENT, { udp: undefined, icmp: { type: 8, code: 0, id: 1, seq: 1 } })],
  ]
  for (const [what, frame] of taken) {
    const expected = emulated(frame)
    t.not(expected, null, `${what}: the emulator encapsulates it`)
    const got = offer(frame)
    t.equal(got?.where, 1, `${what}: the kernel sent it to the provider side`)
    t.same(got && normalized(got.frame), expected && normalized(expected), `${what}: the emulator's bytes (identification and checksum aside)`)
    t.ok(got !== null && checksumValid(got.frame), `${what}: a valid outer header checksum`)
  }
  t.equal(encap.read(), taken.length, 'each one counted once')

  const passedOn: Array<[string, Buffer]> = [
    ['ARP', buildFrame({ eth: { src: VM_MAC, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: VM_MAC, senderIp: BACKEND, targetIp: '10.1.6.1' }, payload: 'kernel encap' })],
    ['a VM on the same host', fromVm(LOCAL_VM)],
    ['a host whose MAC is not known yet', fromVm(FAR_VM)],
    ['a spoofed source', fromVm(CLIENT, { ipv4: { src: '10.1.6.99', dst: CLIENT } })],
    ['a multicast MAC', fromVm(CLIENT, { eth: { src: VM_MAC, dst: '01:00:5e:00:00:01' } })],
    ['IP options', fromVm(CLIENT, { ipv4: { src: BACKEND, dst: CLIENT, options: new Uint8Array([1, 1, 1, 1]) } })],
    ['too big for the provider MTU', fromVm(CLIENT, { payload: 'kernel encap' + 'x'.repeat(1430) })],
  ]
  for (const [what, frame] of passedOn) {
    const got = offer(frame)
    t.equal(got?.where, 0, `${what}: passed on to the emulator's socket`)
    t.same(got?.frame, frame, `${what}: untouched`)
  }

  const random = seededRandom(4242)
  let disagreements = 0
  for (let i = 0; i < 150; i++) {
    const frame = fromVm()
    const at = random(42)
    frame[at] = frame[at]! ^ (1 + random(255))
    const expected = emulated(frame)
    const got = offer(frame)
    const same = got !== null && (got.where === 0 ? got.frame.equals(frame) : expected !== null && normalized(got.frame).equals(normalized(expected)) && checksumValid(got.frame))
    if (!same) {
      disagreements++
      t.comment(`byte ${at}: ${got === null ? 'lost' : `out at ${got.where}`}, emulator: ${expected === null ? 'nothing to the provider side' : 'encapsulated'}`)
    }
  }
  t.equal(disagreements, 0, 'each changed frame encapsulated as the emulator would, or passed on untouched')
})
