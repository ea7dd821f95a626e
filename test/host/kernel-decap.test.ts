import t from 'tap'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import type { FramePort } from '../../lib/io/frame-port'
import { setOffload } from '../../lib/io/offloads'
import { HostEmulator, PROVIDER_PORT } from '../../lib/host/host-emulator'
import { HostPolicy } from '../../lib/host/host-policy'
import { decapProgram, KernelDecap } from '../../lib/host/kernel-decap'
import { buildFrame, type FrameSpec } from '../../lib/packet/frame'
import { parseIPv4 } from '../../lib/packet/address'
import { smallConfig, BACKEND, HOST_MAC, HOST_PA, NVLB_PA, NVLB_PROVIDER_MAC, VSID } from '../io/helpers/config'
import { FrameExchange, seededRandom } from './helpers/frame-exchange'
import { SKIP_NOT_ROOT, createVethPair, type VethPair } from '../io/helpers/veth'

/**
 * The kernel fast path against the emulator it stands in for: every frame is offered to
 * both; where the emulator delivers to a VM the program may deliver the same bytes or pass
 * the frame on untouched, and anywhere else it must pass it on untouched.
 */

const SECOND_VM = '10.1.6.22'
const SECOND_VM_MAC = '00:15:5d:01:06:22'

function policy(): HostPolicy {
  const config = smallConfig()
  config.lookupRecords.push({ customerAddress: SECOND_VM, virtualSubnetId: VSID, providerAddress: HOST_PA, macAddress: SECOND_VM_MAC, customerId: 'blue', rule: 'TranslationMethodEncap' })
  return HostPolicy.fromConfig(config)
}

function emulator(): HostEmulator {
  return new HostEmulator({
    name: 'host',
    providerAddress: HOST_PA,
    providerMac: HOST_MAC,
    vms: [
      { name: 'vm1', virtualSubnetId: VSID, customerAddress: BACKEND },
      { name: 'vm2', virtualSubnetId: VSID, customerAddress: SECOND_VM },
    ],
    policy: policy(),
  })
}

function inner(dst = BACKEND, extra: Partial<FrameSpec> = {}): FrameSpec {
  return {
    eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:99' },
    ipv4: { src: '198.51.100.10', dst, df: true },
    udp: { srcPort: 40000, dstPort: 9000 },
    payload: 'kernel decap',
    ...extra,
  }
}

function nvgre(innerSpec: FrameSpec, outer: { dst?: string; dstMac?: string; vsid?: number; vlan?: number; options?: Uint8Array; mf?: boolean } = {}): Buffer {
  return buildFrame({
    eth: { src: NVLB_PROVIDER_MAC, dst: outer.dstMac ?? HOST_MAC, vlan: outer.vlan },
    ipv4: { src: NVLB_PA, dst: outer.dst ?? HOST_PA, options: outer.options, mf: outer.mf },
    nvgre: { vsid: outer.vsid ?? VSID, flowId: 7, inner: innerSpec },
  })
}

/** What the emulator sends for `frame` from the provider side: the VM port and bytes, or null. */
function emulated(e: HostEmulator, frame: Buffer): { port: number; frame: Buffer } | null {
  e.process(PROVIDER_PORT, Buffer.from(frame), 0, frame.length)
  const out = e.out.count === 1 && e.out.ports[0] !== PROVIDER_PORT ? { port: e.out.ports[0]!, frame: e.out.frame(0) } : null
  e.out.clear()
  return out
}

t.test('the program is refused nothing by the assembler and ends in exits', async (t) => {
  const code = decapProgram(new Uint8Array([2, 0, 0xc0, 0xa8, 6, 4]), parseIPv4(HOST_PA), 3, 4)
  t.equal(code.length % 8, 0)
  t.ok(code.length / 8 < 200, `${code.length / 8} instructions`)
  t.equal(code[code.length - 8], 0x95, 'the last instruction is exit')
})

t.test('kernel decapsulation agrees with the host emulator', { skip: SKIP_NOT_ROOT }, async (t) => {
  // provider: frames go in at provider.a and arrive at provider.b, where the program sits;
  // each VM port is the host end (a) of a veth whose VM end (b) has GRO on, so NAPI.
  const provider = createVethPair('kdp')
  const vms: VethPair[] = [createVethPair('kdv'), createVethPair('kdv')]
  const ports: FramePort[] = []
  let decap: KernelDecap | null = null
  t.teardown(() => {
    for (const p of ports) p.close()
    decap?.close()
    for (const v of [provider, ...vms]) v.remove()
  })
  for (const v of vms) setOffload(v.b, 'gro', true)
  const e = emulator()
  decap = new KernelDecap(e, provider.b, vms.map((v) => v.a))
  const sender = new AfPacketPort({ interfaceName: provider.a })
  const passed = new AfPacketPort({ interfaceName: provider.b })
  const atVms = vms.map((v) => new AfPacketPort({ interfaceName: v.b }))
  ports.push(sender, passed, ...atVms)
  const exchange = new FrameExchange(sender, [passed, ...atVms], Buffer.from('kernel decap'))
  /** Sends one frame; where it came out (0: passed on at the provider interface, i: VM i) and the bytes. */
  const offer = (frame: Buffer) => exchange.offer(frame)

  const valid: Array<[string, Buffer]> = [
    ['UDP to vm1', nvgre(inner())],
    ['UDP to vm2', nvgre(inner(SECOND_VM))],
    ['TCP to vm1', nvgre(inner(BACKEND, { udp: undefined, tcp: { srcPort: 40000, dstPort: 80, flags: ['ack'], seq: 1, ack: 2 } }))],
    ['inner Ethernet padding', withInnerPadding(nvgre(inner()), 8)],
    ['outer padding', Buffer.concat([nvgre(inner()), Buffer.alloc(6)])],
  ]
  for (const [what, frame] of valid) {
    const expected = emulated(e, frame)
    t.not(expected, null, `${what}: the emulator delivers it`)
    const got = offer(frame)
    t.equal(got?.where, expected!.port, `${what}: the kernel delivered it to the same VM port`)
    t.same(got?.frame, expected!.frame, `${what}: byte for byte as the emulator would`)
  }
  t.equal(decap.read().decapsulated, valid.length, 'each one counted once')

  const passedOn: Array<[string, Buffer]> = [
    ['bad outer checksum', corrupt(nvgre(inner()), 24)],
    ['another MAC', nvgre(inner(), { dstMac: '02:00:c0:a8:06:09' })],
    ['another PA', nvgre(inner(), { dst: '192.168.6.9' })],
    ['a VLAN tag', nvgre(inner(), { vlan: 5 })],
    ['IP options', nvgre(inner(), { options: new Uint8Array([1, 1, 1, 1]) })],
    ['a fragment', nvgre(inner(), { mf: true })],
    ['an unknown VSID', nvgre(inner(), { vsid: VSID + 1 })],
    ['an unknown CA', nvgre(inner('10.1.6.99'))],
    ['inner total length beyond the outer packet', setU16(nvgre(inner()), 56 + 2, 300)],
    ['outer total length beyond the frame', setOuterTotal(nvgre(inner()), 400)],
    ['GRE with a checksum bit', setU16(nvgre(inner()), 34, 0xa000)],
  ]
  for (const [what, frame] of passedOn) {
    const got = offer(frame)
    t.equal(got?.where, 0, `${what}: passed on to the emulator's socket`)
    // The kernel's receive path moves a VLAN tag out of the frame before a packet socket sees it.
    const seen = what === 'a VLAN tag' ? Buffer.concat([frame.subarray(0, 12), frame.subarray(16)]) : frame
    t.same(got?.frame, seen, `${what}: untouched`)
  }

  // Random single-byte changes anywhere in the headers: never a different result.
  const random = seededRandom(12345)
  let disagreements = 0
  for (let i = 0; i < 150; i++) {
    const frame = nvgre(inner(i % 2 === 0 ? BACKEND : SECOND_VM))
    const at = random(76)
    frame[at] = frame[at]! ^ (1 + random(255))
    const expected = emulated(e, frame)
    const got = offer(frame)
    const same = got !== null && (got.where === 0 ? got.frame.equals(frame) : expected !== null && got.where === expected.port && got.frame.equals(expected.frame))
    if (!same) {
      disagreements++
      t.comment(`byte ${at}: ${got === null ? 'lost' : `out at ${got.where}`}, emulator: ${expected === null ? 'no delivery' : `port ${expected.port}`}`)
    }
  }
  t.equal(disagreements, 0, 'each changed frame delivered as the emulator would, or passed on untouched')
  t.equal(decap.read().aborted, 0, 'nothing aborted')
})

function corrupt(frame: Buffer, at: number): Buffer {
  frame[at] = frame[at]! ^ 0xff
  return frame
}

function setU16(frame: Buffer, at: number, value: number): Buffer {
  frame.writeUInt16BE(value, at)
  return frame
}

/** Sets the outer IPv4 total length and fixes the header checksum. */
function setOuterTotal(frame: Buffer, total: number): Buffer {
  frame.writeUInt16BE(total, 16)
  frame.writeUInt16BE(0, 24)
  let sum = 0
  for (let i = 14; i < 34; i += 2) sum += frame.readUInt16BE(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  frame.writeUInt16BE(~sum & 0xffff, 24)
  return frame
}

/** `frame` with `bytes` of Ethernet padding after its inner IP packet (outer lengths and checksum adjusted). */
function withInnerPadding(frame: Buffer, bytes: number): Buffer {
  const padded = Buffer.concat([frame, Buffer.alloc(bytes)])
  return setOuterTotal(padded, frame.readUInt16BE(16) + bytes)
}
