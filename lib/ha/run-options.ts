/**
 * `nvlb run`'s BGP flags, parsed in one place: the peers, AS numbers, router id, timers and the
 * drain time a SIGTERM waits between withdrawing the VIPs and stopping the packet path.
 */
import { parseIPv4 } from '../packet/address'
import type { BgpPeer, BgpTimers } from './bird-config'

export const BGP_RUN_FLAGS = {
  'bgp-peer': { type: 'string', multiple: true },
  'bgp-asn': { type: 'string' },
  'router-id': { type: 'string' },
  'bgp-next-hop': { type: 'string' },
  'bgp-hold': { type: 'string' },
  bfd: { type: 'string' },
  'drain-ms': { type: 'string' },
} as const

export const BGP_USAGE = `  --bgp-peer ADDR:ASN    announce the public VIPs (/32, while ready) to this BGP peer; repeatable
  --bgp-asn N            this instance's AS number (needed with --bgp-peer)
  --router-id A          BGP router id (needed with --bgp-peer)
  --bgp-next-hop A       next hop of the announcements (default node.externalAddress)
  --bgp-hold S           BGP hold time in seconds, 3..65535 (default 3)
  --bfd MS:MULT|off      BFD on the sessions: interval ms and detect multiplier (default 100:3)
  --drain-ms MS          on SIGTERM: withdraw, keep forwarding this long, then stop (default 2000 with BGP, else 0)`

export interface BgpRunOptions {
  peers: BgpPeer[]
  localAsn: number
  routerId: string
  nextHop: string | undefined
  timers: BgpTimers
}

export interface RunHaOptions {
  bgp: BgpRunOptions | undefined
  drainMs: number
}

type Values = { [K in keyof typeof BGP_RUN_FLAGS]?: (typeof BGP_RUN_FLAGS)[K] extends { multiple: true } ? string[] : string }

function asn(flag: string, text: string): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > 4294967294) throw new Error(`${flag} must be an AS number 1..4294967294, not '${text}'`)
  return Number(text)
}

function address(flag: string, text: string): string {
  if (parseIPv4(text) < 0) throw new Error(`${flag} must be an IPv4 address, not '${text}'`)
  return text
}

export function parseRunHaOptions(values: Values): RunHaOptions {
  const peersText = values['bgp-peer'] ?? []
  const drainText = values['drain-ms']
  if (drainText !== undefined && (!/^\d{1,7}$/.test(drainText))) throw new Error(`--drain-ms must be a number of ms, not '${drainText}'`)
  if (peersText.length === 0) {
    for (const flag of ['bgp-asn', 'router-id', 'bgp-next-hop', 'bgp-hold', 'bfd'] as const) {
      if (values[flag] !== undefined) throw new Error(`--${flag} needs --bgp-peer`)
    }
    return { bgp: undefined, drainMs: Number(drainText ?? 0) }
  }
  const peers = peersText.map((text) => {
    const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text)
    if (m === null) throw new Error(`--bgp-peer must be ADDRESS:ASN, not '${text}'`)
    return { address: address('--bgp-peer', m[1]!), asn: asn('--bgp-peer', m[2]!) }
  })
  if (values['bgp-asn'] === undefined) throw new Error('--bgp-peer needs --bgp-asn')
  if (values['router-id'] === undefined) throw new Error('--bgp-peer needs --router-id')
  const holdText = values['bgp-hold'] ?? '3'
  if (!/^\d{1,5}$/.test(holdText) || Number(holdText) < 3 || Number(holdText) > 65535) throw new Error(`--bgp-hold must be 3..65535 s, not '${holdText}'`)
  const bfdText = values.bfd ?? '100:3'
  let bfd: BgpTimers['bfd']
  if (bfdText !== 'off') {
    const m = /^(\d{2,5}):(\d{1,3})$/.exec(bfdText)
    if (m === null || Number(m[1]) < 10 || Number(m[1]) > 10000 || Number(m[2]) < 1 || Number(m[2]) > 255) {
      throw new Error(`--bfd must be INTERVAL_MS:MULTIPLIER (10..10000:1..255) or off, not '${bfdText}'`)
    }
    bfd = { intervalMs: Number(m[1]), multiplier: Number(m[2]) }
  }
  return {
    bgp: {
      peers,
      localAsn: asn('--bgp-asn', values['bgp-asn']),
      routerId: address('--router-id', values['router-id']),
      nextHop: values['bgp-next-hop'] === undefined ? undefined : address('--bgp-next-hop', values['bgp-next-hop']),
      timers: { holdSeconds: Number(holdText), bfd },
    },
    drainMs: Number(drainText ?? 2000),
  }
}
