/**
 * The AF_XDP packet worker (startWorkerPool({ io: 'af-xdp' }), nvlb run --io af-xdp) on a
 * veth end: the XDP intake hands the engine's frames (IPv4 to its addresses) to the
 * worker's AF_XDP socket and leaves everything else to the kernel, where a plain packet
 * socket (the observer here; the probe tunnel's and ARP sockets in nvlb) still sees it.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import { PollSet } from '../../lib/io/poll-set'
import { ifNameToIndex } from '../../lib/io/libc'
import { startWorkerPool, type WorkerPool } from '../../lib/io/worker-pool'
import { ADDRESS_ENGINE, ADDRESS_PROBE, ADDRESS_PROVIDER } from '../../lib/io/xdp-intake'
import { ErrorCodes } from '../../lib/errors'
import { parseIPv4 } from '../../lib/packet/address'
import { seededRandom } from '../host/helpers/frame-exchange'
import { createVethPair, packetSocketsOn, SKIP_NOT_ROOT, waitFor } from './helpers/veth'
import { ethernet, ipPacket, mac, nvgre } from './helpers/frames'
import { HANG_MARKER } from './helpers/crash-engine'
import { BACKEND, HOST_MAC, HOST_PA, NVLB_EXTERNAL_MAC, NVLB_PA, NVLB_PROVIDER_MAC, PUBLIC_VIP, Snapshots, VM_MAC, VSID, smallConfig } from './helpers/config'

const REFLECT_ENGINE = path.join(__dirname, 'helpers', 'reflect-engine')
const CRASH_ENGINE = path.join(__dirname, 'helpers', 'crash-engine')
const PROBE_ADDRESS = '198.18.0.1'

/** Every frame `port` receives until `count` arrived or it is silent for `quietMs`. */
function drain(port: AfPacketPort, count: number, quietMs = 1500): Buffer[] {
  const poll = new PollSet([port.fd])
  const frames: Buffer[] = []
  while (frames.length < count && poll.wait(quietMs) !== 0) {
    const n = port.receive()
    for (let i = 0; i < n; i++) frames.push(Buffer.from(port.rxBuffer.subarray(port.rxOffsets[i]!, port.rxOffsets[i]! + port.rxLengths[i]!)))
  }
  return frames
}

/** The sockets this process has open, and those it has memory-mapped (packet rings, AF_XDP rings), as socket:[inode]. */
function socketsOfThisProcess(): { open: string[]; mapped: string[] } {
  const open = readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`)
      } catch {
        return ''
      }
    })
    .filter((link) => link.startsWith('socket:'))
  const mapped = [...new Set(readFileSync('/proc/self/maps', 'utf8').match(/socket:\[\d+\]/g) ?? [])]
  return { open: open.sort(), mapped: mapped.sort() }
}

function xdpAttached(name: string): boolean {
  return /prog\/xdp/.test(execFileSync('ip', ['-d', 'link', 'show', name], { encoding: 'utf8' }))
}

t.test('AF_XDP packet worker on a veth end', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair('nvx')
  const wire = new AfPacketPort({ interfaceName: veth.a })
  const observer = new AfPacketPort({ interfaceName: veth.b })
  const running: WorkerPool[] = []
  t.teardown(async () => {
    for (const pool of running) await pool.stop()
    wire.close()
    observer.close()
    veth.remove()
  })
  const snapshots = new Snapshots()
  const withProbeAddress = (address: string | undefined) => {
    const config = smallConfig()
    return { ...config, node: { ...config.node, probeAddress: address } }
  }
  const send = (frames: Buffer[]): void => {
    for (const f of frames) wire.send(f, 0, f.length)
    wire.flush()
  }
  /** What came back on the wire and what the kernel's side of veth.b saw, for `frames` sent. */
  const exchange = (frames: Buffer[], expectBack: number) => {
    drain(observer, Infinity, 50)
    drain(wire, Infinity, 50)
    send(frames)
    const back = drain(wire, expectBack).filter((f) => !frames.some((sent) => sent.equals(f)))
    const seen = drain(observer, frames.length, 300)
    return { back, kernel: frames.filter((f) => seen.some((s) => s.equals(f))) }
  }
  const udpTo = (dst: string, port: number) => ethernet(NVLB_EXTERNAL_MAC, '02:00:c6:33:64:0a', 0x0800, ipPacket({ src: '198.51.100.10', dst, sport: port, dport: 9000 }))
  const nvgreTo = (innerDst: string, port: number) =>
    ethernet(NVLB_PROVIDER_MAC, HOST_MAC, 0x0800, nvgre(HOST_PA, NVLB_PA, VSID, '02:00:00:00:00:01', VM_MAC, ipPacket({ src: BACKEND, dst: innerDst, sport: 80, dport: port, protocol: 6 })))
  const tagged = (frame: Buffer) => Buffer.concat([frame.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x07]), frame.subarray(12)])

  t.test("the intake: the engine's addresses to the worker, the rest (probe replies, other addresses, ARP) to the kernel", async (t) => {
    const pool = await startWorkerPool({ snapshot: snapshots.next(withProbeAddress(PROBE_ADDRESS)), providerInterface: veth.b, engineModule: REFLECT_ENGINE, io: 'af-xdp', pollTimeoutMs: 20 })
    running.push(pool)
    t.equal(pool.ioMode, 'af-xdp')
    t.ok(xdpAttached(veth.b), 'an XDP program is attached')
    const ours = [udpTo(PUBLIC_VIP, 1000), udpTo('198.51.100.1', 1001), nvgreTo('10.1.6.1', 40000), tagged(udpTo(PUBLIC_VIP, 1002))]
    const others = [udpTo('198.51.100.77', 1003), nvgreTo(PROBE_ADDRESS, 40001), ethernet('ff:ff:ff:ff:ff:ff', '02:00:c6:33:64:0a', 0x0806, Buffer.alloc(28))]
    const { back, kernel } = exchange([...ours, ...others], ours.length - 1)
    // The reflecting engine sends back untagged frames only: the tagged one is counted, not reflected.
    t.equal(back.length, ours.length - 1, 'the VIP, the external address and NVGRE to the PA came back through the worker')
    t.same(kernel, others, 'the kernel saw exactly the others: another address, a probe reply, ARP')
    // Its I/O counters count the ARP frame too: the worker reads ARP from its packet socket.
    await waitFor(() => pool.ioStats().rxFrames >= ours.length + 1, 'the worker received its frames')
    t.equal(pool.ioStats().rxFrames, ours.length + 1, 'the tagged frame too, and no other but the ARP frame')

    // Without node.probeAddress, NVGRE to that address is the engine's like any other.
    const next = snapshots.next(withProbeAddress(undefined))
    pool.adopt(next)
    await waitFor(() => pool.adoptedGeneration() === next.generation, 'the new snapshot adopted')
    const again = exchange([nvgreTo(PROBE_ADDRESS, 40002)], 1)
    t.equal(again.back.length, 1, 'the intake follows the snapshot: the former probe address goes to the worker')
    t.same(again.kernel, [], 'and no longer to the kernel')
    await pool.stop()
    t.notOk(xdpAttached(veth.b), 'stop detaches the program')
    t.equal(packetSocketsOn(ifNameToIndex(veth.b)), 1, "the pool's packet socket is closed (the observer's is left)")
  })

  t.test('the intake decides as its reference does on 150 randomly changed frames', async (t) => {
    const pool = await startWorkerPool({ snapshot: snapshots.next(withProbeAddress(PROBE_ADDRESS)), providerInterface: veth.b, engineModule: REFLECT_ENGINE, io: 'af-xdp', pollTimeoutMs: 20 })
    running.push(pool)
    const addresses = new Map<number, number>([
      [parseIPv4(PUBLIC_VIP) >>> 0, ADDRESS_ENGINE],
      [parseIPv4('198.51.100.1') >>> 0, ADDRESS_ENGINE],
      [parseIPv4(NVLB_PA) >>> 0, ADDRESS_PROVIDER],
      [parseIPv4(PROBE_ADDRESS) >>> 0, ADDRESS_PROBE],
    ])
    /** The intake's rule in plain code: true when the frame goes to the worker. */
    const takes = (f: Buffer): boolean => {
      if (f.length < 34) return false
      let ip = 14
      let type = f.readUInt16BE(12)
      if (type === 0x8100) {
        if (f.length < 38) return false
        type = f.readUInt16BE(16)
        ip = 18
      }
      if (type !== 0x0800) return false
      const kind = addresses.get(f.readUInt32BE(ip + 16))
      if (kind === undefined) return false
      if (kind !== ADDRESS_PROVIDER || f[ip + 9] !== 47) return true
      const ihl = (f[ip]! & 0x0f) * 4
      if (ihl < 20) return true
      const gre = ip + ihl
      if (gre + 8 + 14 + 20 > f.length) return true
      if (f.readUInt32BE(gre) !== 0x20006558 || f.readUInt16BE(gre + 8 + 12) !== 0x0800) return true
      return addresses.get(f.readUInt32BE(gre + 8 + 14 + 16)) !== ADDRESS_PROBE
    }
    const random = seededRandom(0x5eed)
    const bases = [udpTo(PUBLIC_VIP, 2000), udpTo('198.51.100.77', 2001), nvgreTo(PROBE_ADDRESS, 2002), nvgreTo('10.1.6.1', 2003), tagged(udpTo(PUBLIC_VIP, 2004))]
    const frames = Array.from({ length: 150 }, (_, i) => {
      const frame = Buffer.from(bases[i % bases.length]!)
      frame[random(Math.min(frame.length, 90))] = random(256)
      frame.writeUInt16BE(i, frame.length - 2) // tells equal mutations apart
      return frame
    })
    drain(observer, Infinity, 50)
    send(frames)
    const seen = drain(observer, frames.length, 1000)
    // The kernel hands a packet socket a tagged frame with its tag taken out (into the skb's metadata).
    const untagged = (f: Buffer) => (f.readUInt16BE(12) === 0x8100 ? Buffer.concat([f.subarray(0, 12), f.subarray(16)]) : f)
    const disagreements = frames.filter((f) => seen.some((s) => s.equals(untagged(f))) === takes(f))
    t.equal(disagreements.length, 0, `the kernel saw exactly the frames the reference leaves to it (${frames.filter((f) => !takes(f)).length} of 150)`)
    for (const f of disagreements.slice(0, 3)) t.comment(f.toString('hex'))
    await pool.stop()
  })

  t.test('the nvlb engine on AF_XDP answers ARP for its PA and forwards a public VIP SYN as NVGRE', async (t) => {
    const pool = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, io: 'af-xdp', pollTimeoutMs: 20 })
    running.push(pool)
    const arp = Buffer.alloc(28)
    arp.writeUInt16BE(1, 0)
    arp.writeUInt16BE(0x0800, 2)
    arp[4] = 6
    arp[5] = 4
    arp.writeUInt16BE(1, 6) // request
    mac(HOST_MAC).copy(arp, 8)
    arp.writeUInt32BE(parseIPv4(HOST_PA) >>> 0, 14)
    arp.writeUInt32BE(parseIPv4(NVLB_PA) >>> 0, 24)
    const request = ethernet('ff:ff:ff:ff:ff:ff', HOST_MAC, 0x0806, arp)
    const syn = ethernet(NVLB_EXTERNAL_MAC, '02:00:c6:33:64:0a', 0x0800, ipPacket({ src: '198.51.100.10', dst: PUBLIC_VIP, sport: 43210, dport: 80, protocol: 6 }))
    const { back } = exchange([request, syn], 2)
    const reply = back.find((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2)
    t.ok(reply, 'an ARP reply came out')
    t.same(reply?.subarray(22, 28), mac(NVLB_PROVIDER_MAC), "with nvlb's provider MAC")
    const out = back.find((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 47)
    t.ok(out, 'an NVGRE frame came out')
    t.equal(out?.readUInt32BE(30)! >>> 0, parseIPv4(HOST_PA) >>> 0, "to the backend's host")
    t.equal(out?.readUInt32BE(42 + 14 + 16)! >>> 0, parseIPv4(BACKEND) >>> 0, 'inner destination = the backend')
    await waitFor(() => pool.stats().activeFlows === 1, 'the flow')
    await pool.stop()
  })

  t.test('where AF_XDP cannot take the frames (a 9000-byte provider MTU), the pool stays on packet rings and logs why', async (t) => {
    const config = smallConfig()
    const warnings: string[] = []
    const logger = { info() {}, warn: (fields: object, message: string) => warnings.push(`${message} ${JSON.stringify(fields)}`), error() {} }
    const pool = await startWorkerPool({ snapshot: snapshots.next({ ...config, node: { ...config.node, providerMtu: 9000 } }), providerInterface: veth.b, engineModule: REFLECT_ENGINE, io: 'af-xdp', logger })
    running.push(pool)
    t.equal(pool.ioMode, 'rings')
    t.match(warnings.join('\n'), /no AF_XDP: .*do not fit an AF_XDP chunk/, 'the log says why')
    t.notOk(xdpAttached(veth.b), 'no XDP program attached')
    const { back } = exchange([udpTo(PUBLIC_VIP, 3000)], 1)
    t.equal(back.length, 1, 'and frames still flow')
    await pool.stop()
  })

  t.test('a worker terminated because it did not stop in time leaves no AF_XDP socket or mapping behind', async (t) => {
    const before = socketsOfThisProcess()
    const warnings: string[] = []
    const logger = { info() {}, warn: (fields: object, message: string) => warnings.push(`${message} ${JSON.stringify(fields)}`), error() {} }
    const pool = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, engineModule: CRASH_ENGINE, io: 'af-xdp', pollTimeoutMs: 20, stopTimeoutMs: 200, logger })
    running.push(pool)
    const during = socketsOfThisProcess()
    t.ok(during.mapped.length > before.mapped.length, 'the AF_XDP rings are mapped while the pool runs')
    send([ethernet(NVLB_EXTERNAL_MAC, '02:00:c6:33:64:0a', 0x0800, ipPacket({ src: '198.51.100.10', dst: PUBLIC_VIP, sport: 43211, dport: 80, payload: Buffer.from(HANG_MARKER) }))])
    await waitFor(() => pool.ioStats().rxFrames >= 1, 'the worker took the frame that keeps it busy')
    await pool.stop()
    t.match(warnings.join('\n'), /did not stop in time/, 'the worker was terminated')
    t.match(warnings.join('\n'), /ended without closing its AF_XDP sockets; closed them \{"worker":0,"released":6\}/, 'its socket, UMEM and four rings were released by the pool')
    t.same(socketsOfThisProcess(), before, 'no socket open or mapped beyond those before the pool started')
    t.notOk(xdpAttached(veth.b), 'the intake program is gone')
  })

  t.test('AF_XDP takes one worker', async (t) => {
    await t.rejects(startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, io: 'af-xdp', workers: 2 }), { code: ErrorCodes.INVALID_FIELD })
    t.notOk(xdpAttached(veth.b), 'nothing attached')
  })
})
