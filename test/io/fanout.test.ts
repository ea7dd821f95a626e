import t from 'tap'
import { randomInt } from 'node:crypto'
import { AfPacketPort, type FanoutMode } from '../../lib/io/af-packet-socket'
import { arpRepliesOnlyFilter, memberFilter, steeringPlan, steeringProgram, type Frontend } from '../../lib/io/fanout-program'
import { STEER_KEY, SteeringKey } from '../../lib/io/steering-key'
import { PollSet } from '../../lib/io/poll-set'
import * as libc from '../../lib/io/libc'
import { parseIPv4 } from '../../lib/packet/address'
import { createVethPair, linkExists, SKIP_NOT_ROOT } from './helpers/veth'
import { ethernet, icmpError, ipPacket, nvgre, testFrame } from './helpers/frames'

const NVLB_MAC = '02:00:c0:a8:06:02'
const HOST_MAC = '02:00:c0:a8:06:04'
const CLIENT_MAC = '02:00:c6:33:64:0a'
const CA_VIP = '10.1.5.100'

/** A frame's identity for the test: we put a unique id into every UDP payload / test frame. */
function idOf(frame: Buffer): string | null {
  const at = frame.indexOf('id:')
  return at < 0 ? null : frame.subarray(at, at + 12).toString()
}

function payload(id: string): Buffer {
  return Buffer.from(`id:${id.padEnd(9, '.')}`)
}

/** Reads every member until `total` identified frames arrived (or 2 s of silence); id → member indexes. */
function collect(members: AfPacketPort[], total: number): Map<string, number[]> {
  const seen = new Map<string, number[]>()
  let count = 0
  const poll = new PollSet(members.map((m) => m.fd))
  while (count < total) {
    const ready = poll.wait(2000)
    if (ready === 0) break
    members.forEach((m, index) => {
      if ((ready & (1 << index)) === 0) return
      const n = m.receive()
      for (let i = 0; i < n; i++) {
        const id = idOf(m.rxBuffer.subarray(m.rxOffsets[i]!, m.rxOffsets[i]! + m.rxLengths[i]!))
        if (id === null) continue
        const list = seen.get(id) ?? []
        list.push(index)
        seen.set(id, list)
        count++
      }
    })
  }
  return seen
}

const createdNames: string[] = []

t.test('PACKET_FANOUT groups', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair()
  createdNames.push(veth.a, veth.b)
  const ports: AfPacketPort[] = []
  t.teardown(() => {
    for (const p of ports) p.close()
    veth.remove()
  })
  const sender = new AfPacketPort({ interfaceName: veth.a })
  ports.push(sender)
  const group = (mode: FanoutMode, members = 2, steering?: Buffer): AfPacketPort[] => {
    const groupId = randomInt(1, 0xffff)
    const program = mode === 'client-port' ? (steering ?? steeringProgram([{ address: parseIPv4(CA_VIP), port: 80 }])) : undefined
    return Array.from({ length: members }, () => {
      const p = new AfPacketPort({ interfaceName: veth.b, fanout: { groupId, mode, program }, filter: memberFilter(true) })
      ports.push(p)
      return p
    })
  }
  const send = (frames: Buffer[]): void => {
    for (const f of frames) sender.send(f, 0, f.length)
    sender.flush()
  }

  t.test('hash fanout: two members, every frame exactly once', async (t) => {
    const members = group('hash')
    const frames = Array.from({ length: 200 }, (_, i) =>
      ethernet(NVLB_MAC, CLIENT_MAC, 0x0800, ipPacket({ src: `198.51.100.${10 + (i % 50)}`, dst: '203.0.113.10', sport: 30000 + i, dport: 80, payload: payload(`h${i}`) })),
    )
    send(frames)
    const seen = collect(members, frames.length)
    t.equal(seen.size, 200, 'every frame arrived')
    t.ok([...seen.values()].every((list) => list.length === 1), 'none twice')
    const perMember = [0, 1].map((m) => [...seen.values()].filter((list) => list[0] === m).length)
    t.ok(perMember.every((n) => n > 0), `both members got frames: ${perMember.join(' / ')}`)
  })

  const manyFrontends = Array.from({ length: 20000 }, (_, i) => ({ address: 0x0a000000 + (i >> 4), port: 1000 + (i % 400) }))
  const programs: [string, Frontend[]][] = [
    ['with the frontend table', [{ address: parseIPv4(CA_VIP), port: 80 }]],
    ['too many frontends for a table (port-order fallback)', [...manyFrontends, { address: parseIPv4(CA_VIP), port: 80 }]],
  ]
  for (const [name, frontends] of programs) {
    t.test(`client-port fanout ${name}: both directions of a flow and ICMP errors about it reach one member`, async (t) => {
      const members = group('client-port', 2, steeringProgram(frontends))
      const frames: Buffer[] = []
      const flows = 64
      const kinds = 'abcdefgh'
      const tenant = (outerSrc: string, vsid: number, inner: Buffer): Buffer =>
        ethernet(NVLB_MAC, HOST_MAC, 0x0800, nvgre(outerSrc, '192.168.6.2', vsid, '02:00:00:00:00:01', '00:15:5d:01:06:21', inner))
      for (let f = 0; f < flows; f++) {
        const clientPort = 40000 + f * 37
        const natPort = 1024 + ((f * 131) & ~1) + (clientPort & 1) // fullnat port ≡ client port (mod 2)
        const id = (k: string): Buffer => payload(`${f}${k}`)
        // Public VIP: request (plain IPv4 from the client) and the backend's NVGRE reply to the client.
        frames.push(ethernet(NVLB_MAC, CLIENT_MAC, 0x0800, ipPacket({ src: '198.51.100.10', dst: '203.0.113.10', sport: clientPort, dport: 80, payload: id('a') })))
        frames.push(tenant('192.168.6.4', 5001, ipPacket({ src: '10.1.6.21', dst: '198.51.100.10', sport: 8080, dport: clientPort, payload: id('b') })))
        // CA VIP (fullnat): request from blue-vm11 to the VIP, the backend's reply to VIP:natPort.
        frames.push(tenant('192.168.6.7', 5002, ipPacket({ src: '10.1.5.20', dst: CA_VIP, sport: clientPort, dport: 80, protocol: 6, payload: id('c') })))
        frames.push(tenant('192.168.6.4', 5002, ipPacket({ src: '10.1.6.21', dst: CA_VIP, sport: 80, dport: natPort, protocol: 6, payload: id('d') })))
        // ICMP errors about packets nvlb sent: to the client (public return), to the backend (public, dnat),
        // to the backend (fullnat), to the CA VIP's client (fullnat return).
        frames.push(ethernet(NVLB_MAC, CLIENT_MAC, 0x0800, icmpError('198.51.100.254', '203.0.113.10', 3, 4,
          ipPacket({ src: '203.0.113.10', dst: '198.51.100.10', sport: 80, dport: clientPort, payload: id('e') }))))
        frames.push(tenant('192.168.6.4', 5001, icmpError('10.1.6.21', '198.51.100.10', 3, 3,
          ipPacket({ src: '198.51.100.10', dst: '10.1.6.21', sport: clientPort, dport: 8080, payload: id('f') }))))
        frames.push(tenant('192.168.6.4', 5002, icmpError('10.1.6.21', CA_VIP, 11, 0,
          ipPacket({ src: CA_VIP, dst: '10.1.6.21', sport: natPort, dport: 80, protocol: 6, payload: id('g') }))))
        frames.push(tenant('192.168.6.7', 5002, icmpError('10.1.5.20', CA_VIP, 3, 4,
          ipPacket({ src: CA_VIP, dst: '10.1.5.20', sport: 80, dport: clientPort, protocol: 6, payload: id('h') }))))
      }
      send(frames)
      const seen = collect(members, frames.length)
      t.equal(seen.size, frames.length, 'every frame arrived')
      t.ok([...seen.values()].every((list) => list.length === 1), 'none twice')
      const split: string[] = []
      for (let f = 0; f < flows; f++) {
        const where = [...kinds].map((k) => seen.get(`id:${`${f}${k}`.padEnd(9, '.')}`)?.[0])
        const publicFlow = [where[0], where[1], where[4], where[5]]
        const caFlow = [where[2], where[3], where[6], where[7]]
        if (new Set(publicFlow).size !== 1 || new Set(caFlow).size !== 1) split.push(`flow ${f}: ${where.join(',')}`)
      }
      t.same(split, [], 'no flow split over two members')
      const perMember = [0, 1].map((m) => [...seen.values()].filter((list) => list[0] === m).length)
      t.ok(perMember.every((n) => n > 0), `both members got flows: ${perMember.join(' / ')}`)

      // The workers' software check computes the kernel's key: for every frame, key mod 2 = the member it reached.
      const software = new SteeringKey()
      software.setFrontends(frontends, steeringPlan(frontends).table)
      const disagree: string[] = []
      for (const frame of frames) {
        const id = idOf(frame)!
        const kind = software.classify(frame, 0, frame.length)
        if (kind !== STEER_KEY || (software.key >>> 0) % 2 !== seen.get(id)?.[0]) disagree.push(`${id}: kind ${kind} key ${software.key} member ${seen.get(id)?.[0]}`)
      }
      t.same(disagree, [], 'the software steering key agrees with the kernel on every frame')
    })
  }

  t.test('ARP replies reach every worker through its own listener, not the fanout members', async (t) => {
    const members = group('client-port')
    const listeners = [0, 1].map(() => {
      const p = new AfPacketPort({ interfaceName: veth.b, filter: arpRepliesOnlyFilter(), batchSize: 8 })
      ports.push(p)
      return p
    })
    const arp = (op: number, id: string): Buffer => {
      const body = Buffer.alloc(28 + 12)
      body.writeUInt16BE(1, 0)
      body.writeUInt16BE(0x0800, 2)
      body[4] = 6
      body[5] = 4
      body.writeUInt16BE(op, 6)
      payload(id).copy(body, 28)
      return ethernet('ff:ff:ff:ff:ff:ff', HOST_MAC, 0x0806, body)
    }
    send([arp(1, 'request'), arp(2, 'reply'), testFrame(1, 1, 60)])
    const onMembers = collect(members, 1)
    const onListeners = collect(listeners, 2)
    t.same([...onMembers.keys()], ['id:request..'], 'the request goes to one member')
    t.same(onListeners.get('id:reply....'), [0, 1], 'the reply to every listener')
    t.notOk(onListeners.has('id:request..'))
  })
})

t.test('the kernel accepts steering programs of every size (classic BPF checker)', { skip: SKIP_NOT_ROOT }, async (t) => {
  const fd = libc.socket(libc.AF_PACKET, libc.SOCK_RAW | libc.SOCK_CLOEXEC, 0)
  t.teardown(() => libc.close(fd))
  for (const n of [0, 1, 300, 2000, 20000]) {
    const frontends = Array.from({ length: n }, (_, i) => ({ address: 0x0a000000 + (i >> 4), port: 1000 + (i % 400) }))
    const program = steeringProgram(frontends)
    const fprog = libc.encodeStruct(libc.SockFprog, { len: program.length / 8, filter: BigInt(libc.bufferAddress(program)) })
    t.equal(libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_ATTACH_FILTER, fprog, fprog.length), 0, `${n} frontends`)
  }
})

t.test('no interface is left behind', { skip: SKIP_NOT_ROOT }, async (t) => {
  t.same(createdNames.filter((name) => linkExists(name)), [])
})
