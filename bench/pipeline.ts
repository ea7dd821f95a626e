/**
 * Packet-path throughput on one core: known-flow public inbound,
 * the public return path, CA VIP full NAT both ways, and new flows (SYNs),
 * with 1M flows in the table; memory per flow; Maglev build time.
 *
 *   nvlb bench pipeline [--json] [--flows N] [--rounds N]
 *
 * Frames are written into a batch of receive slots the way a port fills
 * them (that refill is not timed), then the engine processes the batch
 * (timed in CPU time of this process, so that other work on the machine does
 * not count against the engine). Flows are visited in a shuffled order, so the flow table is hit
 * the way 1M concurrent clients hit it, not from the CPU cache.
 */
import { parseArgs } from 'node:util'
import { Compiler } from '../lib/control/compiler'
import { validateConfig } from '../lib/control/config-validate'
import { Engine, HEADROOM, Verdict } from '../lib/dataplane/engine'
import { buildFrame } from '../lib/packet/frame'
import { readU16, readU32, writeU16, writeU32 } from '../lib/packet/bytes'
import { forwardHashOfKey } from '../lib/dataplane/flow-hash'
import { formatIPv4 } from '../lib/packet/address'
import type { Snapshot } from '../lib/dataplane/snapshot'
import { measureMaglevBuildMs } from './micro-hash'
import { printMetrics, progress, type Metric } from './report'

const BATCH = 1024
/** Frames per receive batch (lib/io receives 64 per recvmmsg). */
const RX_BATCH = 64
const SLOT = 256
const BACKENDS = 16
const PA_MAC = '02:00:c0:a8:06:02'
const EXT_MAC = '02:00:c6:33:64:01'
const GW_MAC = '02:00:00:00:00:01'
const CLIENT_MAC = '02:00:c6:33:64:0a'
const VM_CLIENT = '10.1.5.20'

function benchConfig(maxFlows: number) {
  const hosts = ['192.168.6.4', '192.168.6.5', '192.168.6.6', '192.168.6.7']
  const backends = Array.from({ length: BACKENDS }, (_, i) => ({ address: `10.1.6.${20 + i}`, host: hosts[i % 3]! }))
  return validateConfig({
    node: {
      providerAddress: '192.168.6.2',
      providerMac: PA_MAC,
      externalAddress: '198.51.100.1',
      externalMac: EXT_MAC,
      gatewayMac: GW_MAC,
      providerMtu: 1500,
      maxFlows,
    },
    neighbors: hosts.map((address, i) => ({ address, mac: `02:00:c0:a8:06:0${4 + i}` })),
    lookupRecords: [
      ...backends.map((b, i) => ({ customerAddress: b.address, virtualSubnetId: 5001, providerAddress: b.host, macAddress: `00-15-5D-01-06-${(0x20 + i).toString(16)}`, customerId: 'blue' })),
      { customerAddress: VM_CLIENT, virtualSubnetId: 5002, providerAddress: '192.168.6.7', macAddress: '00-15-5D-01-05-20', customerId: 'blue' },
      { customerAddress: '10.1.5.1', virtualSubnetId: 5002, providerAddress: '192.168.6.2', macAddress: GW_MAC, customerId: 'blue' },
      { customerAddress: '10.1.6.1', virtualSubnetId: 5001, providerAddress: '192.168.6.2', macAddress: GW_MAC, customerId: 'blue' },
    ],
    customerRoutes: [
      { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.6.1', metric: 0 },
      { customerId: 'blue', virtualSubnetId: 5002, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.5.1', metric: 0 },
    ],
    pools: [{ name: 'web', backends: backends.map((b) => ({ virtualSubnetId: 5001, address: b.address, weight: 1, state: 'active' })) }],
    vips: [
      { name: 'public', address: '203.0.113.10', virtualSubnetId: 0, natMode: 'dnat', rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'web', idleTimeoutSeconds: 240, distribution: '5-tuple' }] },
      { name: 'ca', address: '10.1.5.100', virtualSubnetId: 5002, natMode: 'fullnat', rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'web', idleTimeoutSeconds: 240, distribution: '5-tuple' }] },
    ],
  })
}

/** A frame template and where its per-flow fields live. */
interface Template {
  frame: Buffer
  /** Offset of the inner IPv4 header within the frame. */
  ip: number
}

function publicTemplate(flags: ('syn' | 'ack')[]): Template {
  const frame = buildFrame({ eth: { src: CLIENT_MAC, dst: EXT_MAC }, ipv4: { src: '100.64.0.0', dst: '203.0.113.10', df: true }, tcp: { srcPort: 1, dstPort: 80, flags, ...(flags.includes('syn') ? { mss: 1460 } : {}) }, payload: flags.includes('syn') ? undefined : 'x'.repeat(6) })
  return { frame, ip: 14 }
}

function nvgreTemplate(outerSrc: string, vsid: number, innerSrc: string, innerDst: string, flags: ('syn' | 'ack')[]): Template {
  const frame = buildFrame({
    eth: { src: '02:00:c0:a8:06:07', dst: PA_MAC },
    ipv4: { src: outerSrc, dst: '192.168.6.2' },
    nvgre: { vsid, inner: { eth: { src: '00:15:5d:01:05:20', dst: GW_MAC }, ipv4: { src: innerSrc, dst: innerDst, df: true }, tcp: { srcPort: 80, dstPort: 1, flags } } },
  })
  return { frame, ip: 14 + 20 + 8 + 14 }
}

/** Client n → (source address, source port): 1M distinct clients. */
function clientAddress(n: number): number {
  return (0x64400000 + (n >>> 6)) >>> 0 // 100.64.0.0/10, CGNAT space: documentation-safe inside the bench
}
function clientPort(n: number): number {
  return 1024 + (n & 63) * 997 % 64000
}

function shuffled(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  let s = seed >>> 0
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    const j = s % (i + 1)
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  return order
}

/** Receive slots filled like a port fills them, processed in chunks of a receive batch. */
class Batch {
  readonly buf = Buffer.alloc(BATCH * SLOT)
  /** Per chunk: the frames' offsets and lengths, as a port hands them over. */
  readonly offsets: Int32Array[] = []
  readonly lengths: Int32Array[] = []
  constructor() {
    for (let c = 0; c < BATCH / RX_BATCH; c++) {
      this.offsets.push(Int32Array.from({ length: RX_BATCH }, (_, i) => (c * RX_BATCH + i) * SLOT + HEADROOM))
      this.lengths.push(new Int32Array(RX_BATCH))
    }
  }
}

/**
 * Run `total` packets through the engine; `fill(batch, slotOffset, k)` writes packet k
 * into a slot at HEADROOM and returns its length (not timed). Frames are processed
 * in receive batches of RX_BATCH, each preceded by the engine's prefetch pass, as
 * lib/io's forwarding loop does. Returns packets per second of CPU time.
 */
function run(engine: Engine, total: number, fill: (b: Batch, slotOffset: number, k: number) => number): { pps: number; tx: number } {
  const batch = new Batch()
  let cpuMicros = 0
  let tx = 0
  for (let done = 0; done < total; ) {
    const n = Math.min(BATCH, total - done)
    for (let i = 0; i < n; i++) batch.lengths[(i / RX_BATCH) | 0]![i % RX_BATCH] = fill(batch, i * SLOT + HEADROOM, done + i)
    const start = process.cpuUsage()
    for (let c = 0; c * RX_BATCH < n; c++) {
      const offsets = batch.offsets[c]!
      const lengths = batch.lengths[c]!
      const count = Math.min(RX_BATCH, n - c * RX_BATCH)
      engine.prefetch(batch.buf, offsets, lengths, count)
      for (let i = 0; i < count; i++) {
        if (engine.process(batch.buf, offsets[i]!, lengths[i]!) === Verdict.TX) tx++
      }
      engine.extra.clear()
    }
    const used = process.cpuUsage(start)
    cpuMicros += used.user + used.system
    done += n
  }
  return { pps: total / (cpuMicros / 1e6), tx }
}

function stamp(b: Batch, at: number, t: Template): void {
  t.frame.copy(b.buf, at)
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, flows: { type: 'string' }, rounds: { type: 'string' } } })
  const flows = Number(values.flows ?? 1_000_000)
  const rounds = Number(values.rounds ?? 3)
  const caFlows = Math.min(40_000, flows)
  const capacity = 1 << 20 >= flows + caFlows ? 1 << 20 : flows + caFlows
  const engine = new Engine({ maxFlows: capacity })
  engine.adopt(new Compiler().compile(benchConfig(capacity), 1))
  engine.tick(1000)

  const order = shuffled(flows, 12345)
  const syn = publicTemplate(['syn'])
  const ack = publicTemplate(['ack'])
  const fillPublic = (t: Template) => (b: Batch, at: number, k: number): number => {
    const n = order[k % flows]!
    stamp(b, at, t)
    writeU32(b.buf, at + t.ip + 12, clientAddress(n))
    writeU16(b.buf, at + t.ip + 20, clientPort(n))
    return t.frame.length
  }

  progress(`pipeline: ${flows} new flows (SYN) into an empty table of ${capacity}`)
  const newFlow = run(engine, flows, fillPublic(syn))
  if (engine.flowCount < flows) throw new Error(`only ${engine.flowCount} of ${flows} flows were created`)

  const best = (f: () => { pps: number }): number => {
    let top = 0
    for (let r = 0; r < rounds; r++) top = Math.max(top, f().pps)
    return top
  }
  progress(`pipeline: known-flow public inbound, ${flows} flows, ${rounds} rounds`)
  const passes = Math.max(1, Math.ceil(2_000_000 / flows))
  const known = best(() => run(engine, flows * passes, fillPublic(ack)))

  // Return path: each flow's backend answers. Build one template per backend.
  const table = engine.flows!
  const snap = engine.snapshot!
  const replyTemplates = new Map<number, Template>()
  const flowSlot = new Int32Array(flows)
  for (let k = 0; k < flows; k++) {
    const n = k
    const idx = table.findForward(forwardHashFor(clientAddress(n), clientPort(n)), 6, clientAddress(n), 0xcb00710a, ((clientPort(n) << 16) | 80) >>> 0)
    flowSlot[k] = idx
  }
  for (let b = 0; b < snap.backendCount; b++) {
    const host = snap.backendHost[b]!
    replyTemplates.set(b, nvgreTemplate(formatIPv4(host), 5001, formatIPv4(snap.backendAddress[b]!), '100.64.0.0', ['ack']))
  }
  const fillReply = (b: Batch, at: number, k: number): number => {
    const n = order[k % flows]!
    const t = replyTemplates.get(table.backend(flowSlot[n]!))!
    stamp(b, at, t)
    writeU32(b.buf, at + t.ip + 16, clientAddress(n))
    writeU16(b.buf, at + t.ip + 22, clientPort(n))
    return t.frame.length
  }
  progress('pipeline: public return path (decapsulation + reverse NAT)')
  const ret = run(engine, flows, fillReply)
  if (ret.tx < flows) throw new Error(`return path sent ${ret.tx} of ${flows}`)
  const returnPps = Math.max(ret.pps, best(() => run(engine, flows * passes, fillReply)))

  // CA VIP, full NAT: blue-vm11's CA opens caFlows connections to the CA VIP.
  const caSyn = nvgreTemplate('192.168.6.7', 5002, VM_CLIENT, '10.1.5.100', ['syn'])
  const caAck = nvgreTemplate('192.168.6.7', 5002, VM_CLIENT, '10.1.5.100', ['ack'])
  const caOrder = shuffled(caFlows, 777)
  const fillCa = (t: Template) => (b: Batch, at: number, k: number): number => {
    const n = caOrder[k % caFlows]!
    stamp(b, at, t)
    writeU16(b.buf, at + t.ip + 20, 20000 + n) // source port
    writeU16(b.buf, at + t.ip + 22, 80)
    return t.frame.length
  }
  run(engine, caFlows, fillCa(caSyn))
  // Learn each CA flow's backend and NAT port from the frame nvlb sends.
  const caBackend = new Int32Array(caFlows)
  const caNatPort = new Int32Array(caFlows)
  {
    const probe = Buffer.alloc(SLOT)
    for (let n = 0; n < caFlows; n++) {
      caAck.frame.copy(probe, HEADROOM)
      writeU16(probe, HEADROOM + caAck.ip + 20, 20000 + n)
      writeU16(probe, HEADROOM + caAck.ip + 22, 80)
      if (engine.process(probe, HEADROOM, caAck.frame.length) !== Verdict.TX) throw new Error('CA VIP flow not forwarded')
      const ip = engine.outOffset + 56
      caBackend[n] = backendIdOf(snap, readU32(probe, ip + 16))
      caNatPort[n] = readU16(probe, ip + 20)
    }
  }
  const caReplies = new Map<number, Template>()
  for (let b = 0; b < snap.backendCount; b++) {
    caReplies.set(b, nvgreTemplate(formatIPv4(snap.backendHost[b]!), 5002, formatIPv4(snap.backendAddress[b]!), '10.1.5.100', ['ack']))
  }
  const fillCaReply = (b: Batch, at: number, k: number): number => {
    const n = caOrder[k % caFlows]!
    const t = caReplies.get(caBackend[n]!)!
    stamp(b, at, t)
    writeU16(b.buf, at + t.ip + 22, caNatPort[n]!)
    return t.frame.length
  }
  progress(`pipeline: CA VIP full NAT, ${caFlows} flows, both directions`)
  const caForward = best(() => run(engine, caFlows * 10, fillCa(caAck)))
  const caReplyRun = run(engine, caFlows, fillCaReply)
  if (caReplyRun.tx < caFlows) throw new Error(`CA VIP replies sent ${caReplyRun.tx} of ${caFlows}`)
  const caReply = Math.max(caReplyRun.pps, best(() => run(engine, caFlows * 10, fillCaReply)))
  // Both directions averaged: packets over the time of one packet each way.
  const caBoth = 2 / (1 / caForward + 1 / caReply)

  progress('pipeline: Maglev build, 1000 backends, M = 65537')
  const maglevMs = measureMaglevBuildMs(1000, 65537)

  const metrics: Metric[] = [
    { name: 'engine.known_flow.mpps', value: known / 1e6, unit: 'Mpps', target: 5, better: 'higher' },
    { name: 'engine.return.mpps', value: returnPps / 1e6, unit: 'Mpps', target: 5, better: 'higher' },
    { name: 'engine.ca_vip.mpps', value: caBoth / 1e6, unit: 'Mpps', target: 4, better: 'higher' },
    { name: 'engine.new_flow.mpps', value: newFlow.pps / 1e6, unit: 'Mpps', target: 2, better: 'higher' },
    { name: 'flow.bytes_per_flow', value: table.bytesPerFlow, unit: 'B', target: 64, better: 'lower' },
    { name: 'maglev.build_ms', value: maglevMs, unit: 'ms', target: 1.8, better: 'lower' },
  ]
  printMetrics(metrics, values.json === true)
  return 0
}

function forwardHashFor(src: number, sport: number): number {
  return forwardHashOfKey(6, src, 0xcb00710a, ((sport << 16) | 80) >>> 0)
}

function backendIdOf(snap: Snapshot, address: number): number {
  for (let b = 0; b < snap.backendCount; b++) if (snap.backendAddress[b] === (address | 0)) return b
  throw new Error(`no backend ${formatIPv4(address)}`)
}

