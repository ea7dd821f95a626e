/**
 * An independent decoder's opinion of what buildFrame and PcapWriter produce, and of
 * readPcap on a file Wireshark's tools wrote. Skipped when tshark is not installed.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildFrame, fragmentFrame } from '../../lib/packet/frame'
import { readPcap, writePcap } from '../../lib/packet/pcap'

const hasTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0
if (!hasTshark) t.plan(0, 'tshark is not installed')

const dir = hasTshark ? mkdtempSync(join(tmpdir(), 'nvlb-tshark-')) : ''
t.teardown(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

const FIELDS = [
  'gre.key',
  'gre.proto',
  'vlan.id',
  'ip.src',
  'ip.dst',
  'ip.checksum.status',
  'ip.flags.mf',
  'ip.frag_offset',
  'tcp.checksum.status',
  'tcp.options.mss_val',
  'udp.checksum.status',
  'icmp.checksum.status',
  'icmp.mtu',
  'arp.opcode',
  'arp.src.proto_ipv4',
] as const
type Field = (typeof FIELDS)[number]

/** One row per frame: field → value (several occurrences joined with ','). */
function dissect(frames: Buffer[]): Array<Record<Field, string>> {
  const file = join(dir, `capture-${Math.random().toString(36).slice(2)}.pcap`)
  writeFileSync(file, writePcap(frames))
  const args = ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.defragment:FALSE', '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=,']
  for (const f of FIELDS) args.push('-e', f)
  const run = spawnSync('tshark', args, { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`tshark failed: ${run.stderr}`)
  return run.stdout
    .trimEnd()
    .split('\n')
    .map((line) => Object.fromEntries(line.split('|').map((v, i) => [FIELDS[i], v])) as Record<Field, string>)
}

const A = '02:00:00:00:00:0a'
const B = '02:00:00:00:00:0b'

t.test('NVGRE frame: key = VSID << 8 | FlowID, protocol 0x6558, every checksum good', async (t) => {
  const [row] = dissect([
    buildFrame({
      eth: { src: '02:00:c0:a8:06:02', dst: '02:00:c0:a8:06:04', vlan: 6 },
      ipv4: { src: '192.168.6.2', dst: '192.168.6.4' },
      nvgre: {
        vsid: 5001,
        flowId: 7,
        inner: { eth: { src: '02:00:00:00:00:01', dst: '00-15-5D-01-06-21' }, ipv4: { src: '198.51.100.10', dst: '10.1.6.21', df: true }, tcp: { srcPort: 40000, dstPort: 80, flags: ['syn'], mss: 1460 }, payload: 'odd' },
      },
    }),
  ])
  t.match(row, {
    'gre.key': '0x00138907',
    'gre.proto': '0x6558',
    'vlan.id': '6',
    'ip.src': '192.168.6.2,198.51.100.10',
    'ip.dst': '192.168.6.4,10.1.6.21',
    'ip.checksum.status': '1,1',
    'tcp.checksum.status': '1',
    'tcp.options.mss_val': '1460',
  })
})

t.test('UDP, ICMP error with quote, ARP, and a broken checksum for contrast', async (t) => {
  const rows = dissect([
    buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100' }, udp: { srcPort: 5353, dstPort: 53 }, payload: 'q?' }),
    buildFrame({
      eth: { src: A, dst: B },
      ipv4: { src: '198.51.100.1', dst: '198.51.100.10' },
      icmp: { type: 3, code: 4, nextHopMtu: 1458, quote: { ipv4: { src: '198.51.100.10', dst: '203.0.113.10', df: true }, tcp: { srcPort: 40000, dstPort: 80 }, payload: Buffer.alloc(1460) }, quoteLength: 28 },
    }),
    buildFrame({ eth: { src: A, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: A, senderIp: '192.168.6.4', targetIp: '192.168.6.2' } }),
    buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, udp: { srcPort: 1, dstPort: 2, checksum: 0x1234 } }),
  ])
  t.match(rows[0], { 'ip.checksum.status': '1', 'udp.checksum.status': '1' })
  t.match(rows[1], { 'icmp.checksum.status': '1', 'icmp.mtu': '1458' })
  t.match(rows[2], { 'arp.opcode': '1', 'arp.src.proto_ipv4': '192.168.6.4' })
  t.match(rows[3], { 'udp.checksum.status': '0' }, 'tshark does flag a bad checksum')
})

t.test('fragments as tshark sees them', async (t) => {
  const frame = buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2', id: 5 }, udp: { srcPort: 1, dstPort: 2 }, payload: Buffer.alloc(3000, 9) })
  const rows = dissect(fragmentFrame(frame, 1500))
  t.same(rows.map((r) => ['1', 'True'].includes(r['ip.flags.mf'])), [true, true, false])
  // tshark 4.0 prints the field in 8-byte units, some versions in bytes
  t.ok(['0,185,370', '0,1480,2960'].includes(rows.map((r) => r['ip.frag_offset']).join(',')), 'offsets 0, 1480, 2960 bytes')
  t.ok(rows.every((r) => r['ip.checksum.status'] === '1'))
})

t.test('readPcap reads a nanosecond file written by editcap', async (t) => {
  const frames = [buildFrame({ eth: { src: A, dst: B }, ipv4: { src: '1.1.1.1', dst: '2.2.2.2' }, udp: { srcPort: 1, dstPort: 2 } })]
  const input = join(dir, 'micro.pcap')
  const output = join(dir, 'nano.pcap')
  writeFileSync(input, writePcap(frames))
  const run = spawnSync('editcap', ['-F', 'nsecpcap', input, output], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const file = readPcap(readFileSync(output))
  t.equal(file.nanosecond, true)
  t.equal(file.records.length, 1)
  t.ok(file.records[0]!.data.equals(frames[0]!))
})
