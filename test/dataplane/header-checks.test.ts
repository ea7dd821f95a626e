import t from 'tap'
import { checkIPv4, HEADER_OK, hasL4Header, headerSum20 } from '../../lib/dataplane/header-checks'
import { DropReason } from '../../lib/dataplane/drop-reasons'
import { buildFrame } from '../../lib/packet/frame'

const frame = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { srcPort: 1, dstPort: 2, flags: ['syn'], mss: 1460 } })

t.test('IPv4 header checks', async (t) => {
  t.equal(checkIPv4(frame, 14, frame.length), HEADER_OK)
  t.equal(checkIPv4(frame, 14, 30), DropReason.TRUNCATED)
  t.equal(checkIPv4(frame, 14, frame.length - 1), DropReason.TRUNCATED, 'total length beyond the frame')
  const v6 = Buffer.from(frame)
  v6[14] = 0x65
  t.equal(checkIPv4(v6, 14, v6.length), DropReason.BAD_IP_HEADER)
  const shortIhl = Buffer.from(frame)
  shortIhl[14] = 0x44
  t.equal(checkIPv4(shortIhl, 14, shortIhl.length), DropReason.BAD_IP_HEADER)
  t.equal(headerSum20(frame, 14), 0xffff, 'a right checksum sums to 0xffff')
  const bad = Buffer.from(frame)
  bad[24]! ^= 1
  t.not(headerSum20(bad, 14), 0xffff)
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
