import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readPcap } from '../../lib/packet/pcap'
import { ROOT, nvlb } from './helpers'

const CONFIG = join(ROOT, 'examples', 'blue-red', 'config.json')
const CAPTURE = join(ROOT, 'examples', 'replay', 'blue-red.pcap')
const dir = mkdtempSync(join(tmpdir(), 'nvlb-replay-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('replays the example capture and prints drops by reason', async (t) => {
  const out = join(dir, 'out.pcap')
  const r = await nvlb(['replay', '--config', CONFIG, CAPTURE, out])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /17 frames in, 13 frames out, 4 dropped, 4 flows/)
  for (const reason of ['truncated', 'gre_checksum_present', 'vsid_out_of_range', 'no_vip_rule']) t.match(r.stderr, new RegExp(`\\n  ${reason} +1\\n`))
  t.equal(readPcap(readFileSync(out)).records.length, 13)
})

t.test('a bad config or capture is one clear line and exit code 2', async (t) => {
  const badJson = join(dir, 'bad.json')
  writeFileSync(badJson, '{ "node": ')
  const invalid = join(dir, 'invalid.json')
  const doc = JSON.parse(readFileSync(CONFIG, 'utf8'))
  doc.vips[0].rules[0].pool = 'nope'
  writeFileSync(invalid, JSON.stringify(doc))
  const notPcap = join(dir, 'not.pcap')
  writeFileSync(notPcap, 'hello, this is no capture')
  const cases: [string[], RegExp][] = [
    [['replay', '--config', badJson, CAPTURE, join(dir, 'o1.pcap')], /bad\.json: not valid JSON/],
    [['replay', '--config', invalid, CAPTURE, join(dir, 'o2.pcap')], /NVLB_ERR_UNKNOWN_POOL vips\[0\]\.rules\[0\]\.pool: pool 'nope' does not exist/],
    [['replay', '--config', join(dir, 'missing.json'), CAPTURE, join(dir, 'o3.pcap')], /missing\.json: cannot read: ENOENT/],
    [['replay', '--config', CONFIG, notPcap, join(dir, 'o4.pcap')], /not\.pcap: .*pcap/i],
    [['replay', '--config', CONFIG, CAPTURE], /usage: nvlb replay/],
  ]
  for (const [args, message] of cases) {
    const r = await nvlb(args)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message)
    t.equal(r.stderr.trim().split('\n')[0]!.startsWith('nvlb replay: '), true, 'one line, named')
  }
})
