import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createBenchVethPair, type BenchVethPair } from '../../../bench/veth-pair'

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
export const SKIP_NOT_ROOT = isRoot ? false : 'needs root: creates veth interfaces and AF_PACKET sockets'

export type VethPair = BenchVethPair

/**
 * A veth pair in the current namespace with unique names (<prefix><hex>a / <prefix><hex>b),
 * both ends up, IPv6 off (no router solicitations or MLD reports on the wire),
 * no addresses: raw frames only, nothing is routed anywhere (the benchmarks' own helper).
 */
export function createVethPair(prefix = 'nvt'): VethPair {
  return createBenchVethPair(prefix)
}

export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: ['ignore', 'ignore', 'pipe'] })
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
