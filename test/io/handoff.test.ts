import t from 'tap'
import { HandoffRing } from '../../lib/io/handoff-ring'
import { FragmentOwners, FRAGMENT_OWNER_TIMEOUT } from '../../lib/io/fragment-owners'
import { closeHandoffShared, createHandoffShared, WorkerHandoff } from '../../lib/io/worker-handoff'
import { IO_HANDOFF_DROPS, IO_HANDOFFS_IN, IO_HANDOFFS_OUT, ioCounters } from '../../lib/io/io-counters'
import { RX_HEADROOM } from '../../lib/io/frame-port'
import { PollSet } from '../../lib/io/poll-set'
import { ethernet, fragments, ipPacket, nvgre } from './helpers/frames'
import { parseIPv4 } from '../../lib/packet/address'

t.test('HandoffRing: frames in order, full is refused, indexes wrap', async (t) => {
  const ring = new HandoffRing(HandoffRing.create(4, 64), 4, 64)
  const out = Buffer.alloc(128)
  t.equal(ring.pop(out, 0), -1, 'empty')
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 4; i++) t.ok(ring.push(Buffer.from(`r${round}f${i}`), 0, 4), `push ${round}/${i}`)
    t.notOk(ring.push(Buffer.from('x'), 0, 1), 'a full ring refuses')
    t.equal(ring.size(), 4)
    const got: string[] = []
    for (let len = ring.pop(out, 8); len >= 0; len = ring.pop(out, 8)) got.push(out.toString('latin1', 8, 8 + len))
    t.same(got, [0, 1, 2, 3].map((i) => `r${round}f${i}`), 'in order')
  }
  t.notOk(ring.push(Buffer.alloc(65), 0, 65), 'a frame longer than a slot is refused')
  t.throws(() => HandoffRing.create(3, 64), RangeError)
})

t.test('HandoffRing: the producer and consumer may be different threads (shared memory)', async (t) => {
  const sab = HandoffRing.create(8, 32)
  const a = new HandoffRing(sab, 8, 32)
  const b = new HandoffRing(sab, 8, 32)
  a.push(Buffer.from('hello'), 0, 5)
  const out = Buffer.alloc(32)
  t.equal(b.pop(out, 0), 5)
  t.equal(out.toString('latin1', 0, 5), 'hello')
  t.equal(a.size(), 0)
})

t.test('FragmentOwners: remembers, forgets after the timeout, keys by every field', async (t) => {
  const owners = new FragmentOwners()
  owners.remember(5001, 1, 2, 17 | (7 << 8), 2, 100)
  t.equal(owners.ownerOf(5001, 1, 2, 17 | (7 << 8), 101), 2)
  t.equal(owners.ownerOf(5002, 1, 2, 17 | (7 << 8), 101), -1, 'other scope')
  t.equal(owners.ownerOf(5001, 1, 3, 17 | (7 << 8), 101), -1, 'other destination')
  t.equal(owners.ownerOf(5001, 1, 2, 17 | (8 << 8), 101), -1, 'other IP id')
  t.equal(owners.ownerOf(5001, 1, 2, 17 | (7 << 8), 100 + FRAGMENT_OWNER_TIMEOUT + 1), -1, 'expired')
})

t.test('WorkerHandoff: fragments follow their first fragment to its owner, woken by eventfd', async (t) => {
  const shared = createHandoffShared(3, 2048 - RX_HEADROOM)
  t.teardown(() => closeHandoffShared(shared))
  const counters = [ioCounters(), ioCounters(), ioCounters()]
  const workers = [0, 1, 2].map((i) => new WorkerHandoff(shared, i, 64, 2048, counters[i]!))
  for (const w of workers) w.setFrontends([{ address: parseIPv4('10.1.5.100'), port: 80 }], true)
  // A UDP datagram from client port 40001 (≡ 2 mod 3): its fragments arrive at worker 0.
  const parts = fragments(ipPacket({ src: '198.51.100.10', dst: '203.0.113.10', sport: 40001, dport: 53, payload: Buffer.alloc(900, 1) }), 400, 77)
  const frames = parts.map((p) => ethernet('02:00:00:00:00:01', '02:00:00:00:00:02', 0x0800, p))
  t.equal(frames.length, 3)
  for (const w of workers) w.setNow(10)
  t.same(frames.map((f) => workers[0]!.route(f, 0, f.length)), [true, true, true], 'all three handed over')
  t.equal(counters[0]![IO_HANDOFFS_OUT], 3)
  const poll = new PollSet([workers[2]!.fd, workers[1]!.fd])
  t.equal(poll.wait(0), 0, 'nobody woken before the batch ends')
  workers[0]!.wake()
  t.equal(poll.wait(0), 1, 'worker 2 woken, worker 1 not')
  t.equal(workers[2]!.receive(), 3)
  t.equal(counters[2]![IO_HANDOFFS_IN], 3)
  const inbox = workers[2]!
  t.same([0, 1, 2].map((i) => inbox.rxBuffer.subarray(inbox.rxOffsets[i]!, inbox.rxOffsets[i]! + inbox.rxLengths[i]!).equals(frames[i]!)), [true, true, true], 'byte for byte, in order')
  t.ok(inbox.rxOffsets[0]! >= RX_HEADROOM, 'behind the headroom')
  t.equal(poll.wait(0), 0, 'the eventfd was reset')

  // A later fragment whose first fragment was not seen: processed where it is.
  const orphan = ethernet('02:00:00:00:00:01', '02:00:00:00:00:02', 0x0800, fragments(ipPacket({ src: '198.51.100.10', dst: '203.0.113.10', sport: 40001, dport: 53, payload: Buffer.alloc(900) }), 400, 78)[1]!)
  t.notOk(workers[0]!.route(orphan, 0, orphan.length))

  // A request to the CA VIP (NVGRE) from client port 40000 (≡ 1): to worker 1; the backend's reply to VIP:40000 too.
  const request = ethernet('02:00:00:00:00:01', '02:00:00:00:00:02', 0x0800, nvgre('192.168.6.7', '192.168.6.2', 5002, '02:00:00:00:00:01', '00:15:5d:01:05:20', ipPacket({ src: '10.1.5.20', dst: '10.1.5.100', sport: 40000, dport: 80, protocol: 6 })))
  const reply = ethernet('02:00:00:00:00:01', '02:00:00:00:00:02', 0x0800, nvgre('192.168.6.4', '192.168.6.2', 5001, '02:00:00:00:00:01', '00:15:5d:01:06:21', ipPacket({ src: '10.1.6.21', dst: '10.1.5.100', sport: 80, dport: 40000, protocol: 6 })))
  t.ok(workers[0]!.route(request, 0, request.length), 'request handed to worker 1')
  t.notOk(workers[1]!.route(request, 0, request.length), 'worker 1 keeps it')
  t.notOk(workers[1]!.route(reply, 0, reply.length), 'and the reply')
  t.ok(workers[2]!.route(reply, 0, reply.length), 'which worker 2 hands over')
  workers[0]!.wake()
  workers[2]!.wake()
  t.equal(workers[1]!.receive(), 2)

  // A full ring drops and counts.
  let handed = 0
  while (workers[0]!.route(request, 0, request.length) && counters[0]![IO_HANDOFF_DROPS] === 0) handed++
  t.equal(handed, shared.slots, 'the ring holds its slots')
  t.equal(counters[0]![IO_HANDOFF_DROPS], 1, 'then drops, counted')
})
