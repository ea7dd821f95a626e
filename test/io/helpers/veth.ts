import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
export const SKIP_NOT_ROOT = isRoot ? false : 'needs root: creates veth interfaces and AF_PACKET sockets'

export interface VethPair {
  a: string
  b: string
  remove(): void
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/**
 * A veth pair in the current namespace with unique names (<prefix><hex>a / <prefix><hex>b),
 * both ends up, IPv6 off (no router solicitations or MLD reports on the wire),
 * no addresses: raw frames only, nothing is routed anywhere.
 */
export function createVethPair(prefix = 'nvt'): VethPair {
  const id = randomBytes(4).toString('hex')
  const a = `${prefix}${id}a`
  const b = `${prefix}${id}b`
  ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b)
  const pair = {
    a,
    b,
    remove(): void {
      try {
        ip('link', 'del', a)
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
      ip('link', 'set', name, 'up')
    }
  } catch (error) {
    pair.remove()
    throw error
  }
  return pair
}

export function linkExists(name: string): boolean {
  try {
    ip('link', 'show', name)
    return true
  } catch {
    return false
  }
}

/** Packet sockets of this process bound to an interface index (from /proc/net/packet). */
export function packetSocketsOn(ifindex: number): number {
  const lines = readFileSync('/proc/net/packet', 'utf8').trim().split('\n').slice(1)
  return lines.filter((line) => Number(line.trim().split(/\s+/)[4]) === ifindex).length
}

export async function waitFor(condition: () => boolean, what: string, limitMs = 10000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
