import t from 'tap'
import { QUOTE_MALFORMED, QUOTE_UNSUPPORTED, QuotedHeader } from '../../lib/dataplane/icmp-translate'
import { buildFrame } from '../../lib/packet/frame'
import { parseIPv4 } from '../../lib/packet/address'

const icmp = (type: number, quote: object | null) =>
  buildFrame({
    eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    ipv4: { src: '198.51.100.10', dst: '203.0.113.10' },
    icmp: quote === null ? { type, id: 1, seq: 1 } : { type, code: 3, quote, quoteLength: 28 },
  } as never)

t.test('the quoted header of a destination-unreachable', async (t) => {
  const f = icmp(3, { ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, udp: { srcPort: 80, dstPort: 40000 } })
  const q = new QuotedHeader()
  t.equal(q.parse(f, 34, f.length), 42)
  t.equal(q.protocol, 17)
  t.equal(q.src, parseIPv4('203.0.113.10') | 0)
  t.equal(q.dst, parseIPv4('198.51.100.10') | 0)
  t.equal(q.portsSwapped, (40000 << 16) | 80)
})

t.test('echo is not translated; a cut quote is malformed', async (t) => {
  const q = new QuotedHeader()
  const echo = icmp(8, null)
  t.equal(q.parse(echo, 34, echo.length), QUOTE_UNSUPPORTED)
  const f = icmp(3, { ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, udp: { srcPort: 80, dstPort: 40000 } })
  t.equal(q.parse(f, 34, f.length - 4), QUOTE_MALFORMED)
})
