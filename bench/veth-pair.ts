/**
 * A veth pair for benchmarks that need real interfaces (root): both ends up,
 * IPv6 off so the kernel sends nothing of its own on them. No addresses, no
 * traffic leaves the pair. Remove it in a finally.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export interface BenchVethPair {
  readonly a: string
  readonly b: string
  remove(): void
}

export function createBenchVethPair(prefix: string): BenchVethPair {
  const id = randomBytes(3).toString('hex')
  const a = `${prefix}${id}a`
  const b = `${prefix}${id}b`
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b])
  const pair: BenchVethPair = {
    a,
    b,
    remove() {
      try {
        execFileSync('ip', ['link', 'del', a], { stdio: 'ignore' })
      } catch {
        // already gone
      }
    },
  }
  try {
    for (const name of [a, b]) {
      try {
        execFileSync('sysctl', ['-q', '-w', `net.ipv6.conf.${name}.disable_ipv6=1`], { stdio: 'ignore' })
      } catch {
        // IPv6 not compiled in: nothing to silence
      }
      execFileSync('ip', ['link', 'set', name, 'up'])
    }
  } catch (error) {
    pair.remove()
    throw error
  }
  return pair
}
