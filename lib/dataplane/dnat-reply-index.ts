/**
 * Stateless reverse translation of public destination-NAT replies (docs/ha.md, "The return path").
 *
 * With several instances a backend's reply can reach an instance that never saw the connection's
 * first packet (the router moved the flow, or the reply and the request took different instances).
 * For a public VIP with `natMode: "dnat"` the reply carries everything needed to translate it back:
 * its VSID, source DIP and source port name exactly one rule (VIP address and frontend port) — the
 * compiler refuses configurations where they would name two — and the client's address and port are
 * untouched. This index maps
 *
 *   (backend address, backend VSID, protocol << 16 | backend port) → backendId << 15 | ruleId
 *
 * for every backend of every public dnat rule. Built at compile time; looked up only when a reply
 * found no flow, without allocating.
 *
 * "Refuse where ambiguous" applies to several-instance deployments (node.sharedProviderAddress set):
 * a single instance keeps accepting two dnat VIPs over one backend (a second flow that would own the
 * same reply 5-tuple is refused per flow, reverse_collision), and only those backends' flowless
 * replies stay untranslated.
 */
import { ErrorCodes, NvlbError } from '../errors'
import { createKeyTable, keyTableSet, type KeyTable } from './key-table'
import { MAX_BACKEND_IDS, MAX_RULE_IDS, PROTO_TCP, type CompiledRule } from './snapshot'

/** Bits of the value that hold the rule id (MAX_RULE_IDS = 2^15); the backend id (MAX_BACKEND_IDS = 2^16) is above them. */
export const DNAT_REPLY_RULE_BITS = 15
const RULE_MASK = (1 << DNAT_REPLY_RULE_BITS) - 1
if (1 << DNAT_REPLY_RULE_BITS !== MAX_RULE_IDS) throw new Error('DNAT_REPLY_RULE_BITS must match MAX_RULE_IDS')
// Key-table values are non-negative int32: backend and rule ids together have 31 bits.
if (MAX_BACKEND_IDS * MAX_RULE_IDS > 2 ** 31) throw new Error('a backend id and a rule id must fit 31 bits')

/** The rule id of an index value. */
export function dnatReplyRule(value: number): number {
  return value & RULE_MASK
}

/** The backend id of an index value. */
export function dnatReplyBackend(value: number): number {
  return value >>> DNAT_REPLY_RULE_BITS
}

/** A public dnat rule as the compiler has it: the compiled rule, where it is in the document, its members' backend ids. */
export interface DnatReplySource {
  rule: CompiledRule
  /** `vips[v].rules[r]` */
  field: string
  backendIds: readonly number[]
}

export interface DnatReplyBackend {
  vsid: number
  /** Unsigned IPv4 address. */
  address: number
  port: number
  name: string
}

/**
 * The index of `sources`. A backend (VSID, address, backend port, protocol) that serves two public
 * dnat rules answering from different VIP addresses or frontend ports is ambiguous: a reply from it
 * without a flow could not tell which. With `refuseAmbiguous` (an instance of a several-instance
 * deployment, node.sharedProviderAddress set, where such replies are the rule) that throws
 * NVLB_ERR_INVALID_CONFIG naming the second rule's pool; otherwise the backend is left out (its
 * replies need their flow, as on a single instance).
 */
export function buildDnatReplyIndex(sources: readonly DnatReplySource[], backendOf: (id: number) => DnatReplyBackend, refuseAmbiguous: boolean): KeyTable {
  const AMBIGUOUS = -1
  const entries = new Map<string, { address: number; vsid: number; word: number; value: number; field: string }>()
  for (const s of sources) {
    for (const id of s.backendIds) {
      const b = backendOf(id)
      const word = (s.rule.protocol << 16) | b.port
      const key = `${b.address}|${b.vsid}|${word}`
      const known = entries.get(key)
      if (known === undefined) {
        entries.set(key, { address: b.address, vsid: b.vsid, word, value: (id << DNAT_REPLY_RULE_BITS) | s.rule.id, field: `${s.field} (${s.rule.vipAddressText}:${s.rule.frontendPort})` })
        continue
      }
      if (known.value !== AMBIGUOUS && dnatReplyRule(known.value) === s.rule.id) continue
      if (refuseAmbiguous) {
        const protocol = s.rule.protocol === PROTO_TCP ? 'tcp' : 'udp'
        throw new NvlbError(
          ErrorCodes.INVALID_CONFIG,
          `backend ${b.name} (${protocol}) of pool '${s.rule.pool}' already serves the public dnat rule ${known.field}: ` +
            `with node.sharedProviderAddress a reply from it can reach an instance without its flow, which could not tell whether to answer from ` +
            `${s.rule.vipAddressText}:${s.rule.frontendPort} or the other rule's VIP; give one rule another backendPort, or natMode "fullnat"`,
          `${s.field}.pool`,
        )
      }
      known.value = AMBIGUOUS
    }
  }
  const table = createKeyTable(entries.size, true)
  for (const e of entries.values()) if (e.value !== AMBIGUOUS) keyTableSet(table, e.address, e.vsid, e.word, e.value)
  return table
}
