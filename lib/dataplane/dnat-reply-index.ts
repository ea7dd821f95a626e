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
 *   (backend address, backend VSID, protocol << 16 | backend port) → backendId << 12 | ruleId
 *
 * for every backend of every public dnat rule. Built at compile time; looked up only when a reply
 * found no flow, without allocating.
 */
import { ErrorCodes, NvlbError } from '../errors'
import { createKeyTable, KEY_TABLE_MISSING, keyTableGet, keyTableSet, type KeyTable } from './key-table'
import { MAX_RULE_IDS, PROTO_TCP, type CompiledRule } from './snapshot'

/** Bits of the value that hold the rule id (MAX_RULE_IDS = 4096 = 2^12). */
export const DNAT_REPLY_RULE_BITS = 12
const RULE_MASK = (1 << DNAT_REPLY_RULE_BITS) - 1
if (1 << DNAT_REPLY_RULE_BITS !== MAX_RULE_IDS) throw new Error('DNAT_REPLY_RULE_BITS must match MAX_RULE_IDS')

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
 * The index of `sources`. Throws NVLB_ERR_INVALID_CONFIG naming the second rule's pool when one
 * backend (VSID, address, backend port, protocol) serves two public dnat rules that answer from
 * different VIP addresses or frontend ports: a reply without a flow could not tell which.
 */
export function buildDnatReplyIndex(sources: readonly DnatReplySource[], backendOf: (id: number) => DnatReplyBackend): KeyTable {
  const count = sources.reduce((n, s) => n + s.backendIds.length, 0)
  const table = createKeyTable(count)
  const owner: (string | undefined)[] = []
  for (const s of sources) {
    for (const id of s.backendIds) {
      const b = backendOf(id)
      const word = (s.rule.protocol << 16) | b.port
      const known = keyTableGet(table, b.address, b.vsid, word)
      if (known !== KEY_TABLE_MISSING) {
        const other = owner[dnatReplyRule(known)]
        if (dnatReplyRule(known) === s.rule.id) continue
        const protocol = s.rule.protocol === PROTO_TCP ? 'tcp' : 'udp'
        throw new NvlbError(
          ErrorCodes.INVALID_CONFIG,
          `backend ${b.name} (${protocol}) of pool '${s.rule.pool}' already serves the public dnat rule ${other ?? ''}: ` +
            `a reply from it that reaches an instance without its flow could not tell whether to answer from ` +
            `${s.rule.vipAddressText}:${s.rule.frontendPort} or the other rule's VIP; give one rule another backendPort, or natMode "fullnat"`,
          `${s.field}.pool`,
        )
      }
      keyTableSet(table, b.address, b.vsid, word, (id << DNAT_REPLY_RULE_BITS) | s.rule.id)
      owner[s.rule.id] = `${s.field} (${s.rule.vipAddressText}:${s.rule.frontendPort})`
    }
  }
  return table
}
