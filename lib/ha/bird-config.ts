/**
 * BIRD 2 configuration text for both ends of nvlb's BGP sessions: the speaker that runs
 * beside each nvlb instance (announces the VIP /32s it is told to, nothing else) and the
 * router that learns them and installs one kernel ECMP route per VIP.
 *
 * Both sides use the same timers: a BGP hold time (seconds, 3 is the protocol's minimum) and,
 * optionally, BFD with a transmit interval and a detect multiplier, so a silent peer is noticed
 * within interval × multiplier instead of the hold time.
 */
import { formatIPv4, parseIPv4 } from '../packet/address'

export interface BgpTimers {
  /** BGP hold time, seconds (3..65535). Keepalives go every third of it. */
  holdSeconds: number
  /** BFD on the sessions: min rx/tx interval in ms and the detect multiplier. */
  bfd?: { intervalMs: number; multiplier: number }
}

export const DEFAULT_TIMERS: BgpTimers = { holdSeconds: 3, bfd: { intervalMs: 100, multiplier: 3 } }

export interface BgpPeer {
  address: string
  asn: number
}

export interface SpeakerConfig {
  routerId: string
  localAsn: number
  peers: readonly BgpPeer[]
  /** BGP NEXT_HOP of the announcements: where the router sends the VIPs' traffic (nvlb's external address). */
  nextHop: string
  /** The prefixes announced now, `a.b.c.d/32`. */
  prefixes: readonly string[]
  /** The shared provider address (`a.b.c.d/32`) announced with its own next hop (this instance's PA), if any. */
  shared?: { prefix: string; nextHop: string }
  timers: BgpTimers
}

export interface RouterNeighbor extends BgpPeer {
  /** Protocol name in BIRD (letters, digits, underscore). */
  name: string
}

export interface RouterConfig {
  routerId: string
  localAsn: number
  neighbors: readonly RouterNeighbor[]
  /** Interfaces whose connected networks resolve the announced next hops (BIRD patterns, e.g. "nvlb*"). */
  nextHopInterfaces: readonly string[]
  /** At most this many next hops in one kernel route. */
  maxPaths: number
  timers: BgpTimers
}

function checkAddress(what: string, text: string): string {
  const value = parseIPv4(text)
  if (value < 0) throw new Error(`${what} must be an IPv4 address, not '${text}'`)
  return formatIPv4(value)
}

function checkAsn(what: string, asn: number): number {
  if (!Number.isInteger(asn) || asn < 1 || asn > 4294967294) throw new Error(`${what} must be an AS number 1..4294967294, not ${asn}`)
  return asn
}

function checkTimers(timers: BgpTimers): void {
  if (!Number.isInteger(timers.holdSeconds) || timers.holdSeconds < 3 || timers.holdSeconds > 65535) {
    throw new Error(`BGP hold time must be 3..65535 s, not ${timers.holdSeconds}`)
  }
  if (timers.bfd !== undefined) {
    const { intervalMs, multiplier } = timers.bfd
    if (!Number.isInteger(intervalMs) || intervalMs < 10 || intervalMs > 10000) throw new Error(`BFD interval must be 10..10000 ms, not ${intervalMs}`)
    if (!Number.isInteger(multiplier) || multiplier < 1 || multiplier > 255) throw new Error(`BFD multiplier must be 1..255, not ${multiplier}`)
  }
}

function timerLines(timers: BgpTimers): string[] {
  const keepalive = Math.max(1, Math.floor(timers.holdSeconds / 3))
  return [
    `  hold time ${timers.holdSeconds};`,
    `  keepalive time ${keepalive};`,
    '  connect retry time 1;',
    '  error wait time 1, 4;',
    ...(timers.bfd === undefined ? [] : ['  bfd on;']),
  ]
}

function bfdProtocol(timers: BgpTimers): string[] {
  if (timers.bfd === undefined) return []
  const { intervalMs, multiplier } = timers.bfd
  return [
    'protocol bfd {',
    '  interface "*" {',
    `    min rx interval ${intervalMs} ms;`,
    `    min tx interval ${intervalMs} ms;`,
    `    idle tx interval ${Math.max(intervalMs, 1000)} ms;`,
    `    multiplier ${multiplier};`,
    '  };',
    '}',
  ]
}

/** A /32 route text `a.b.c.d/32`, checked. */
export function hostPrefix(text: string): string {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/32$/.exec(text)
  if (m === null) throw new Error(`an announced prefix must be a /32, not '${text}'`)
  return `${checkAddress('prefix', m[1]!)}/32`
}

/** The speaker beside one nvlb instance: a static protocol holds the announced /32s, exported to every peer. */
export function speakerConfig(c: SpeakerConfig): string {
  checkTimers(c.timers)
  const lines = [
    `router id ${checkAddress('router id', c.routerId)};`,
    'protocol device { scan time 10; }',
    ...bfdProtocol(c.timers),
    // The routes exist only to be announced: no kernel protocol, so nothing reaches a kernel table.
    'protocol static vips {',
    '  ipv4;',
    ...[...c.prefixes].sort().map((p) => `  route ${hostPrefix(p)} blackhole;`),
    '}',
    // The shared PA: a protocol of its own, so the export filter gives it the provider-side next hop.
    'protocol static shared {',
    '  ipv4;',
    ...(c.shared === undefined ? [] : [`  route ${hostPrefix(c.shared.prefix)} blackhole;`]),
    '}',
  ]
  const sharedNextHop = c.shared === undefined ? undefined : checkAddress('shared next hop', c.shared.nextHop)
  c.peers.forEach((peer, i) => {
    lines.push(
      `protocol bgp peer${i + 1} {`,
      `  local as ${checkAsn('local AS', c.localAsn)};`,
      `  neighbor ${checkAddress('peer', peer.address)} as ${checkAsn('peer AS', peer.asn)};`,
      ...timerLines(c.timers),
      '  ipv4 {',
      '    import none;',
      // A next hop set by the export filter is kept; the others get `next hop address`.
      sharedNextHop === undefined
        ? '    export where proto = "vips";'
        : `    export filter { if proto = "shared" then { bgp_next_hop = ${sharedNextHop}; accept; } if proto = "vips" then accept; reject; };`,
      `    next hop address ${checkAddress('next hop', c.nextHop)};`,
      '  };',
      '}',
    )
  })
  return lines.join('\n') + '\n'
}

/** The router: BGP from every instance, next hops resolved over connected networks, ECMP into the kernel. */
export function routerConfig(c: RouterConfig): string {
  checkTimers(c.timers)
  const interfaces = c.nextHopInterfaces.map((i) => JSON.stringify(i)).join(', ')
  const lines = [
    `router id ${checkAddress('router id', c.routerId)};`,
    'protocol device { scan time 10; }',
    `protocol direct { ipv4; interface ${interfaces}; }`,
    'protocol kernel {',
    `  merge paths on limit ${c.maxPaths};`,
    '  ipv4 { import none; export where source = RTS_BGP; };',
    '}',
    ...bfdProtocol(c.timers),
  ]
  for (const n of c.neighbors) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(n.name)) throw new Error(`neighbor name '${n.name}' is not a BIRD protocol name`)
    lines.push(
      `protocol bgp ${n.name} {`,
      `  local as ${checkAsn('local AS', c.localAsn)};`,
      `  neighbor ${checkAddress('neighbor', n.address)} as ${checkAsn('neighbor AS', n.asn)};`,
      ...timerLines(c.timers),
      '  ipv4 {',
      '    import where net.len = 32;',
      '    export none;',
      '    gateway recursive;',
      '    igp table master4;',
      '  };',
      '}',
    )
  }
  return lines.join('\n') + '\n'
}
