/**
 * The health-probe part of the configuration document: the top-level `probes`
 * array, a rule's `probe` and `whenAllDown`, and `node.probeAddress`.
 *
 * `validateProbes(root)` checks them on the document being validated (after
 * the rest of it is known to be well formed), fills in the defaults and throws
 * the first problem as an NvlbError naming the field, like the rest of the
 * validator. Absent optional fields of rules (`probe`, `whenAllDown`) and an
 * absent `probes` stay absent (their defaults: no probe, 'drop', none), so
 * documents without probes normalize exactly as before.
 */
import { ErrorCodes, NvlbError } from '../errors'
import { parseIPv4 } from '../packet/address'
import { describe, isObject, type Json } from '../control/json-value'

export type ProbeProtocol = 'tcp' | 'http'
export type WhenAllDown = 'drop' | 'useAll'

export interface ProbeConfig {
  name: string
  protocol: ProbeProtocol
  /** Default: the backendPort of the rule that uses the probe. */
  port?: number
  /** http only; default '/'. */
  requestPath?: string
  intervalSeconds: number
  timeoutSeconds: number
  unhealthyThreshold: number
  healthyThreshold: number
}

export const ProbeLimits = {
  INTERVAL_MIN: 1,
  INTERVAL_MAX: 3600,
  TIMEOUT_MIN: 1,
  TIMEOUT_MAX: 300,
  THRESHOLD_MIN: 1,
  THRESHOLD_MAX: 100,
  DEFAULT_INTERVAL: 5,
  DEFAULT_TIMEOUT: 2,
  DEFAULT_UNHEALTHY: 3,
  DEFAULT_HEALTHY: 2,
  DEFAULT_PATH: '/',
  /** An HTTP request path: starts with '/', printable ASCII without spaces, at most 1024 characters. */
  PATH_PATTERN: /^\/[\x21-\x7e]{0,1023}$/,
  NAME_PATTERN: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
} as const

export const PROBE_PROTOCOLS: readonly ProbeProtocol[] = ['tcp', 'http']
export const WHEN_ALL_DOWN: readonly WhenAllDown[] = ['drop', 'useAll']

function fail(field: string, message: string, code: (typeof ErrorCodes)[keyof typeof ErrorCodes] = ErrorCodes.INVALID_FIELD): never {
  throw new NvlbError(code, message, field)
}


function integer(o: Json, key: string, path: string, min: number, max: number, fallback: number | undefined): number | undefined {
  const value = o[key]
  if (value === undefined) {
    if (fallback !== undefined) o[key] = fallback
    return fallback
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(`${path}.${key}`, `must be an integer, not ${describe(value)}`)
  if (value < min || value > max) fail(`${path}.${key}`, `must be between ${min} and ${max}, not ${value}`)
  return value
}

/**
 * Checks and normalizes the probe fields of a document whose other sections are
 * already valid (pools and VIPs well formed). Throws the first problem.
 */
export function validateProbes(root: Json): void {
  const list = root.probes
  if (list !== undefined && !Array.isArray(list)) fail('probes', `must be an array, not ${describe(list)}`)
  const probes = (list ?? []) as unknown[]
  const byName = new Map<string, { index: number; probe: Json }>()
  probes.forEach((p, i) => {
    const path = `probes[${i}]`
    if (!isObject(p)) fail(path, `must be an object, not ${describe(p)}`)
    const name = p.name
    if (typeof name !== 'string') fail(`${path}.name`, name === undefined ? 'is required' : `must be a string, not ${describe(name)}`)
    if (!ProbeLimits.NAME_PATTERN.test(name)) {
      fail(`${path}.name`, `${describe(name)} is not a valid name (1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit)`)
    }
    const first = byName.get(name)
    if (first !== undefined) fail(`${path}.name`, `probe '${name}' is already defined at probes[${first.index}]`, ErrorCodes.DUPLICATE_NAME)
    byName.set(name, { index: i, probe: p })
    const protocol = p.protocol
    if (protocol === undefined) fail(`${path}.protocol`, 'is required')
    if (typeof protocol !== 'string' || !PROBE_PROTOCOLS.includes(protocol as ProbeProtocol)) {
      fail(`${path}.protocol`, `must be one of 'tcp', 'http', not ${describe(protocol)}`)
    }
    integer(p, 'port', path, 1, 65535, undefined)
    if (protocol === 'http') {
      const requestPath = p.requestPath
      if (requestPath === undefined) p.requestPath = ProbeLimits.DEFAULT_PATH
      else if (typeof requestPath !== 'string' || !ProbeLimits.PATH_PATTERN.test(requestPath)) {
        fail(
          `${path}.requestPath`,
          `${describe(requestPath)} is not a request path (it starts with '/' and has no spaces or control characters, e.g. '/health')`,
        )
      }
    } else if (p.requestPath !== undefined) {
      fail(`${path}.requestPath`, "is only for probes with protocol 'http'")
    }
    const interval = integer(p, 'intervalSeconds', path, ProbeLimits.INTERVAL_MIN, ProbeLimits.INTERVAL_MAX, ProbeLimits.DEFAULT_INTERVAL)!
    const timeout = integer(p, 'timeoutSeconds', path, ProbeLimits.TIMEOUT_MIN, ProbeLimits.TIMEOUT_MAX, ProbeLimits.DEFAULT_TIMEOUT)!
    if (timeout > interval) {
      fail(`${path}.timeoutSeconds`, `must not be longer than intervalSeconds (${interval}), not ${timeout}: a probe must end before the next one starts`)
    }
    integer(p, 'unhealthyThreshold', path, ProbeLimits.THRESHOLD_MIN, ProbeLimits.THRESHOLD_MAX, ProbeLimits.DEFAULT_UNHEALTHY)
    integer(p, 'healthyThreshold', path, ProbeLimits.THRESHOLD_MIN, ProbeLimits.THRESHOLD_MAX, ProbeLimits.DEFAULT_HEALTHY)
  })

  // A backend's health is what probes saw, never part of the document (GET /v1/pools/NAME shows it; a
  // document written back from such an answer must not store it).
  // A frozen pool is one of a validated document: it has none left.
  for (const pool of (root.pools ?? []) as Json[]) {
    if (Object.isFrozen(pool)) continue
    for (const b of (pool.backends ?? []) as Json[]) if (isObject(b)) delete b.health
  }

  const node = root.node as Json
  const vips = (root.vips ?? []) as Json[]
  // The VIP list of a validated document (frozen) with the same probes was checked already: its first rule naming a probe is known.
  const checked = Object.isFrozen(vips) ? checkedRules.get(vips) : undefined
  const rulesChecked = checked !== undefined && checked.probes === root.probes && (list === undefined || Object.isFrozen(list))
  let firstUse: string | undefined = rulesChecked ? checked.firstUse : undefined
  if (!rulesChecked) vips.forEach((v, i) => {
    ;((v.rules ?? []) as Json[]).forEach((r, j) => {
      const rpath = `vips[${i}].rules[${j}]`
      const whenAllDown = r.whenAllDown
      if (whenAllDown !== undefined && (typeof whenAllDown !== 'string' || !WHEN_ALL_DOWN.includes(whenAllDown as WhenAllDown))) {
        fail(`${rpath}.whenAllDown`, `must be one of 'drop', 'useAll', not ${describe(whenAllDown)}`)
      }
      const probeName = r.probe
      if (probeName === undefined) return
      if (typeof probeName !== 'string') fail(`${rpath}.probe`, `must be the name of a probe, not ${describe(probeName)}`)
      const probe = byName.get(probeName)
      if (probe === undefined) {
        const known = [...byName.keys()]
        fail(
          `${rpath}.probe`,
          `probe '${probeName}' does not exist (${known.length === 0 ? 'the document defines no probes' : `defined: ${known.map((n) => `'${n}'`).join(', ')}`})`,
          ErrorCodes.UNKNOWN_PROBE,
        )
      }
      if (probe.probe.port === undefined && r.protocol === 'udp') {
        fail(
          `${rpath}.probe`,
          `probe '${probeName}' has no port, so it would open TCP connections to this UDP rule's backendPort; give probes[${probe.index}].port`,
        )
      }
      firstUse ??= rpath
    })
  })

  if (!rulesChecked && Object.isFrozen(vips)) checkedRules.set(vips, { probes: root.probes, firstUse })

  const records = (root.lookupRecords ?? []) as Json[]
  const addressChecked =
    node.probeAddress !== undefined && Object.isFrozen(records) && Object.isFrozen(vips) && sameProbeAddressCheck(checkedProbeAddress.get(records), node, vips)
  if (!addressChecked && (firstUse !== undefined || node.probeAddress !== undefined)) {
    const text = node.probeAddress
    if (text === undefined) {
      fail('node.probeAddress', `is required because ${firstUse} names a probe (probes are sent from this inner source address)`)
    }
    if (typeof text !== 'string') fail('node.probeAddress', `must be a string, not ${describe(text)}`)
    const value = parseIPv4(text)
    if (value < 0) fail('node.probeAddress', `'${text}' is not an IPv4 address (dotted quad such as 198.18.0.1)`, ErrorCodes.BAD_ADDRESS)
    if (value === 0 || value >= 0xe0000000 || value >>> 24 === 127) {
      fail('node.probeAddress', `'${text}' is not a unicast host address`, ErrorCodes.BAD_ADDRESS)
    }
    for (const key of ['providerAddress', 'externalAddress'] as const) {
      if (node[key] === text) fail('node.probeAddress', `must differ from node.${key} (${text})`)
    }
    for (const v of vips) {
      if (v.address === text) fail('node.probeAddress', `'${text}' is the address of VIP '${String(v.name)}'`)
    }
    for (const [i, r] of records.entries()) {
      // A record that puts the probe address on this instance's own PA is how the hosts of a
      // several-instance deployment send each instance its probes' answers (docs/ha.md).
      if (r.customerAddress === text && r.providerAddress !== node.providerAddress) {
        fail('node.probeAddress', `'${text}' is a tenant address (lookupRecords[${i}]) on another provider address than node.providerAddress; backends could not answer probes from it`)
      }
    }
    if (Object.isFrozen(records) && Object.isFrozen(vips)) {
      checkedProbeAddress.set(records, { probeAddress: text, providerAddress: node.providerAddress, externalAddress: node.externalAddress, vips })
    }
  }
}

/**
 * VIP lists (frozen, of validated documents) whose rules passed the probe checks, with the
 * probes they were checked against and the first rule that names one: a change that keeps
 * the list and the probes does not walk its ten thousand rules again.
 */
const checkedRules = new WeakMap<object, { probes: unknown; firstUse: string | undefined }>()

/** Lookup-record lists (frozen) node.probeAddress was checked against, with the node fields and VIPs it was checked with. */
const checkedProbeAddress = new WeakMap<object, { probeAddress: unknown; providerAddress: unknown; externalAddress: unknown; vips: unknown }>()

function sameProbeAddressCheck(checked: { probeAddress: unknown; providerAddress: unknown; externalAddress: unknown; vips: unknown } | undefined, node: Json, vips: unknown): boolean {
  return (
    checked !== undefined &&
    checked.probeAddress === node.probeAddress &&
    checked.providerAddress === node.providerAddress &&
    checked.externalAddress === node.externalAddress &&
    checked.vips === vips
  )
}
