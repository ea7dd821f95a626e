/**
 * The operator's way into the nvlb namespace: a veth pair from the root namespace
 * (`<prefix>-mgmt`) to `mgmt0` inside `<prefix>-nvlb`, with a link-local /30
 * (169.254.x.y, never routed beyond the link). nvlb's admin API listens on the nvlb
 * side, so `nvlb vip list --api http://169.254.x.y:8573` works from the root namespace
 * while the data-plane interfaces (ext0, pa0) stay without any IPv4 address.
 *
 * The pair disappears with the nvlb namespace; `removeManagementLink` is for a run that
 * failed half-way. The nvlb namespace also gets arp_ignore=1 / arp_announce=2, so its
 * kernel answers ARP for the management address on mgmt0 only.
 */
import { execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { formatIPv4, parseIPv4, parsePrefix, prefixMask } from '../../lib/packet/address'

export interface ManagementLink {
  /** Root-namespace end of the veth pair. */
  rootInterface: string
  /** The end inside the nvlb namespace. */
  nvlbInterface: string
  rootAddress: string
  nvlbAddress: string
  prefixLength: number
}

const LINK_PREFIX_LENGTH = 30
/** 169.254.100.0 – 169.254.199.255: link-local, away from 169.254.169.254 (cloud metadata) and its /24. */
const FIRST_THIRD_OCTET = 100
const LAST_THIRD_OCTET = 199
const METADATA_OCTET = 169

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`ip ${args.join(' ')} failed: ${stderr.trim() || (err as Error).message}`)
  }
}

/** Every IPv4 prefix the root namespace already knows (addresses and routes, all tables). */
function rootPrefixes(): Array<{ address: number; length: number }> {
  const prefixes: Array<{ address: number; length: number }> = []
  for (const line of ip(['-4', '-o', 'address', 'show']).split('\n')) {
    const m = /\binet\s+(\d+\.\d+\.\d+\.\d+\/\d+)/.exec(line)
    const p = m === null ? null : parsePrefix(m[1]!)
    if (p !== null) prefixes.push(p)
  }
  for (const line of ip(['-4', 'route', 'show', 'table', 'all']).split('\n')) {
    const token = line.trim().split(/\s+/)[0] ?? ''
    const skip = token === '' || token === 'default' || ['broadcast', 'local', 'unreachable', 'prohibit', 'blackhole'].includes(token)
    if (skip) continue
    const p = parsePrefix(token.includes('/') ? token : `${token}/32`)
    if (p !== null && p.length > 0) prefixes.push(p)
  }
  return prefixes
}

function overlaps(a: { address: number; length: number }, b: { address: number; length: number }): boolean {
  const length = Math.min(a.length, b.length)
  const mask = prefixMask(length)
  return ((a.address & mask) >>> 0) === ((b.address & mask) >>> 0)
}

/** A link-local /30 nothing in the root namespace uses yet. */
export function pickManagementSubnet(): { network: number } {
  const taken = rootPrefixes()
  for (let attempt = 0; attempt < 200; attempt++) {
    let third = randomInt(FIRST_THIRD_OCTET, LAST_THIRD_OCTET + 1)
    if (third === METADATA_OCTET) third++
    const network = parseIPv4(`169.254.${third}.${randomInt(0, 64) * 4}`)
    const candidate = { address: network, length: LINK_PREFIX_LENGTH }
    if (!taken.some((p) => overlaps(p, candidate))) return { network }
  }
  throw new Error('no free link-local /30 for the management link in 169.254.100.0-169.254.199.255')
}

/**
 * Create the pair `<prefix>-mgmt` (root) ↔ `mgmt0` (in `nvlbNamespace`) with a free /30.
 * Removes what it created when a step fails.
 */
export function createManagementLink(prefix: string, nvlbNamespace: string): ManagementLink {
  const rootInterface = `${prefix}-mgmt`
  const nvlbInterface = 'mgmt0'
  const { network } = pickManagementSubnet()
  const link: ManagementLink = {
    rootInterface,
    nvlbInterface,
    rootAddress: formatIPv4(network + 1),
    nvlbAddress: formatIPv4(network + 2),
    prefixLength: LINK_PREFIX_LENGTH,
  }
  ip(['link', 'add', rootInterface, 'type', 'veth', 'peer', 'name', nvlbInterface, 'netns', nvlbNamespace])
  try {
    execFileSync(
      'ip',
      ['netns', 'exec', nvlbNamespace, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    ip(['-n', nvlbNamespace, 'address', 'add', `${link.nvlbAddress}/${LINK_PREFIX_LENGTH}`, 'dev', nvlbInterface])
    ip(['-n', nvlbNamespace, 'link', 'set', 'dev', nvlbInterface, 'up'])
    ip(['address', 'add', `${link.rootAddress}/${LINK_PREFIX_LENGTH}`, 'dev', rootInterface])
    ip(['link', 'set', 'dev', rootInterface, 'up'])
  } catch (err) {
    removeManagementLink(prefix)
    throw err
  }
  return link
}

/** Delete the root end (and so the pair) if it is still there. Idempotent. */
export function removeManagementLink(prefix: string): void {
  const name = `${prefix}-mgmt`
  try {
    execFileSync('ip', ['link', 'delete', name], { stdio: 'ignore' })
  } catch {
    // already gone (it goes with the nvlb namespace)
  }
}

/** Whether the root end still exists (for leak checks). */
export function managementLinkExists(prefix: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', `${prefix}-mgmt`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
