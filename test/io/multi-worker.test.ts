import t from 'tap'
import path from 'node:path'
import { startWorkerPool, type WorkerPool, type WorkerPoolLogger } from '../../lib/io/worker-pool'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import { PollSet } from '../../lib/io/poll-set'
import { parseIPv4 } from '../../lib/packet/address'
import { createVethPair, linkExists, SKIP_NOT_ROOT, waitFor } from './helpers/veth'
import { ethernet, fragments, ipPacket, nvgre } from './helpers/frames'
import {
  BACKEND,
  CA_CLIENT,
  CA_CLIENT_HOST_MAC,
  CA_CLIENT_HOST_PA,
  CA_CLIENT_MAC,
  CA_VIP,
  CA_VSID,
  HOST_MAC,
  HOST_PA,
  multiWorkerConfig,
  NVLB_EXTERNAL_MAC,
  NVLB_PA,
  NVLB_PROVIDER_MAC,
  PUBLIC_VIP,
  Snapshots,
  VM_MAC,
  VSID,
} from './helpers/config'
import { CRASH_MARKER } from './helpers/crash-engine'

/**
 * Several packet workers running the nvlb engine on one veth end; the test
 * plays client and Hyper-V host on the other end with raw frames.
 */
const CLIENT = '198.51.100.10'
const CLIENT_MAC = '02:00:c6:33:64:0a'
const CRASH_ENGINE = path.join(__dirname, 'helpers', 'crash-engine')

interface Out {
  frame: Buffer
  /** Offset of the IP header that matters: the inner one for NVGRE. */
  ip: number
  nvgre: boolean
}

/** Reads frames until `done(all)` or 3 s of silence. */
function readUntil(port: AfPacketPort, done: (all: Out[]) => boolean): Out[] {
  const poll = new PollSet([port.fd])
  const all: Out[] = []
  while (!done(all) && poll.wait(3000) !== 0) {
    const n = port.receive()
    for (let i = 0; i < n; i++) {
      const frame = Buffer.from(port.rxBuffer.subarray(port.rxOffsets[i]!, port.rxOffsets[i]! + port.rxLengths[i]!))
      if (frame.readUInt16BE(12) !== 0x0800) continue
      const isNvgre = frame[23] === 47
      all.push({ frame, ip: isNvgre ? 14 + 20 + 8 + 14 : 14, nvgre: isNvgre })
    }
  }
  return all
}

const u32 = (b: Buffer, at: number): number => b.readUInt32BE(at) >>> 0
const ip = (text: string): number => parseIPv4(text) >>> 0

const createdNames: string[] = []

t.test('several workers on a veth end, nvlb engine', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair()
  createdNames.push(veth.a, veth.b)
  const wire = new AfPacketPort({ interfaceName: veth.a })
  const running: WorkerPool[] = []
  t.teardown(async () => {
    for (const pool of running) await pool.stop()
    wire.close()
    veth.remove()
  })
  const send = (frames: Buffer[]): void => {
    for (const f of frames) wire.send(f, 0, f.length)
    wire.flush()
  }
  const fromClient = (packet: Buffer): Buffer => ethernet(NVLB_EXTERNAL_MAC, CLIENT_MAC, 0x0800, packet)
  const fromBackendHost = (packet: Buffer): Buffer =>
    ethernet(NVLB_PROVIDER_MAC, HOST_MAC, 0x0800, nvgre(HOST_PA, NVLB_PA, VSID, '02:00:00:00:00:01', VM_MAC, packet))
  const fromCaClientHost = (packet: Buffer): Buffer =>
    ethernet(NVLB_PROVIDER_MAC, CA_CLIENT_HOST_MAC, 0x0800, nvgre(CA_CLIENT_HOST_PA, NVLB_PA, CA_VSID, '02:00:00:00:00:01', CA_CLIENT_MAC, packet))
  let nextId = 1
  const big = (tag: string): Buffer => Buffer.from(tag.padEnd(1100, '.'))

  for (const workers of [2, 3]) {
    t.test(`${workers} workers: fragmented requests and fragmented replies of public VIP flows`, async (t) => {
      const snapshots = new Snapshots()
      const pool = await startWorkerPool({ snapshot: snapshots.next(multiWorkerConfig(false)), providerInterface: veth.b, workers, pollTimeoutMs: 20 })
      running.push(pool)
      // Client ports of every residue mod `workers`; src ^ dst is one fixed worker for all of them.
      const ports = Array.from({ length: 4 * workers }, (_, i) => 40000 + i)
      const requestFragments = new Map<number, number>()
      const frames: Buffer[] = []
      for (const port of ports) {
        const parts = fragments(ipPacket({ src: CLIENT, dst: PUBLIC_VIP, sport: port, dport: 53, payload: big(`q${port}`) }), 400, nextId++)
        requestFragments.set(port, parts.length)
        for (const part of parts) frames.push(fromClient(part))
      }
      send(frames)
      const expected = [...requestFragments.values()].reduce((a, b) => a + b, 0)
      const toBackend = readUntil(wire, (all) => all.filter((o) => o.nvgre).length >= expected).filter((o) => o.nvgre)
      t.equal(toBackend.length, expected, 'every fragment of every request went to the backend')
      t.ok(toBackend.every((o) => u32(o.frame, o.ip + 16) === ip(BACKEND)), 'addressed to the backend')

      // Replies: one small datagram and one fragmented datagram per flow.
      const replies: Buffer[] = []
      let replyFrames = 0
      for (const port of ports) {
        replies.push(fromBackendHost(ipPacket({ src: BACKEND, dst: CLIENT, sport: 53, dport: port, payload: Buffer.from(`small${port}`) })))
        replyFrames++
        for (const part of fragments(ipPacket({ src: BACKEND, dst: CLIENT, sport: 53, dport: port, payload: big(`r${port}`) }), 400, nextId++)) {
          replies.push(fromBackendHost(part))
          replyFrames++
        }
      }
      send(replies)
      const toClient = readUntil(wire, (all) => all.filter((o) => !o.nvgre).length >= replyFrames).filter((o) => !o.nvgre)
      t.equal(toClient.length, replyFrames, 'every reply and every fragment of every fragmented reply reached the client')
      t.ok(toClient.every((o) => u32(o.frame, 14 + 12) === ip(PUBLIC_VIP) && u32(o.frame, 14 + 16) === ip(CLIENT)), 'from the VIP to the client')
      await waitFor(() => pool.stats().drops['no_flow'] === 0 && pool.ioStats().handoffsOut > 0, 'the handoff counters')
      const drops = Object.entries(pool.stats().drops).filter(([, n]) => n > 0)
      t.same(drops, [], 'nothing dropped')
      t.ok(pool.ioStats().handoffsOut > 0, `frames were handed to their owner (${pool.ioStats().handoffsOut})`)
      t.equal(pool.ioStats().handoffsIn, pool.ioStats().handoffsOut, 'every frame handed over was taken')
      await pool.stop()
    })
  }

  for (const workers of [2, 3]) {
    t.test(`${workers} workers: fragmented requests to a CA VIP (full NAT) and fragmented replies`, async (t) => {
      const snapshots = new Snapshots()
      const pool = await startWorkerPool({ snapshot: snapshots.next(multiWorkerConfig(true)), providerInterface: veth.b, workers, pollTimeoutMs: 20 })
      running.push(pool)
      const ports = Array.from({ length: 4 * workers }, (_, i) => 45000 + i)
      const frames: Buffer[] = []
      let expected = 0
      for (const port of ports) {
        const parts = fragments(ipPacket({ src: CA_CLIENT, dst: CA_VIP, sport: port, dport: 53, payload: big(`c${port}`) }), 400, nextId++)
        expected += parts.length
        for (const part of parts) frames.push(fromCaClientHost(part))
      }
      send(frames)
      const isToBackend = (o: Out): boolean => o.nvgre && u32(o.frame, o.ip + 16) === ip(BACKEND)
      const toBackend = readUntil(wire, (all) => all.filter(isToBackend).length >= expected).filter(isToBackend)
      t.equal(toBackend.length, expected, 'every fragment of every request reached the backend (later fragments need the first one\'s flow)')
      t.ok(toBackend.every((o) => u32(o.frame, o.ip + 12) === ip(CA_VIP)), 'source-NATed to the VIP')
      // The first fragments carry the NAT port; reply to each with a small and a fragmented datagram.
      const natPorts = toBackend.filter((o) => (o.frame.readUInt16BE(o.ip + 6) & 0x1fff) === 0).map((o) => o.frame.readUInt16BE(o.ip + 20))
      t.equal(natPorts.length, ports.length, 'one first fragment per datagram')
      const replies: Buffer[] = []
      for (const nat of natPorts) {
        replies.push(fromBackendHost(ipPacket({ src: BACKEND, dst: CA_VIP, sport: 53, dport: nat, payload: Buffer.from(`small${nat}`) })))
        replies.push(...fragments(ipPacket({ src: BACKEND, dst: CA_VIP, sport: 53, dport: nat, payload: big(`d${nat}`) }), 400, nextId++).map(fromBackendHost))
      }
      send(replies)
      const isToClient = (o: Out): boolean => o.nvgre && u32(o.frame, o.ip + 16) === ip(CA_CLIENT)
      const back = readUntil(wire, (all) => all.filter(isToClient).length >= replies.length).filter(isToClient)
      t.equal(back.length, replies.length, 'every reply and every reply fragment reached the CA VIP client')
      const firsts = back.filter((o) => (o.frame.readUInt16BE(o.ip + 6) & 0x1fff) === 0).map((o) => o.frame.readUInt16BE(o.ip + 22))
      t.same(new Set(firsts), new Set(ports), 'addressed to the client ports again')
      const drops = Object.entries(pool.stats().drops).filter(([, n]) => n > 0)
      t.same(drops, [], 'nothing dropped')
      await pool.stop()
    })
  }

  t.test('3 workers: a CA VIP added under load; after whenAdopted every request and its reply meet one worker', async (t) => {
    const snapshots = new Snapshots()
    const pool = await startWorkerPool({ snapshot: snapshots.next(multiWorkerConfig(false)), providerInterface: veth.b, workers: 3, pollTimeoutMs: 20 })
    running.push(pool)
    const next = snapshots.next(multiWorkerConfig(true))
    let port = 20000
    const request = (p: number): Buffer => fromCaClientHost(ipPacket({ src: CA_CLIENT, dst: CA_VIP, sport: p, dport: 80, protocol: 6 }))
    pool.adopt(next)
    // Load: requests to the new VIP while the workers adopt it (some may be dropped: not acknowledged yet).
    let adopted = false
    const acknowledged = pool.whenAdopted(next.generation).then(() => {
      adopted = true
    })
    while (!adopted) {
      send(Array.from({ length: 6 }, () => request(port++)))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await acknowledged
    t.ok(pool.adoptedGeneration() >= next.generation, 'every worker runs the new snapshot')
    t.equal(pool.stats().generation, next.generation, 'stats name the generation every worker adopted')
    const earlyEnd = port
    const after = Array.from({ length: 30 }, () => port++)
    send(after.map(request))
    const isRequestOut = (o: Out): boolean => o.nvgre && u32(o.frame, o.ip + 16) === ip(BACKEND) && o.frame[o.ip + 9] === 6
    // Full NAT hides the client port from the backend: read until the wire is quiet.
    const out = readUntil(wire, () => false)
    const requestsOut = out.filter(isRequestOut)
    t.ok(requestsOut.length >= after.length, `every request after the acknowledgement reached the backend (${requestsOut.length} incl. early ones)`)
    t.ok(requestsOut.every((o) => u32(o.frame, o.ip + 12) === ip(CA_VIP)), 'source-NATed to the VIP')
    // Every request that got through (before or after the acknowledgement): its reply must find the flow.
    const replies = requestsOut.map((o) =>
      fromBackendHost(ipPacket({ src: BACKEND, dst: CA_VIP, sport: 80, dport: o.frame.readUInt16BE(o.ip + 20), protocol: 6 })),
    )
    send(replies)
    const back = readUntil(wire, (all) => all.filter((o) => o.nvgre && u32(o.frame, o.ip + 16) === ip(CA_CLIENT)).length >= replies.length).filter(
      (o) => o.nvgre && u32(o.frame, o.ip + 16) === ip(CA_CLIENT),
    )
    t.equal(back.length, replies.length, 'every reply reached the CA VIP client: no flow lives on a worker its replies miss')
    const backPorts = new Set(back.map((o) => o.frame.readUInt16BE(o.ip + 22)))
    t.ok(after.every((p) => backPorts.has(p)), 'including every request sent after the acknowledgement')
    t.ok(pool.stats().drops['no_flow']! <= earlyEnd - 20000, 'no_flow drops only of requests sent before the acknowledgement (to workers that had not adopted yet)')
    t.comment(`requests during adoption: ${earlyEnd - 20000}`)
    await pool.stop()
  })

  t.test('3 workers: a worker killed under load is restarted, counted, logged; the other workers keep their flows', async (t) => {
    const snapshots = new Snapshots()
    const logged: string[] = []
    const logger: WorkerPoolLogger = {
      info() {},
      warn() {},
      error(_obj, msg) {
        logged.push(msg ?? '')
      },
    }
    const workers = 3
    const pool = await startWorkerPool({
      snapshot: snapshots.next(multiWorkerConfig(false)),
      providerInterface: veth.b,
      workers,
      pollTimeoutMs: 20,
      engineModule: CRASH_ENGINE,
      logger,
    })
    running.push(pool)
    const ports = Array.from({ length: 6 * workers }, (_, i) => 30000 + i)
    const request = (p: number, payload = `q${p}`): Buffer =>
      fromClient(ipPacket({ src: CLIENT, dst: PUBLIC_VIP, sport: p, dport: 53, payload: Buffer.from(payload) }))
    const reply = (p: number): Buffer => fromBackendHost(ipPacket({ src: BACKEND, dst: CLIENT, sport: 53, dport: p, payload: Buffer.from(`r${p}`) }))
    const ours = new Set(ports)
    // Frames of this test only: NVGRE to the backend from one of our client ports, or plain to one of them.
    const isRequestOut = (o: Out): boolean => o.nvgre && ours.has(o.frame.readUInt16BE(o.ip + 20))
    const isReplyOut = (o: Out): boolean => !o.nvgre && ours.has(o.frame.readUInt16BE(o.ip + 22))
    send(ports.map((p) => request(p)))
    t.equal(readUntil(wire, (all) => all.filter(isRequestOut).length >= ports.length).filter(isRequestOut).length, ports.length, 'flows created')
    const victim = 1
    // Under load: replies of every flow keep coming while worker 1 dies.
    send([...ports.map(reply), request(30000 + victim + workers * 100, CRASH_MARKER), ...ports.map(reply)])
    await waitFor(() => pool.ioStats().workerRestarts === 1 && pool.adoptedGeneration() >= 1, 'the worker to be restarted', 20000)
    t.equal(pool.ioStats().workerRestarts, 1, 'one restart, counted')
    t.ok(logged.some((m) => /packet worker died/.test(m)), 'and logged')
    readUntil(wire, () => false) // let the load drain
    send(ports.map(reply))
    const back = readUntil(wire, (all) => all.filter(isReplyOut).length >= ports.length).filter(isReplyOut)
    const answered = new Set(back.map((o) => o.frame.readUInt16BE(o.ip + 22)))
    const kept = ports.filter((p) => p % workers !== victim)
    t.same(kept.filter((p) => !answered.has(p)), [], "the other workers' flows are kept (membership of the fanout group unchanged)")
    // The replacement works: a new flow steered to it.
    const fresh = 31000 + ((victim - (31000 % workers) + workers) % workers)
    send([request(fresh)])
    t.ok(readUntil(wire, (all) => all.some((o) => o.nvgre)).some((o) => o.nvgre), 'the restarted worker forwards new flows')
    await pool.stop()
  })
})

t.test('no interface is left behind', { skip: SKIP_NOT_ROOT }, async (t) => {
  t.same(createdNames.filter((name) => linkExists(name)), [])
})
