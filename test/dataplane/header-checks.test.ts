import t from 'tap'
import { checkIPv4, HEADER_OK, hasL4Header, headerSum, headerSum20 } from '../../lib/dataplane/header-checks'
import { onesSum } from '../../lib/packet/checksum'
import { DropReason } from '../../lib/dataplane/drop-reasons'
import { buildFrame } from '../../lib/packet/frame'

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
const frame = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { srcPort: 1, dstPort: 2, flags: ['syn'], mss: 1460 } })

t.test('IPv4 header checks', async (t) => {
  t.equal(checkIPv4(view(frame), 14, frame.length), HEADER_OK)
  t.equal(checkIPv4(view(frame), 14, 30), DropReason.TRUNCATED)
  t.equal(checkIPv4(view(frame), 14, frame.length - 1), DropReason.TRUNCATED, 'total length beyond the frame')
  const v6 = Buffer.from(frame)
  v6[14] = 0x65
  t.equal(checkIPv4(view(v6), 14, v6.length), DropReason.BAD_IP_HEADER)
  const shortIhl = Buffer.from(frame)
  shortIhl[14] = 0x44
  t.equal(checkIPv4(view(shortIhl), 14, shortIhl.length), DropReason.BAD_IP_HEADER)
  t.equal(headerSum20(view(frame), 14), 0xffff, 'a right checksum sums to 0xffff')
  const bad = Buffer.from(frame)
  bad[24]! ^= 1
  t.not(headerSum20(view(bad), 14), 0xffff)
  t.equal(checkIPv4(view(bad), 14, bad.length), DropReason.BAD_IP_CHECKSUM)
})

t.test('the header sums agree with the byte-wise one\'s-complement sum, with and without options', async (t) => {
  let seed = 7
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) & 0xff
  for (let n = 0; n < 500; n++) {
    const ihl = 20 + 4 * (n % 11)
    const header = Buffer.alloc(ihl + 3)
    for (let i = 0; i < header.length; i++) header[i] = random()
    const at = n % 3 // unaligned too
    t.equal(headerSum(view(header), at, ihl), onesSum(header, at, ihl), `ihl ${ihl} at ${at}`)
    if (ihl === 20) t.equal(headerSum20(view(header), at), onesSum(header, at, 20))
  }
  const options = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2', options: Buffer.from([1, 1, 1, 0]) }, udp: { srcPort: 1, dstPort: 2 } })
  t.equal(checkIPv4(view(options), 14, options.length), HEADER_OK, 'a header with options and a right checksum')
  options[14 + 21]! ^= 0x10
  t.equal(checkIPv4(view(options), 14, options.length), DropReason.BAD_IP_CHECKSUM, 'a wrong byte among the options')
})

t.test('TCP and UDP header checks include the TCP options', async (t) => {
  t.ok(hasL4Header(frame, 6, 34, frame.length))
  t.notOk(hasL4Header(frame, 6, 34, frame.length - 1), 'the MSS option cut short')
  t.ok(hasL4Header(frame, 17, 34, 42))
  t.notOk(hasL4Header(frame, 17, 34, 41))
  const badOffset = Buffer.from(frame)
  badOffset[34 + 12] = 0x40
  t.notOk(hasL4Header(badOffset, 6, 34, badOffset.length), 'data offset below 20')
})
