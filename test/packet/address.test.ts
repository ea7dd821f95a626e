import t from 'tap'
import fc from 'fast-check'
import {
  canonicalMac,
  formatIPv4,
  formatMac,
  parseIPv4,
  parseMac,
  parseMacInto,
  parsePrefix,
  prefixMask,
} from '../../lib/packet/address'

t.test('parseIPv4 gives unsigned 32-bit numbers', async (t) => {
  t.equal(parseIPv4('0.0.0.0'), 0)
  t.equal(parseIPv4('10.1.6.21'), 0x0a010615)
  t.equal(parseIPv4('192.168.6.2'), 0xc0a80602)
  t.equal(parseIPv4('255.255.255.255'), 0xffffffff, 'no sign bit trouble')
})

t.test('parseIPv4 refuses what is not a dotted quad', async (t) => {
  for (const bad of [
    '', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-4', '01.2.3.4', '1.2.3.04', ' 1.2.3.4', '1.2.3.4 ',
    '1.2.3.4/24', 'a.b.c.d', '1..2.3', '1.2.3.1000', '0x1.2.3.4', '::1',
  ]) {
    t.equal(parseIPv4(bad), -1, JSON.stringify(bad))
  }
})

t.test('property: formatIPv4 and parseIPv4 are inverse', async (t) => {
  fc.assert(fc.property(fc.nat(0xffffffff), (n) => parseIPv4(formatIPv4(n)) === n))
  fc.assert(fc.property(fc.ipV4(), (text) => formatIPv4(parseIPv4(text)) === text))
  t.pass('inverse')
})

t.test('parsePrefix clears host bits; prefixMask', async (t) => {
  t.same(parsePrefix('10.1.6.21/24'), { address: 0x0a010600, length: 24 })
  t.same(parsePrefix('0.0.0.0/0'), { address: 0, length: 0 })
  t.same(parsePrefix('203.0.113.10/32'), { address: 0xcb00710a, length: 32 })
  t.same(parsePrefix('255.255.255.255/1'), { address: 0x80000000, length: 1 })
  for (const bad of ['10.1.6.0', '10.1.6.0/33', '10.1.6.0/', '/24', '10.1.6/24', '10.1.6.0/2a', '10.1.6.0/-1', '10.1.6.0/100']) {
    t.equal(parsePrefix(bad), null, JSON.stringify(bad))
  }
  t.equal(prefixMask(0), 0)
  t.equal(prefixMask(8), 0xff000000)
  t.equal(prefixMask(24), 0xffffff00)
  t.equal(prefixMask(32), 0xffffffff)
})

t.test('parseMac accepts the three spellings of DESIGN §4', async (t) => {
  const expected = Uint8Array.from([0x00, 0x15, 0x5d, 0x01, 0x06, 0x21])
  for (const spelling of ['00-15-5D-01-06-21', '00:15:5d:01:06:21', '00155D010621', '00-15-5d-01-06-21', '00:15:5D:01:06:21', '00155d010621']) {
    t.same(parseMac(spelling), expected, spelling)
    t.equal(canonicalMac(spelling), '00:15:5d:01:06:21', `${spelling} canonical`)
  }
})

t.test('parseMac refuses bad input', async (t) => {
  for (const bad of [
    '', '00-15-5D-01-06', '00-15-5D-01-06-21-22', '00:15-5d:01:06:21', '00155D01062', '00155D0106211',
    '0:15:5d:1:6:21', 'gg:15:5d:01:06:21', '00.15.5d.01.06.21', ' 00:15:5d:01:06:21', '00:15:5d:01:06:21 ',
    '0015.5d01.0621',
  ]) {
    t.equal(parseMac(bad), null, JSON.stringify(bad))
    t.equal(canonicalMac(bad), null)
  }
})

t.test('formatMac: lower-case colon spelling, at an offset', async (t) => {
  t.equal(formatMac(Uint8Array.from([2, 0, 0xc0, 0xa8, 6, 2])), '02:00:c0:a8:06:02')
  const buf = Uint8Array.from([9, 9, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 9])
  t.equal(formatMac(buf, 2), 'ff:ee:dd:cc:bb:aa')
})

t.test('property: formatMac and parseMac are inverse', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (mac) => {
      const text = formatMac(mac)
      const bare = text.replace(/:/g, '').toUpperCase()
      const dashed = text.replace(/:/g, '-').toUpperCase()
      return [text, bare, dashed].every((s) => Buffer.from(parseMac(s)!).equals(Buffer.from(mac)))
    }),
  )
  t.pass('inverse')
})

/** The spellings as regular expressions: what the hand-written parsers must accept, and nothing else. */
const IPV4_SPELLING = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/
const MAC_SPELLING = /^([0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{12})$/

function referenceIPv4(text: string): number {
  const m = IPV4_SPELLING.exec(text)
  if (m === null || m.slice(1).some((o) => Number(o) > 255)) return -1
  return m.slice(1).reduce((v, o) => v * 256 + Number(o), 0)
}

t.test('property: the parsers accept exactly the spellings of the regular expressions', async (t) => {
  const ipish = fc.array(fc.constantFrom('0', '1', '2', '5', '9', '.', '.', '25', '255', '256', '00', 'a', ' ', '/'), { maxLength: 12 }).map((parts) => parts.join(''))
  fc.assert(fc.property(fc.oneof(ipish, fc.string({ maxLength: 16 }), fc.ipV4()), (text) => parseIPv4(text) === referenceIPv4(text)), { numRuns: 2000 })
  const macish = fc.array(fc.constantFrom('0', '9', 'a', 'F', 'f', 'G', 'g', ':', '-', '.', ' ', '5d'), { minLength: 10, maxLength: 18 }).map((parts) => parts.join(''))
  const formatted = fc.uint8Array({ minLength: 6, maxLength: 6 }).chain((mac) =>
    fc.constantFrom(formatMac(mac), formatMac(mac).toUpperCase(), formatMac(mac).replace(/:/g, '-'), formatMac(mac).replace(/:/g, ''), formatMac(mac).replace(':', '-')),
  )
  fc.assert(
    fc.property(fc.oneof(macish, formatted, fc.string({ maxLength: 18 })), (text) => {
      const mac = parseMac(text)
      if (!MAC_SPELLING.test(text)) return mac === null && canonicalMac(text) === null
      const hex = text.replace(/[-:]/g, '').toLowerCase()
      return mac !== null && Buffer.from(mac).toString('hex') === hex && canonicalMac(text) === hex.replace(/(..)(?!$)/g, '$1:')
    }),
    { numRuns: 2000 },
  )
  t.pass('the same verdicts and values')
})

t.test('parseMacInto writes at an offset, and nothing for bad input', async (t) => {
  const out = new Uint8Array(10).fill(7)
  t.equal(parseMacInto('00-15-5D-01-06-21', out, 2), true)
  t.same(Array.from(out), [7, 7, 0x00, 0x15, 0x5d, 0x01, 0x06, 0x21, 7, 7])
  const untouched = new Uint8Array(6).fill(9)
  t.equal(parseMacInto('00:15:5d:01:06:2g', untouched, 0), false)
  t.same(Array.from(untouched), [9, 9, 9, 9, 9, 9])
  t.equal(canonicalMac('00:15:5d:01:06:21'), '00:15:5d:01:06:21', 'canonical stays as it is')
})
