import t from 'tap'
import fc from 'fast-check'
import {
  PCAP_MAGIC_MICROSECONDS,
  PCAP_MAGIC_NANOSECONDS,
  PcapWriter,
  readPcap,
  writePcap,
} from '../../lib/packet/pcap'
import { buildFrame } from '../../lib/packet/frame'
import { ErrorCodes, NvlbError } from '../../lib/errors'

interface HandRecord {
  seconds: number
  fraction: number
  data: Buffer
  originalLength?: number
  includedLength?: number
}

/** A pcap file written field by field, independently of PcapWriter. */
function handMade(options: { bigEndian: boolean; magic: number; snapLength?: number; linkType?: number; major?: number }, records: HandRecord[]): Buffer {
  const { bigEndian } = options
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    if (bigEndian) b.writeUInt32BE(n)
    else b.writeUInt32LE(n)
    return b
  }
  const u16 = (n: number) => {
    const b = Buffer.alloc(2)
    if (bigEndian) b.writeUInt16BE(n)
    else b.writeUInt16LE(n)
    return b
  }
  const parts: Buffer[] = [u32(options.magic), u16(options.major ?? 2), u16(4), u32(0), u32(0), u32(options.snapLength ?? 65535), u32(options.linkType ?? 1)]
  for (const r of records) {
    parts.push(u32(r.seconds), u32(r.fraction), u32(r.includedLength ?? r.data.length), u32(r.originalLength ?? r.data.length), r.data)
  }
  return Buffer.concat(parts)
}

const frameA = buildFrame({ eth: { src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' }, ipv4: { src: '198.51.100.10', dst: '203.0.113.10' }, tcp: { srcPort: 40000, dstPort: 80, flags: ['syn'] } })
const frameB = buildFrame({ eth: { src: '02:00:00:00:00:0b', dst: '02:00:00:00:00:0a' }, ipv4: { src: '203.0.113.10', dst: '198.51.100.10' }, udp: { srcPort: 53, dstPort: 5353 }, payload: 'reply' })

function throwsFormat(t: tap.Test, buf: Buffer, message: RegExp, what: string): void {
  try {
    readPcap(buf)
    t.fail(`${what}: no error`)
  } catch (err) {
    t.ok(err instanceof NvlbError, `${what}: NvlbError`)
    t.match(err, { code: ErrorCodes.PCAP_FORMAT, message }, what)
  }
}

t.test('PcapWriter: little-endian, microseconds, Ethernet, snaplen 65535 — exact header bytes', async (t) => {
  const writer = new PcapWriter()
  writer.add(frameA, 1700000000, 123456)
  writer.add(frameB)
  t.equal(writer.count, 2)
  const file = writer.toBuffer()
  t.equal(file.subarray(0, 24).toString('hex'), 'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '01000000')
  t.equal(file.subarray(24, 40).toString('hex'), Buffer.from([0x00, 0xf1, 0x53, 0x65]).toString('hex') + '40e20100' + '36000000' + '36000000')
  t.equal(file.length, 24 + 16 + frameA.length + 16 + frameB.length)
})

t.test('write then read: frames, timestamps, lengths', async (t) => {
  const writer = new PcapWriter()
  writer.add(frameA, 10, 999999)
  writer.add(frameB, 11, 0)
  const file = readPcap(writer.toBuffer())
  t.match(file, { linkType: 1, snapLength: 65535, nanosecond: false, bigEndian: false })
  t.equal(file.records.length, 2)
  t.match(file.records[0], { seconds: 10, fraction: 999999, originalLength: frameA.length })
  t.ok(file.records[0]!.data.equals(frameA))
  t.match(file.records[1], { seconds: 11, fraction: 0, originalLength: frameB.length })
  t.ok(file.records[1]!.data.equals(frameB))
  t.same(readPcap(new PcapWriter().toBuffer()).records, [], 'a file with no records')
  t.same(readPcap(writePcap([frameA, frameB])).records.map((r) => r.data.length), [frameA.length, frameB.length])
})

t.test('frames longer than the snaplen are cut, the original length kept', async (t) => {
  const jumbo = Buffer.alloc(70000, 7)
  const file = readPcap(writePcap([jumbo]))
  t.equal(file.records[0]!.data.length, 65535)
  t.equal(file.records[0]!.originalLength, 70000)
})

t.test('PcapWriter refuses impossible timestamps', async (t) => {
  const writer = new PcapWriter()
  t.throws(() => writer.add(frameA, -1), { code: ErrorCodes.INVALID_FIELD })
  t.throws(() => writer.add(frameA, 0, 1000000), { code: ErrorCodes.INVALID_FIELD })
  t.throws(() => writer.add(frameA, 1.5), { code: ErrorCodes.INVALID_FIELD })
  t.equal(writer.count, 0)
})

t.test('reads big-endian and nanosecond files built by hand', async (t) => {
  const records = [
    { seconds: 1, fraction: 500, data: frameA },
    { seconds: 2, fraction: 999999999, data: frameB, originalLength: 1514 },
  ]
  for (const bigEndian of [false, true]) {
    for (const magic of [PCAP_MAGIC_MICROSECONDS, PCAP_MAGIC_NANOSECONDS]) {
      const what = `${bigEndian ? 'big' : 'little'}-endian, ${magic === PCAP_MAGIC_NANOSECONDS ? 'ns' : 'µs'}`
      const file = readPcap(handMade({ bigEndian, magic, snapLength: 262144 }, records))
      t.equal(file.bigEndian, bigEndian, what)
      t.equal(file.nanosecond, magic === PCAP_MAGIC_NANOSECONDS, what)
      t.equal(file.snapLength, 262144)
      t.equal(file.records.length, 2)
      t.match(file.records[1], { seconds: 2, fraction: 999999999, originalLength: 1514 }, what)
      t.ok(file.records[0]!.data.equals(frameA), `${what}: data`)
    }
  }
  const first = handMade({ bigEndian: true, magic: PCAP_MAGIC_MICROSECONDS }, [])
  t.equal(first.subarray(0, 4).toString('hex'), 'a1b2c3d4', 'big-endian magic on disk')
})

t.test('snaplen 0 reads as the largest sane one', async (t) => {
  const file = readPcap(handMade({ bigEndian: false, magic: PCAP_MAGIC_MICROSECONDS, snapLength: 0 }, [{ seconds: 0, fraction: 0, data: frameA }]))
  t.equal(file.records.length, 1)
})

t.test('malformed files throw PCAP_FORMAT with a clear reason', async (t) => {
  const good = handMade({ bigEndian: false, magic: PCAP_MAGIC_MICROSECONDS }, [
    { seconds: 1, fraction: 0, data: frameA },
    { seconds: 2, fraction: 0, data: frameB },
  ])
  throwsFormat(t, Buffer.alloc(0), /file header truncated: 0 of 24/, 'empty file')
  throwsFormat(t, good.subarray(0, 23), /file header truncated: 23 of 24/, 'short header')
  throwsFormat(t, Buffer.concat([Buffer.from('deadbeef', 'hex'), good.subarray(4)]), /bad pcap magic number 0xdeadbeef at offset 0/, 'bad magic')
  throwsFormat(t, Buffer.concat([Buffer.from('0a0d0d0a', 'hex'), good.subarray(4)]), /pcapng/, 'pcapng')
  throwsFormat(t, handMade({ bigEndian: false, magic: PCAP_MAGIC_MICROSECONDS, major: 1 }, []), /version 1\.4/, 'version 1')
  throwsFormat(t, handMade({ bigEndian: true, magic: PCAP_MAGIC_MICROSECONDS, linkType: 101 }, []), /link type 101 is not Ethernet/, 'raw IP link type')
  throwsFormat(t, handMade({ bigEndian: false, magic: PCAP_MAGIC_MICROSECONDS, linkType: 113 }, []), /link type 113/, 'Linux cooked capture')
  const secondRecord = 24 + 16 + frameA.length
  throwsFormat(t, good.subarray(0, secondRecord + 10), new RegExp(`record 2 at offset ${secondRecord}: header truncated \\(10 of 16 bytes\\)`), 'record header cut')
  throwsFormat(t, good.subarray(0, good.length - 1), new RegExp(`record 2 at offset ${secondRecord}: data truncated \\(${frameB.length - 1} of ${frameB.length} bytes\\)`), 'record data cut')
  throwsFormat(t, good.subarray(0, 24 + 16 + 3), /record 1 at offset 24: data truncated \(3 of 54 bytes\)/, 'first record data cut')
  throwsFormat(
    t,
    handMade({ bigEndian: false, magic: PCAP_MAGIC_MICROSECONDS, snapLength: 60 }, [{ seconds: 0, fraction: 0, data: Buffer.alloc(61) }]),
    /record 1 at offset 24: captured length 61 exceeds the snapshot length 60/,
    'incl_len > snaplen',
  )
  throwsFormat(
    t,
    handMade({ bigEndian: true, magic: PCAP_MAGIC_NANOSECONDS, snapLength: 0 }, [{ seconds: 0, fraction: 0, data: Buffer.alloc(10), includedLength: 0x7fffffff }]),
    /record 1 at offset 24: captured length 2147483647 exceeds the snapshot length 262144/,
    'absurd incl_len',
  )
})

t.test('property: any written sequence reads back; random bytes only ever throw PCAP_FORMAT', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 100 }), fc.nat(0xffffffff), fc.nat(999999)), { maxLength: 10 }), (frames) => {
      const writer = new PcapWriter()
      for (const [data, s, us] of frames) writer.add(data, s, us)
      const back = readPcap(writer.toBuffer()).records
      return back.length === frames.length && back.every((r, i) => Buffer.from(frames[i]![0]).equals(r.data) && r.seconds === frames[i]![1] && r.fraction === frames[i]![2])
    }),
  )
  const header = new PcapWriter().toBuffer()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (tail, withHeader) => {
      const buf = withHeader ? Buffer.concat([header, tail]) : Buffer.from(tail)
      try {
        readPcap(buf)
        return true
      } catch (err) {
        return err instanceof NvlbError && err.code === ErrorCodes.PCAP_FORMAT
      }
    }),
  )
  t.pass('ok')
})
