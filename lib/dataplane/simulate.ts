import { formatIPv4, formatMac, parseIPv4 } from '../packet/address'
import { hash2, hash3, hash5 } from './flow-hash'
import { hashMod } from '../hash/hash-mod'
import { KEY_TABLE_MISSING, keyTableGet } from './key-table'
import { DIST_2_TUPLE, DIST_3_TUPLE, NAT_FULLNAT, PROTO_TCP, PROTO_UDP, type Snapshot } from './snapshot'
import type { SimulatedFlow, SimulationResult } from './simulate-types'

const DISTRIBUTION_NAMES: Record<number, string> = { 5: '5-tuple', 3: '3-tuple', 2: '2-tuple' }

/**
 * Which VIP rule and backend would take a new flow, and why — computed the
 * way the engine computes it (same hashes, same Maglev table).
 */
export function simulateFlow(snapshot: Snapshot, flow: SimulatedFlow): SimulationResult {
  const protocol = flow.protocol === 'tcp' ? PROTO_TCP : PROTO_UDP
  const src = parseIPv4(flow.source)
  const dst = parseIPv4(flow.destination)
  if (src < 0) return { matched: false, reason: `source '${flow.source}' is not an IPv4 address` }
  if (dst < 0) return { matched: false, reason: `destination '${flow.destination}' is not an IPv4 address` }
  const vsid = flow.virtualSubnetId
  const where = vsid === 0 ? 'from the Internet (VSID 0)' : `in VSID ${vsid}`
  let ruleId = keyTableGet(snapshot.rules, dst, vsid, (protocol << 16) | flow.destinationPort)
  // A tenant VM may use a public VIP (hairpin): served like an Internet client.
  const hairpin = ruleId < 0 && vsid !== 0 && keyTableGet(snapshot.rules, dst, 0, (protocol << 16) | flow.destinationPort) >= 0
  if (hairpin) ruleId = keyTableGet(snapshot.rules, dst, 0, (protocol << 16) | flow.destinationPort)
  if (ruleId < 0) {
    const sameAddress = keyTableGet(snapshot.rulesByAddress, dst, vsid, protocol) !== KEY_TABLE_MISSING
    const why = sameAddress
      ? `${flow.destination} is a VIP ${where}, but no ${flow.protocol} rule has frontend port ${flow.destinationPort}`
      : `no VIP ${flow.destination} with ${flow.protocol} rules ${where}`
    return { matched: false, reason: `no VIP rule matches: ${why}` }
  }
  const rule = snapshot.ruleList[ruleId]!
  const vip = {
    name: rule.vipName,
    address: rule.vipAddressText,
    virtualSubnetId: rule.virtualSubnetId,
    natMode: rule.natMode === NAT_FULLNAT ? ('fullnat' as const) : ('dnat' as const),
  }
  const ruleOut = {
    protocol: flow.protocol,
    frontendPort: rule.frontendPort,
    backendPort: rule.backendPort,
    pool: rule.pool,
    distribution: DISTRIBUTION_NAMES[rule.distribution]!,
  }
  const ports = (flow.sourcePort << 16) | flow.destinationPort
  const hash =
    (rule.distribution === DIST_3_TUPLE ? hash3(src, dst, protocol) : rule.distribution === DIST_2_TUPLE ? hash2(src, dst) : hash5(src, dst, ports, protocol)) >>> 0
  const slot = hashMod(hash, rule.table.length)
  const backend = rule.table[slot]!
  const ruleText =
    `VIP '${rule.vipName}' ${flow.protocol}/${rule.frontendPort} (${vip.natMode}, ${ruleOut.distribution}, pool '${rule.pool}')` +
    (hairpin ? ` from VSID ${vsid} (hairpin: the source is translated to nvlb's external address)` : '')
  if (backend < 0) {
    return { matched: true, vip, rule: ruleOut, hash, slot, reason: `${ruleText} matched, but the pool has no active backend: a new flow is dropped` }
  }
  const record = keyTableGet(snapshot.lookup, snapshot.backendVsid[backend]!, snapshot.backendAddress[backend]!, 0)
  const name = snapshot.backendName[backend]!
  return {
    matched: true,
    vip,
    rule: ruleOut,
    backend: {
      name,
      virtualSubnetId: snapshot.backendVsid[backend]!,
      address: formatIPv4(snapshot.backendAddress[backend]!),
      port: snapshot.backendPort[backend]!,
      providerAddress: formatIPv4(snapshot.backendHost[backend]!),
      macAddress: record < 0 ? '' : formatMac(snapshot.lookupMac, record * 6),
    },
    hash,
    slot,
    reason: `${ruleText} matched; ${ruleOut.distribution} hash ${hash} selects Maglev slot ${slot} of ${rule.table.length}, which holds backend ${name}`,
  }
}
