import t from 'tap'
import fc from 'fast-check'
import * as nvgre from '../../lib/packet/nvgre'
import { checkEncodeDoesNotFit, checkRoundTrip, checkTruncation, type HeaderCodec } from '../helpers/codec-round-trip'

const codec: HeaderCodec<nvgre.NvgreHeader> = { ...nvgre, create: nvgre.createNvgreHeader }

t.test('constants of RFC 7637', async (t) => {
  t.equal(nvgre.GRE_FLAGS_KEY, 0x2000)
  t.equal(nvgre.NVGRE_FLAGS_VERSION, 0x2000)
  t.equal(nvgre.NVGRE_PROTOCOL, 0x6558)
  t.equal(nvgre.NVGRE_HEADER_LENGTH, 8)
  t.equal(nvgre.NVGRE_ENCAP_OVERHEAD, 42)
  t.equal(nvgre.VSID_MIN, 4096)
  t.equal(nvgre.VSID_MAX, 16777214)
  const codes = [
    nvgre.NVGRE_ERR_TRUNCATED,
    nvgre.NVGRE_ERR_CHECKSUM_PRESENT,
    nvgre.NVGRE_ERR_SEQUENCE_PRESENT,
    nvgre.NVGRE_ERR_KEY_ABSENT,
    nvgre.NVGRE_ERR_PROTOCOL,
    nvgre.NVGRE_ERR_VERSION,
    nvgre.NVGRE_ERR_VSID_RANGE,
    nvgre.NVGRE_ERR_RESERVED,
  ]
  t.equal(new Set(codes).size, codes.length, 'error codes are distinct')
  t.ok(codes.every((c) => c < 0), 'error codes are negative')
  t.equal(nvgre.NVGRE_ERR_TRUNCATED, -1)
})

t.test('BlueVSID1 = 5001: exact bytes, key = VSID << 8 | FlowID', async (t) => {
  const v = { vsid: 5001, flowId: 0x2a }
  const bytes = checkRoundTrip(t, codec, v)
  t.equal(bytes.toString('hex'), '2000' + '6558' + '0013892a')
  t.equal(bytes.readUInt32BE(4), (5001 << 8) | 0x2a)
  t.equal(nvgre.nvgreKey(5001, 0x2a), (5001 << 8) | 0x2a)
  t.equal(nvgre.nvgreKey(0xfffffe, 0xff), 0xfffffeff, 'unsigned key')
  checkTruncation(t, codec, bytes)
  checkEncodeDoesNotFit(t, codec, v)
})

t.test('VSID range edges', async (t) => {
  checkRoundTrip(t, codec, { vsid: nvgre.VSID_MIN, flowId: 0 })
  checkRoundTrip(t, codec, { vsid: nvgre.VSID_MAX, flowId: 255 })
  const buf = Buffer.alloc(8)
  for (const vsid of [0, 1, 4095, 0xffffff, 0x1000000, -1]) {
    t.equal(nvgre.encode({ vsid, flowId: 0 }, buf, 0), -1, `encode refuses VSID ${vsid}`)
  }
  t.ok(buf.every((b) => b === 0), 'nothing written')
  t.notOk(nvgre.isValidVsid(0))
  t.ok(nvgre.isValidVsid(4096))
})

function gre(hex: string): Buffer {
  return Buffer.from(hex, 'hex')
}

t.test('decode gives a distinct code per reason', async (t) => {
  const out = nvgre.createNvgreHeader()
  const cases: Array<[string, string, number]> = [
    ['valid', '20006558' + '00138900', 8],
    ['truncated', '20006558' + '001389', nvgre.NVGRE_ERR_TRUNCATED],
    ['checksum bit', 'a0006558' + '00138900', nvgre.NVGRE_ERR_CHECKSUM_PRESENT],
    ['sequence bit', '30006558' + '00138900', nvgre.NVGRE_ERR_SEQUENCE_PRESENT],
    ['key absent', '00006558' + '00138900', nvgre.NVGRE_ERR_KEY_ABSENT],
    ['routing bit', '60006558' + '00138900', nvgre.NVGRE_ERR_RESERVED],
    ['recursion control', '21006558' + '00138900', nvgre.NVGRE_ERR_RESERVED],
    ['version 1 (PPTP)', '20016558' + '00138900', nvgre.NVGRE_ERR_VERSION],
    ['protocol IPv4', '20000800' + '00138900', nvgre.NVGRE_ERR_PROTOCOL],
    ['VSID 0', '20006558' + '00000000', nvgre.NVGRE_ERR_VSID_RANGE],
    ['VSID 4095', '20006558' + '000fff00', nvgre.NVGRE_ERR_VSID_RANGE],
    ['VSID 0xffffff', '20006558' + 'ffffff00', nvgre.NVGRE_ERR_VSID_RANGE],
    ['reserved flag bits 5..8 are ignored', '20f86558' + '00138900', 8],
  ]
  for (const [what, hex, expected] of cases) {
    t.equal(nvgre.decode(gre(hex), 0, out), expected, `${what}: ${nvgre.nvgreErrorName(expected)}`)
  }
  t.equal(nvgre.nvgreErrorName(nvgre.NVGRE_ERR_VSID_RANGE), 'VSID outside 4096..16777214')
})

t.test('out is written only on success', async (t) => {
  const out = { vsid: 7777, flowId: 9 }
  t.equal(nvgre.decode(gre('20006558' + '00000000'), 0, out), nvgre.NVGRE_ERR_VSID_RANGE)
  t.same(out, { vsid: 7777, flowId: 9 })
})

t.test('property: random headers round-trip; random bytes never throw', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: nvgre.VSID_MIN, max: nvgre.VSID_MAX }), fc.nat(255), fc.nat(20), (vsid, flowId, off) => {
      const buf = Buffer.alloc(off + 8)
      const out = nvgre.createNvgreHeader()
      return (
        nvgre.encode({ vsid, flowId }, buf, off) === 8 &&
        buf.readUInt32BE(off + 4) === nvgre.nvgreKey(vsid, flowId) &&
        nvgre.decode(buf, off, out) === 8 &&
        out.vsid === vsid &&
        out.flowId === flowId
      )
    }),
  )
  const out = nvgre.createNvgreHeader()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20 }), fc.integer({ min: -1, max: 20 }), (b, off) => {
      const n = nvgre.decode(b, off, out)
      return n === 8 || (n < 0 && n >= -8 && nvgre.nvgreErrorName(n) !== 'unknown')
    }),
  )
  t.pass('ok')
})
