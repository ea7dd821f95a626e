/**
 * bench/io-micro: frames per second through the AF_PACKET ports alone (no
 * engine): one thread sends batches of small frames with sendmmsg on one end
 * of a veth pair and reads them back with recvmmsg on the other end.
 * Needs root; creates and removes its own veth pair (no addresses, nothing routed).
 *
 *   nvlb bench io-micro [--json] [--seconds S] [--batch N] [--size BYTES]
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { AfPacketPort } from '../lib/io/af-packet-socket'
import { printMetrics, progress, type Metric } from './report'

const ETHERTYPE_TEST = 0x88b5

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '3' },
      batch: { type: 'string', default: '64' },
      size: { type: 'string', default: '64' },
    },
    strict: true,
  })
  if (process.getuid?.() !== 0) {
    process.stderr.write('nvlb bench io-micro: needs root (veth interfaces and AF_PACKET sockets)\n')
    return 2
  }
  const seconds = Number(values.seconds)
  const batch = Number(values.batch)
  const size = Number(values.size)
  const id = randomBytes(3).toString('hex')
  const a = `nvb${id}a`
  const b = `nvb${id}b`
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b])
  const ports: AfPacketPort[] = []
  try {
    for (const name of [a, b]) {
      try {
        execFileSync('sysctl', ['-q', '-w', `net.ipv6.conf.${name}.disable_ipv6=1`], { stdio: 'ignore' })
      } catch {}
      execFileSync('ip', ['link', 'set', name, 'up'])
    }
    const sender = new AfPacketPort({ interfaceName: a, batchSize: batch })
    const receiver = new AfPacketPort({ interfaceName: b, batchSize: batch })
    ports.push(sender, receiver)
    const frame = Buffer.alloc(size)
    frame.fill(0x02, 0, 12)
    frame.writeUInt16BE(ETHERTYPE_TEST, 12)

    progress(`io-micro: ${batch}-frame batches of ${size} bytes over ${a} → ${b} for ${seconds} s`)
    let sent = 0
    let received = 0
    let receiveCalls = 0
    const start = performance.now()
    const end = start + seconds * 1000
    let now = start
    while (now < end) {
      for (let i = 0; i < batch; i++) sender.send(frame, 0, size)
      sender.flush()
      sent += batch
      // Read back what arrived; the veth delivers in softirq context on send, so it is there already.
      for (let n = receiver.receive(); n > 0; n = receiver.receive()) {
        received += n
        receiveCalls++
      }
      now = performance.now()
    }
    const elapsed = (now - start) / 1000
    const metrics: Metric[] = [
      { name: 'io.veth_round.mfps', value: received / elapsed / 1e6, unit: 'Mframes/s', target: 0.5, better: 'higher' },
      { name: 'io.veth_round.ns_per_frame', value: (elapsed * 1e9) / Math.max(1, received), unit: 'ns', target: 2000, better: 'lower' },
      { name: 'io.veth_round.frames_per_recvmmsg', value: received / Math.max(1, receiveCalls), unit: 'frames', target: batch / 2, better: 'higher' },
      { name: 'io.veth_round.loss', value: (sent - received) / Math.max(1, sent), unit: 'ratio', target: 0.001, better: 'lower' },
    ]
    printMetrics(metrics, values.json === true)
    return 0
  } finally {
    for (const p of ports) p.close()
    execFileSync('ip', ['link', 'del', a])
  }
}
