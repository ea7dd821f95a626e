import t from 'tap'
import fc from 'fast-check'
import { buildFrame, fragmentFrame, parseFrame, reassembleFrames } from '../../lib/packet/frame'
import { ErrorCodes } from '../../lib/errors'

const eth = { src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' }

function bigUdp(payloadLength: number, options?: Uint8Array): Buffer {
  const payload = Buffer.alloc(payloadLength)
  for (let i = 0; i < payloadLength; i++) payload[i] = i & 0xff
  return buildFrame({ eth, ipv4: { src: '198.51.100.10', dst: '203.0.113.10', id: 0x4242, ...(options ? { options } : {}) }, udp: { srcPort: 5000, dstPort: 53 }, payload })
}

t.test('a 3008-byte datagram at MTU 1500: three fragments of 1480, 1480, 48 bytes', async (t) => {
  const frame = bigUdp(3000)
  const fragments = fragmentFrame(frame, 1500)
  t.equal(fragments.length, 3)
  const parsed = fragments.map((f) => parseFrame(f)!)
  t.same(parsed.map((p) => p.ipv4!.totalLength), [1500, 1500, 68])
  t.same(parsed.map((p) => p.ipv4!.fragmentOffset), [0, 185, 370])
  t.same(parsed.map((p) => p.ipv4!.mf), [true, true, false])
  t.ok(parsed.every((p) => p.ipv4!.checksumValid && p.ipv4!.id === 0x4242 && p.eth.dst === eth.dst))
  t.match(parsed[0]!.udp, { srcPort: 5000, length: 3008, checksumValid: null })
  t.equal(parsed[1]!.udp, null, 'later fragments: no L4')
  const whole = reassembleFrames([fragments[2]!, fragments[0]!, fragments[1]!])!
  t.ok(whole.equals(frame), 'reassembled in any order equals the original frame')
  t.equal(parseFrame(whole)!.udp!.checksumValid, true)
})

t.test('a packet that fits comes back unchanged', async (t) => {
  const frame = bigUdp(100)
  t.same(fragmentFrame(frame, 1500), [frame])
})

t.test('only options with the copied bit go into later fragments', async (t) => {
  // security-like option 0x82 (copied), then record route 0x07 (not copied), NOP padding
  const options = Uint8Array.from([0x82, 4, 0xaa, 0xbb, 0x07, 3, 4, 1])
  const fragments = fragmentFrame(bigUdp(2000, options), 1000)
  const parsed = fragments.map((f) => parseFrame(f)!)
  t.same([...parsed[0]!.ipv4!.options], [...options])
  for (const p of parsed.slice(1)) t.same([...p.ipv4!.options], [0x82, 4, 0xaa, 0xbb])
  t.ok(parsed.every((p) => p.ipv4!.totalLength <= 1000), 'every fragment fits the MTU')
  t.ok(parsed.every((p) => !p.ipv4!.mf || (p.ipv4!.totalLength - p.ipv4!.headerLength) % 8 === 0), 'data of all but the last in multiples of 8')
  t.ok(reassembleFrames(fragments)!.subarray(14 + 28).equals(bigUdp(2000, options).subarray(14 + 28)), 'payload restored')
})

t.test('reassembleFrames refuses incomplete or mixed sets', async (t) => {
  const fragments = fragmentFrame(bigUdp(3000), 1500)
  t.equal(reassembleFrames([]), null)
  t.equal(reassembleFrames([fragments[0]!, fragments[2]!]), null, 'a hole')
  t.equal(reassembleFrames([fragments[1]!, fragments[2]!]), null, 'no first fragment')
  t.equal(reassembleFrames([fragments[0]!, fragments[1]!]), null, 'no last fragment')
  const other = fragmentFrame(buildFrame({ eth, ipv4: { src: '198.51.100.10', dst: '203.0.113.10', id: 1 }, udp: { srcPort: 1, dstPort: 2 }, payload: Buffer.alloc(3000) }), 1500)
  t.equal(reassembleFrames([fragments[0]!, other[1]!, fragments[2]!]), null, 'another datagram')
})

t.test('fragmentFrame refuses non-IPv4 and impossible MTUs', async (t) => {
  const arp = buildFrame({ eth, arp: { op: 'request', senderMac: eth.src, senderIp: '1.1.1.1', targetIp: '2.2.2.2' } })
  t.throws(() => fragmentFrame(arp, 1500), { code: ErrorCodes.INVALID_FIELD })
  t.throws(() => fragmentFrame(bigUdp(100), 27), { code: ErrorCodes.INVALID_FIELD })
})

t.test('property: fragment then reassemble is the identity', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 68, max: 1500 }), fc.boolean(), (length, mtu, reverse) => {
      const frame = bigUdp(length)
      const fragments = fragmentFrame(frame, mtu)
      if (fragments.some((f) => f.length - 14 > mtu)) return false
      const whole = reassembleFrames(reverse ? [...fragments].reverse() : fragments)
      return whole !== null && whole.equals(frame)
    }),
    { numRuns: 50 },
  )
  t.pass('identity')
})
