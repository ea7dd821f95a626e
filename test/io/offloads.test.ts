import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { AfPacketPort } from '../../lib/io/af-packet-socket'
import { disableOffloads } from '../../lib/io/offloads'
import { PollSet } from '../../lib/io/poll-set'
import { ErrorCodes } from '../../lib/errors'
import { onesSum, pseudoHeaderSum } from '../../lib/packet/checksum'
import { SKIP_NOT_ROOT, linkExists } from './helpers/veth'

const created: { links: string[]; namespaces: string[] } = { links: [], namespaces: [] }

function run(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/**
 * A namespace whose kernel sends one UDP datagram out of a veth; the other end
 * stays here and an AF_PACKET socket reads it. Returns whether the UDP checksum
 * in the captured bytes verifies.
 */
function capturedChecksumVerifies(t: { teardown(fn: () => void): void }, disable: boolean): boolean {
  const id = randomBytes(3).toString('hex')
  const ns = `nvlbt-io-${id}`
  const here = `nvc${id}a`
  const there = `nvc${id}b`
  run('ip', 'netns', 'add', ns)
  created.namespaces.push(ns)
  t.teardown(() => {
    try {
      run('ip', 'netns', 'del', ns)
    } catch {}
    try {
      run('ip', 'link', 'del', here)
    } catch {}
  })
  run('ip', 'link', 'add', here, 'type', 'veth', 'peer', 'name', there)
  created.links.push(here)
  if (disable) disableOffloads(there)
  run('ip', 'link', 'set', there, 'netns', ns)
  run('ip', 'link', 'set', here, 'up')
  run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', there, 'up')
  run('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', '10.99.0.2/24', 'dev', there)
  run('ip', 'netns', 'exec', ns, 'ip', 'neigh', 'add', '10.99.0.1', 'lladdr', '02:00:00:00:00:01', 'dev', there)
  const port = new AfPacketPort({ interfaceName: here })
  try {
    run('ip', 'netns', 'exec', ns, 'bash', '-c', 'echo nvlb-offload-test > /dev/udp/10.99.0.1/9999')
    const poll = new PollSet([port.fd])
    while (poll.wait(3000) !== 0) {
      const n = port.receive()
      for (let i = 0; i < n; i++) {
        const o = port.rxOffsets[i]!
        const b = port.rxBuffer
        if (b.readUInt16BE(o + 12) !== 0x0800 || b[o + 23] !== 17) continue
        const ihl = (b[o + 14]! & 0x0f) * 4
        const l4 = o + 14 + ihl
        const length = b.readUInt16BE(l4 + 4)
        const sum = onesSum(b, l4, length, pseudoHeaderSum(b.readUInt32BE(o + 26), b.readUInt32BE(o + 30), 17, length))
        return sum === 0xffff
      }
    }
    throw new Error('the datagram never arrived')
  } finally {
    port.close()
  }
}

t.test('offloads', { skip: SKIP_NOT_ROOT }, async (t) => {
  t.test('with offloads on, a raw reader sees an unfinished UDP checksum', async (t) => {
    t.equal(capturedChecksumVerifies(t, false), false)
  })
  t.test('disableOffloads: the kernel finishes the checksum before the frame leaves', async (t) => {
    t.equal(capturedChecksumVerifies(t, true), true)
  })
  t.test('an unknown interface is refused', async (t) => {
    t.throws(() => disableOffloads('nvt-missing0'), { code: ErrorCodes.INTERFACE_NOT_FOUND })
  })
})

t.test('no namespace or interface is left behind', { skip: SKIP_NOT_ROOT }, async (t) => {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  t.same(created.namespaces.filter((ns) => namespaces.includes(ns)), [])
  t.same(created.links.filter((l) => linkExists(l)), [])
})
