import t from 'tap'
import fc from 'fast-check'
import * as tcp from '../../lib/packet/tcp'
import { parseIPv4 } from '../../lib/packet/address'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'
import { pseudoHeaderWords, referenceChecksum } from './reference-checksum'

const codec: HeaderCodec<tcp.TcpHeader> = { ...tcp, create: tcp.createTcpHeader }

function header(fields: Partial<tcp.TcpHeader> = {}): tcp.TcpHeader {
  return {
    ...tcp.createTcpHeader(),
    srcPort: 40000,
    dstPort: 80,
    seq: 0xdeadbeef,
    ack: 0x01020304,
    flags: tcp.TCP_FLAG_ACK | tcp.TCP_FLAG_PSH,
    window: 29200,
    checksum: 0x1234,
    ...fields,
  }
}

const SRC = parseIPv4('198.51.100.10')
const DST = parseIPv4('10.1.6.21')

t.test('constants', async (t) => {
  t.equal(tcp.TCP_FLAG_FIN, 0x01)
  t.equal(tcp.TCP_FLAG_SYN, 0x02)
  t.equal(tcp.TCP_FLAG_RST, 0x04)
  t.equal(tcp.TCP_FLAG_PSH, 0x08)
  t.equal(tcp.TCP_FLAG_ACK, 0x10)
  t.equal(tcp.TCP_FLAG_URG, 0x20)
  t.equal(tcp.TCP_OPTION_MSS, 2)
  t.equal(tcp.TCP_OPTION_NOP, 1)
  t.equal(tcp.TCP_OPTION_EOL, 0)
  t.equal(tcp.TCP_HEADER_LENGTH, 20)
})

t.test('bare header: exact bytes, round trip, truncation', async (t) => {
  const v = header()
  const bytes = checkRoundTrip(t, codec, v)
  t.equal(
    bytes.toString('hex'),
    '9c40' + '0050' + 'deadbeef' + '01020304' + '50' + '18' + '7210' + '1234' + '0000',
  )
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
})

t.test('SYN with MSS, SACK-permitted, timestamps, NOP, window scale', async (t) => {
  const v = header({ flags: tcp.TCP_FLAG_SYN, ack: 0 })
  const options = Buffer.from('020405b4' + '0402' + '080a0001e2400000000' + '0' + '01' + '030307', 'hex')
  t.equal(options.length, 20)
  v.options.set(options)
  v.optionsLength = 20
  const expected = { ...v, headerLength: 40, mss: 1460 }
  const bytes = checkRoundTrip(t, codec, v, { expected })
  t.equal(bytes[12], 0xa0, 'data offset 10')
  t.equal(tcp.findMssOption(bytes, 0, 40), 22)
  checkTruncation(t, codec, bytes)
})

t.test('NS flag lives in the data offset byte', async (t) => {
  const v = header({ flags: tcp.TCP_FLAG_NS | tcp.TCP_FLAG_CWR | tcp.TCP_FLAG_ECE | tcp.TCP_FLAG_SYN })
  const bytes = checkRoundTrip(t, codec, v)
  t.equal(bytes[12], 0x51)
  t.equal(bytes[13], 0xc2)
})

t.test('findMssOption', async (t) => {
  const at = (options: string, headerLength = 20 + Buffer.from(options, 'hex').length, tcpOff = 3): number => {
    const buf = Buffer.alloc(tcpOff + Math.max(headerLength, 20 + options.length / 2))
    buf.write(options, tcpOff + 20, 'hex')
    const result = tcp.findMssOption(buf, tcpOff, headerLength)
    return result < 0 ? result : result - tcpOff
  }
  t.equal(at('020405b4'), 22, 'first option')
  t.equal(at('0101020405b4'), 24, 'after NOPs')
  t.equal(at('0402020405b4'), 24, 'after SACK-permitted')
  t.equal(at('080a00000001000000020101020405b4'), 34, 'after timestamps')
  t.equal(at(''), -1, 'no options')
  t.equal(at('0000020405b4'), -1, 'after EOL')
  t.equal(at('0402'), -1, 'other options only')
  t.equal(at('020305b4'), -1, 'MSS option of length 3')
  t.equal(at('020605b40000'), -1, 'MSS option of length 6')
  t.equal(at('0400020405b4'), -1, 'option length 0 (malformed)')
  t.equal(at('0401020405b4'), -1, 'option length 1 (malformed)')
  t.equal(at('08ff020405b4'), -1, 'option running past the header')
  t.equal(at('020405b4', 22), -1, 'header length cuts the option')
  t.equal(at('01', 21), -1, 'kind without length at the end')
  const short = Buffer.from('0000000000000000000000006000000000000000020405', 'hex')
  t.equal(tcp.findMssOption(short, 0, 24), -1, 'buffer shorter than the header length')
})

t.test('encodeMssOption', async (t) => {
  const buf = Buffer.alloc(6)
  t.equal(tcp.encodeMssOption(1418, buf, 2), 4)
  t.equal(buf.toString('hex'), '0000' + '0204058a')
  t.equal(tcp.encodeMssOption(1418, buf, 3), -1)
})

t.test('decode rejects data offset < 5 and headers beyond the buffer; keeps malformed options', async (t) => {
  const out = tcp.createTcpHeader()
  const bytes = Buffer.alloc(24)
  tcp.encode(header(), bytes, 0)
  for (const doff of [0, 4]) {
    bytes[12] = doff << 4
    t.equal(tcp.decode(bytes, 0, out), -1, `data offset ${doff}`)
  }
  bytes[12] = 0x70
  t.equal(tcp.decode(bytes, 0, out), -1, 'data offset 7 in a 24-byte buffer')
  bytes[12] = 0x60
  bytes.write('02ff0000', 20, 'hex')
  t.equal(tcp.decode(bytes, 0, out), 24, 'malformed option: header still decodes')
  t.equal(out.mss, -1)
  t.same(Array.from(out.options.subarray(0, out.optionsLength)), [2, 0xff, 0, 0])
})

t.test('checksum helpers agree with an independent recompute', async (t) => {
  const payload = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  const segment = Buffer.alloc(20 + payload.length)
  tcp.encode(header({ checksum: 0xffff }), segment, 0)
  payload.copy(segment, 20)
  t.notOk(tcp.verifyTcpChecksum(segment, 0, segment.length, SRC, DST))
  const expected = referenceChecksum(segment, 16, pseudoHeaderWords(SRC, DST, 6, segment.length))
  t.equal(tcp.tcpChecksum(segment, 0, segment.length, SRC, DST), expected, 'independent of the stored field')
  tcp.writeTcpChecksum(segment, 0, segment.length, SRC, DST)
  t.equal(segment.readUInt16BE(16), expected)
  t.ok(tcp.verifyTcpChecksum(segment, 0, segment.length, SRC, DST))
  t.notOk(tcp.verifyTcpChecksum(segment, 0, segment.length, SRC, DST + 1), 'pseudo-header covered')
  t.notOk(tcp.verifyTcpChecksum(segment, 0, segment.length + 1, SRC, DST), 'length beyond the buffer')
  t.notOk(tcp.verifyTcpChecksum(segment, 0, 19, SRC, DST), 'shorter than a header')
})

t.test('property: random headers round-trip; checksum helpers match the reference', async (t) => {
  const arb = fc.record({
    srcPort: fc.nat(0xffff),
    dstPort: fc.nat(0xffff),
    seq: fc.nat(0xffffffff),
    ack: fc.nat(0xffffffff),
    flags: fc.nat(0x1ff),
    window: fc.nat(0xffff),
    checksum: fc.nat(0xffff),
    urgent: fc.nat(0xffff),
    optionWords: fc.nat(10),
    mss: fc.option(fc.nat(0xffff)),
    payload: fc.uint8Array({ maxLength: 50 }),
    src: fc.nat(0xffffffff),
    dst: fc.nat(0xffffffff),
    off: fc.nat(20),
  })
  fc.assert(
    fc.property(arb, (r) => {
      const v = tcp.createTcpHeader()
      v.srcPort = r.srcPort
      v.dstPort = r.dstPort
      v.seq = r.seq
      v.ack = r.ack
      v.flags = r.flags
      v.window = r.window
      v.checksum = r.checksum
      v.urgent = r.urgent
      v.optionsLength = r.optionWords * 4
      v.options.fill(tcp.TCP_OPTION_NOP, 0, v.optionsLength)
      if (r.mss !== null && v.optionsLength >= 4) tcp.encodeMssOption(r.mss, v.options, v.optionsLength - 4)
      v.mss = r.mss !== null && v.optionsLength >= 4 ? r.mss : -1
      v.headerLength = 20 + v.optionsLength
      const buf = Buffer.alloc(r.off + v.headerLength + r.payload.length)
      if (tcp.encode(v, buf, r.off) !== v.headerLength) return false
      buf.set(r.payload, r.off + v.headerLength)
      const out = tcp.createTcpHeader()
      if (tcp.decode(buf, r.off, out) !== v.headerLength || JSON.stringify(out) !== JSON.stringify(v)) return false
      const length = v.headerLength + r.payload.length
      tcp.writeTcpChecksum(buf, r.off, length, r.src, r.dst)
      const segment = buf.subarray(r.off)
      return (
        segment.readUInt16BE(16) === referenceChecksum(segment, 16, pseudoHeaderWords(r.src, r.dst, 6, length)) &&
        tcp.verifyTcpChecksum(buf, r.off, length, r.src, r.dst)
      )
    }),
  )
  t.pass('round-trips')
})

t.test('property: random bytes never throw', async (t) => {
  const out = tcp.createTcpHeader()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70 }), fc.integer({ min: -1, max: 70 }), fc.nat(70), (bytes, off, len) => {
      const n = tcp.decode(bytes, off, out)
      const m = tcp.findMssOption(bytes, Math.max(0, off), len)
      return (n === -1 || (n >= 20 && n <= 60)) && (m === -1 || m + 2 <= bytes.length)
    }),
  )
  t.pass('no throw')
})
