/**
 * An independent decoder agrees with the engine's output: tshark (Debian's
 * Wireshark CLI, installed by the README's test command) reads the pcap that
 * `nvlb replay` logic writes for the reference capture.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Compiler } from '../../lib/control/compiler'
import { Engine } from '../../lib/dataplane/engine'
import { replayCapture } from '../../lib/io/pcap-replay'
import { readPcap } from '../../lib/packet/pcap'
import { parseFrame } from '../../lib/packet/frame'
import { makeCapture } from '../../examples/replay/make-capture'
import { referenceConfig } from '../helpers/engine-harness'

const dir = mkdtempSync(join(tmpdir(), 'nvlb-tshark-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('tshark decodes the NVGRE output: key, protocol, inner checksums', async (t) => {
  const engine = new Engine()
  engine.adopt(new Compiler().compile(referenceConfig(), 1))
  const result = replayCapture(engine, readPcap(makeCapture()))
  const out = join(dir, 'out.pcap')
  const bytes = result.output.toBuffer()
  writeFileSync(out, bytes)
  const frames = readPcap(bytes).records.map((r) => parseFrame(r.data)!)
  const fields = ['frame.number', 'ip.proto', 'gre.key', 'gre.proto', 'ip.checksum.status', 'tcp.checksum.status', 'ip.src', 'ip.dst']
  const text = execFileSync('tshark', ['-r', out, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const rows = text.trim().split('\n').map((line) => line.split('|'))
  t.equal(rows.length, frames.length, 'tshark sees every frame')
  let nvgreFrames = 0
  rows.forEach((row, i) => {
    const [number, , key, proto, ipStatus, tcpStatus, src] = row as [string, string, string, string, string, string, string]
    const mine = frames[i]!
    if (mine.gre === null) {
      if (mine.ipv4 !== null) t.equal(ipStatus, '1', `frame ${number}: IPv4 checksum good`)
      return
    }
    nvgreFrames++
    t.equal(Number(key), (mine.gre.vsid << 8) | mine.gre.flowId, `frame ${number}: GRE key = VSID << 8 | FlowID`)
    t.ok(mine.gre.vsid >= 4096, `frame ${number}: key carries a tenant VSID`)
    t.equal(proto, '0x6558', `frame ${number}: GRE protocol transparent Ethernet bridging`)
    t.same(ipStatus.split(','), ['1', '1'], `frame ${number}: outer and inner IPv4 checksums good`)
    t.equal(tcpStatus, '1', `frame ${number}: inner TCP checksum good`)
    t.equal(src.split(',')[0], '192.168.6.2', `frame ${number}: outer source = nvlb PA`)
  })
  t.ok(nvgreFrames >= 6, `NVGRE frames checked: ${nvgreFrames}`)
})
