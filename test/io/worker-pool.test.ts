import t from 'tap'
import path from 'node:path'
import { startWorkerPool, type WorkerPool } from '../../lib/io/worker-pool'
import { MAX_BUSY_POLL_US } from '../../lib/io/frame-port'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import { PollSet } from '../../lib/io/poll-set'
import { ifNameToIndex } from '../../lib/io/libc'
import { readOffloads, setOffload } from '../../lib/io/offloads'
import { ErrorCodes } from '../../lib/errors'
import { parseIPv4 } from '../../lib/packet/address'
import { createVethPair, linkExists, packetSocketsOn, SKIP_NOT_ROOT, waitFor } from './helpers/veth'
import { ethernet, ipPacket, isTestFrame, mac, nvgre, testFrame } from './helpers/frames'
import { ACTION_OFFSET, ACTION_REFLECT_AND_EXTRA } from './helpers/reflect-engine'
import { BACKEND, HOST_MAC, HOST_PA, NVLB_EXTERNAL_MAC, NVLB_PA, NVLB_PROVIDER_MAC, PUBLIC_VIP, Snapshots, VM_MAC, VSID, smallConfig } from './helpers/config'

const REFLECT_ENGINE = path.join(__dirname, 'helpers', 'reflect-engine')

/** Receives frames on `port` that `accept` until `count` arrived or the wire is silent for 3 s. */
function receive(port: AfPacketPort, count: number, accept: (frame: Buffer) => boolean): Buffer[] {
  const poll = new PollSet([port.fd])
  const frames: Buffer[] = []
  while (frames.length < count && poll.wait(3000) !== 0) {
    const n = port.receive()
    for (let i = 0; i < n; i++) {
      const frame = Buffer.from(port.rxBuffer.subarray(port.rxOffsets[i]!, port.rxOffsets[i]! + port.rxLengths[i]!))
      if (accept(frame)) frames.push(frame)
    }
  }
  return frames
}

const createdNames: string[] = []

t.test('packet workers on a veth end', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair()
  createdNames.push(veth.a, veth.b)
  const wire = new AfPacketPort({ interfaceName: veth.a })
  const running: WorkerPool[] = []
  t.teardown(async () => {
    for (const d of running) await d.stop()
    wire.close()
    veth.remove()
  })
  const snapshots = new Snapshots()
  const send = (frames: Buffer[]): void => {
    for (const f of frames) wire.send(f, 0, f.length)
    wire.flush()
  }

  t.test('one worker reflects a batch; stats, adoption and stop', async (t) => {
    const dataplane = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, engineModule: REFLECT_ENGINE, pollTimeoutMs: 20 })
    running.push(dataplane)
    t.equal(dataplane.workerCount, 1)
    const marker = 0x50000001
    const frames = Array.from({ length: 100 }, (_, i) => testFrame(marker, i, 60 + i))
    frames[40]![ACTION_OFFSET] = ACTION_REFLECT_AND_EXTRA
    send(frames)
    const all = receive(wire, frames.length + 1, (f) => isTestFrame(f, 0, f.length, marker))
    const extra = all.filter((f) => f[ACTION_OFFSET] === 0xee)
    const back = all.filter((f) => f[ACTION_OFFSET] !== 0xee)
    t.equal(back.length, 100, 'every frame came back')
    t.same(extra.map((f) => f.readUInt32BE(18)), [40], "the engine's extra frame was sent too (from its own queue buffer)")
    t.same(back.map((f) => f.readUInt32BE(18)), frames.map((_, i) => i), 'in order')
    t.same(back[0]!.subarray(0, 6), frames[0]!.subarray(6, 12), 'reflected (MACs swapped)')
    await waitFor(() => dataplane.stats().rxPackets >= 100, 'engine counters to reach the main thread')
    t.equal(dataplane.stats().rxPackets, 100, 'engine counters summed from the shared buffer')
    t.ok(dataplane.ioStats().txFrames >= 101)

    const before = dataplane.adoptedGeneration()
    const next = snapshots.next()
    dataplane.adopt(next)
    await waitFor(() => dataplane.adoptedGeneration() === next.generation, 'the worker to adopt the new snapshot (no traffic)')
    t.ok(next.generation > before)
    t.equal(dataplane.stats().generation, next.generation)

    const ifindex = ifNameToIndex(veth.b)
    t.equal(packetSocketsOn(ifindex), 1)
    await dataplane.stop()
    await dataplane.stop()
    t.equal(packetSocketsOn(ifindex), 0, 'the worker closed its socket')
  })

  t.test('idle workers adopt a snapshot and stop without waiting out their poll timeout (wake fd)', async (t) => {
    // A poll timeout longer than every bound below: only the wake-up can end the wait.
    const dataplane = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, workers: 2, engineModule: REFLECT_ENGINE, pollTimeoutMs: 600_000, stopTimeoutMs: 60_000 })
    running.push(dataplane)
    for (let round = 0; round < 3; round++) {
      const next = snapshots.next()
      dataplane.adopt(next)
      await waitFor(() => dataplane.adoptedGeneration() === next.generation, `both idle workers to adopt generation ${next.generation}`, 5000)
    }
    t.pass('three snapshots adopted by idle workers')
    const stopped = await Promise.race([
      dataplane.stop().then(() => 'stopped'),
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 10_000).unref()),
    ])
    t.equal(stopped, 'stopped', 'stop() ends the idle workers through the wake fd, not the stop timeout')
  })

  t.test('busy-polling: after a frame the worker looks at its socket again instead of sleeping, and still stops', async (t) => {
    const marker = 0x50000002
    /** Sends `count` frames one at a time, each after the one before came back; returns the worker's sleeps meanwhile. */
    const pingPong = async (dataplane: WorkerPool, count: number): Promise<number> => {
      const one = (i: number): void => {
        send([testFrame(marker, i, 60)])
        t.equal(receive(wire, 1, (f) => isTestFrame(f, 0, f.length, marker) && f.readUInt32BE(18) === i).length, 1, `frame ${i} came back`)
      }
      one(0)
      const before = dataplane.workerStats()[0]!.sleeps
      for (let i = 1; i <= count; i++) one(i)
      return dataplane.workerStats()[0]!.sleeps - before
    }
    // A poll timeout longer than the test: a sleep ends only when a frame (or the stop) arrives.
    const sleeping = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, engineModule: REFLECT_ENGINE, pollTimeoutMs: 600_000 })
    running.push(sleeping)
    t.ok((await pingPong(sleeping, 20)) >= 20, 'without it the worker sleeps before every frame')
    await sleeping.stop()

    const busy = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, engineModule: REFLECT_ENGINE, pollTimeoutMs: 600_000, busyPollUs: MAX_BUSY_POLL_US })
    running.push(busy)
    t.equal(await pingPong(busy, 20), 0, 'with it the worker never slept between frames')
    const next = snapshots.next()
    busy.adopt(next)
    await waitFor(() => busy.adoptedGeneration() === next.generation, 'the polling worker to adopt a snapshot')
    const stopped = await Promise.race([
      busy.stop().then(() => 'stopped'),
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 10_000).unref()),
    ])
    t.equal(stopped, 'stopped', 'stop() ends a polling worker')
    await t.rejects(
      startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, engineModule: REFLECT_ENGINE, busyPollUs: MAX_BUSY_POLL_US + 1 }),
      { code: ErrorCodes.INVALID_FIELD },
      'a window past the limit is refused',
    )
    t.equal(packetSocketsOn(ifNameToIndex(veth.b)), 0, 'and opens no socket')
  })

  t.test('two workers in a fanout group: every frame handled once, both workers busy', async (t) => {
    const dataplane = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, workers: 2, engineModule: REFLECT_ENGINE, pollTimeoutMs: 20 })
    running.push(dataplane)
    const frames = Array.from({ length: 64 }, (_, i) =>
      ethernet('02:00:c6:33:64:01', '02:00:c6:33:64:0a', 0x0800, ipPacket({ src: '198.51.100.10', dst: PUBLIC_VIP, sport: 50000 + i, dport: 80, payload: Buffer.from(`w2-${i}.`) })),
    )
    send(frames)
    const isOurs = (f: Buffer): boolean => f.readUInt16BE(12) === 0x0800 && f.includes('w2-') && f.subarray(0, 6).equals(mac('02:00:c6:33:64:0a'))
    const back = receive(wire, frames.length, isOurs)
    const ports = back.map((f) => f.readUInt16BE(34))
    t.equal(new Set(ports).size, 64, 'all 64 frames came back, none twice')
    t.equal(back.length, 64)
    const workers = new Set(back.map((f) => f[f.length - 1]))
    t.same([...workers].sort(), [0, 1], 'both workers handled frames')
    t.ok(back.every((f) => f[f.length - 1] === f.readUInt16BE(34) % 2), 'client port mod 2 = worker index (workers join in order)')
    await waitFor(() => dataplane.stats().rxPackets >= 64, 'counters')
    t.equal(dataplane.stats().rxPackets, 64, 'counters of both workers summed')
    const perWorker = dataplane.workerStats()
    const handledBy = (w: number) => back.filter((f) => f[f.length - 1] === w).length
    t.same(perWorker.map((w) => w.worker), [0, 1], 'one entry per worker')
    t.same(perWorker.map((w) => w.rxPackets), [handledBy(0), handledBy(1)], "each worker's own count is the frames it handled")
    t.ok(perWorker.every((w) => w.generation === dataplane.adoptedGeneration()), 'and the generation it runs')

    const first = dataplane.adoptedGeneration()
    await dataplane.whenAdopted(first) // already running: resolves at once
    const next = snapshots.next()
    dataplane.adopt(next)
    const acknowledged = dataplane.whenAdopted(next.generation)
    await acknowledged
    t.ok(dataplane.adoptedGeneration() >= next.generation, 'whenAdopted resolves once both workers run the generation')
    t.equal(dataplane.stats().generation, next.generation, 'stats name the generation every worker runs')
    const later = snapshots.next()
    dataplane.adopt(later)
    const pending = t.rejects(dataplane.whenAdopted(later.generation + 1), { code: ErrorCodes.SOCKET_SETUP }, 'a generation never adopted: rejected when the pool stops')
    await dataplane.stop()
    await pending
    await t.rejects(dataplane.whenAdopted(1), 'and after the stop')
    t.equal(packetSocketsOn(ifNameToIndex(veth.b)), 0, 'fanout members and ARP listeners closed')
  })

  t.test('two interfaces, two workers: a flow meets the same worker on both', async (t) => {
    const second = createVethPair()
    createdNames.push(second.a, second.b)
    const externalWire = new AfPacketPort({ interfaceName: second.a })
    t.teardown(() => {
      externalWire.close()
      second.remove()
    })
    const dataplane = await startWorkerPool({
      snapshot: snapshots.next(),
      providerInterface: veth.b,
      externalInterface: second.b,
      workers: 2,
      engineModule: REFLECT_ENGINE,
      pollTimeoutMs: 20,
    })
    running.push(dataplane)
    const requests: Buffer[] = []
    const replies: Buffer[] = []
    for (let f = 0; f < 16; f++) {
      const clientPort = 41000 + f * 3
      requests.push(ethernet('02:00:c6:33:64:01', '02:00:c6:33:64:0a', 0x0800, ipPacket({ src: '198.51.100.10', dst: PUBLIC_VIP, sport: clientPort, dport: 80, payload: Buffer.from(`q${f}.xx`) })))
      replies.push(
        ethernet('02:00:c0:a8:06:02', HOST_MAC, 0x0800,
          nvgre(HOST_PA, NVLB_PA, VSID, '02:00:00:00:00:01', '00:15:5d:01:06:21', ipPacket({ src: BACKEND, dst: '198.51.100.10', sport: 80, dport: clientPort, payload: Buffer.from(`r${f}.xx`) }))),
      )
    }
    for (const f of requests) externalWire.send(f, 0, f.length)
    externalWire.flush()
    send(replies)
    // The reflector sends everything out of the provider side.
    const back = receive(wire, 32, (f) => f.readUInt16BE(12) === 0x0800 && /[qr]\d+\./.test(f.toString('latin1')))
    t.equal(back.length, 32)
    const workerOf = new Map<string, number>()
    for (const f of back) workerOf.set(/([qr]\d+)\./.exec(f.toString('latin1'))![1]!, f[f.length - 1]!)
    let split = 0
    for (let f = 0; f < 16; f++) if (workerOf.get(`q${f}`) !== workerOf.get(`r${f}`)) split++
    t.equal(split, 0, 'request (external interface) and reply (provider interface) of each flow on one worker')
    t.same(new Set(workerOf.values()).size, 2, 'both workers busy')
    await dataplane.stop()
  })

  t.test('the nvlb engine forwards a public VIP SYN as NVGRE to the backend host', async (t) => {
    const dataplane = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: veth.b, pollTimeoutMs: 20 })
    running.push(dataplane)
    const syn = ethernet(NVLB_EXTERNAL_MAC, '02:00:c6:33:64:0a', 0x0800, ipPacket({ src: '198.51.100.10', dst: PUBLIC_VIP, sport: 43210, dport: 80, protocol: 6 }))
    send([syn])
    const [out] = receive(wire, 1, (f) => f.readUInt16BE(12) === 0x0800 && f[23] === 47)
    t.ok(out, 'an NVGRE frame came out')
    if (out !== undefined) {
      t.same(out.subarray(0, 6), mac(HOST_MAC), 'to the host MAC (static neighbour)')
      t.equal(out.readUInt32BE(26) >>> 0, parseIPv4(NVLB_PA) >>> 0, 'outer source = nvlb PA')
      t.equal(out.readUInt32BE(30) >>> 0, parseIPv4(HOST_PA) >>> 0, 'outer destination = host PA')
      t.equal(out.readUInt32BE(38) >>> 8, VSID, 'GRE key carries the VSID')
      t.equal(out.readUInt32BE(42 + 14 + 16) >>> 0, parseIPv4(BACKEND) >>> 0, 'inner destination = the backend')
      t.equal(out.readUInt16BE(42 + 14 + 20 + 2), 80)
    }
    await waitFor(() => dataplane.stats().vips[0]?.packets === 1 && dataplane.stats().activeFlows === 1, 'rule counters and the flow count')
    t.equal(dataplane.stats().vips[0]?.flowsCreated, 1)
    await dataplane.stop()
  })

  t.test('probe replies never wake a worker: its provider socket leaves them to the probe tunnel, also after node.probeAddress changes', async (t) => {
    const withProbeAddress = (address: string) => {
      const config = smallConfig()
      return { ...config, node: { ...config.node, probeAddress: address } }
    }
    /** NVGRE from the backend's host to nvlb's PA, inner destination `to` (a probe reply when `to` is node.probeAddress). */
    const reply = (to: string, sequence: number) =>
      ethernet(NVLB_PROVIDER_MAC, HOST_MAC, 0x0800, nvgre(HOST_PA, NVLB_PA, VSID, '02:00:00:00:00:01', VM_MAC, ipPacket({ src: BACKEND, dst: to, sport: 80, dport: 40000 + sequence, protocol: 6 })))
    const reflected = (f: Buffer) => f.readUInt16BE(12) === 0x0800 && f[23] === 47
    for (const workers of [1, 2]) {
      const dataplane = await startWorkerPool({ snapshot: snapshots.next(withProbeAddress('198.18.0.1')), providerInterface: veth.b, workers, engineModule: REFLECT_ENGINE, pollTimeoutMs: 20 })
      running.push(dataplane)
      // Probe replies first, then as many other frames: only the others reach a worker (and come back).
      send([...Array.from({ length: 8 }, (_, i) => reply('198.18.0.1', i)), ...Array.from({ length: 8 }, (_, i) => reply('198.18.0.2', i))])
      t.equal(receive(wire, 8, reflected).length, 8, `${workers} worker(s): the other frames came back`)
      await waitFor(() => dataplane.stats().rxPackets >= 8, 'the workers counted them')
      t.equal(dataplane.stats().rxPackets, 8, `${workers} worker(s): no probe reply reached a worker`)

      // Another probe address: the filters follow it.
      const next = snapshots.next(withProbeAddress('198.18.0.2'))
      dataplane.adopt(next)
      await waitFor(() => dataplane.adoptedGeneration() === next.generation, 'the new snapshot adopted')
      send([...Array.from({ length: 8 }, (_, i) => reply('198.18.0.2', i)), ...Array.from({ length: 8 }, (_, i) => reply('198.18.0.1', i))])
      t.equal(receive(wire, 8, reflected).length, 8, 'frames to the old probe address reach a worker again')
      await waitFor(() => dataplane.stats().rxPackets >= 16, 'the workers counted them')
      t.equal(dataplane.stats().rxPackets, 16, 'replies to the new probe address do not')
      await dataplane.stop()
    }
  })

  t.test('offloads: GRO, GSO, TSO on the interface are turned off at start, and the log says so', async (t) => {
    const other = createVethPair()
    createdNames.push(other.a, other.b)
    t.teardown(() => other.remove())
    setOffload(other.b, 'gro', true)
    t.same(readOffloads(other.b, ['gro', 'gso', 'tso']), { gro: true, gso: true, tso: true }, 'a veth with GRO (and GSO/TSO) on')
    const lines: { obj: object; msg: string }[] = []
    const logger = { info: (obj: object, msg?: string) => lines.push({ obj, msg: msg ?? '' }), warn() {}, error() {} }
    const pool = await startWorkerPool({ snapshot: snapshots.next(), providerInterface: other.b, engineModule: REFLECT_ENGINE, pollTimeoutMs: 20, logger })
    running.push(pool)
    t.same(readOffloads(other.b, ['gro', 'lro', 'gso', 'tso']), { gro: false, lro: false, gso: false, tso: false }, 'all off once the workers run')
    const said = lines.filter((l) => /offloads off/.test(l.msg))
    t.equal(said.length, 1, 'one log line for the interface')
    t.match(said[0]?.obj, { interface: other.b, turnedOff: ['gro', 'gso', 'tso', 'tx-checksumming'] }, 'naming what it turned off')
    await pool.stop()
  })

  t.test('a missing interface fails the start with a coded error', async (t) => {
    await t.rejects(startWorkerPool({ snapshot: snapshots.next(), providerInterface: 'nvt-missing0', engineModule: REFLECT_ENGINE }), {
      code: ErrorCodes.SOCKET_SETUP,
      message: /nvt-missing0/,
    })
  })
})

t.test('no interface is left behind', { skip: SKIP_NOT_ROOT }, async (t) => {
  t.same(createdNames.filter((name) => linkExists(name)), [])
})
