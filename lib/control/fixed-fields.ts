/**
 * Configuration fields the running packet path took once, at start, and cannot
 * take again while it runs: the interfaces its sockets are bound to, the size
 * of its flow table, the receive slot size that bounds the provider MTU. A
 * change that asks for another value is refused (NVLB_ERR_FIXED_AT_START, 409,
 * naming the field), never accepted and ignored. Everything else in the
 * document applies live.
 */
import { ErrorCodes, NvlbError } from '../errors'
import { DEFAULT_MAX_FLOWS } from './compiler'
import type { NvlbConfig } from './config-types'

export interface FixedField {
  /** JSON path of the field, e.g. `node.maxFlows`. */
  field: string
  /** The value the running process uses. */
  value: string | number
  /** The value a document asks for, defaults applied. */
  read(config: NvlbConfig): string | number | undefined
  /** 'same': only `value` itself; 'at-most': any number up to `value` applies live. */
  allows: 'same' | 'at-most'
  /** Why, in words: "the flow table was sized at start". */
  reason: string
}

/** Throws for the first fixed field the document would change. */
export function checkFixedFields(config: NvlbConfig, fixed: readonly FixedField[]): void {
  for (const f of fixed) {
    const asked = f.read(config)
    const ok =
      f.allows === 'same'
        ? asked === f.value
        : typeof asked === 'number' && typeof f.value === 'number' && asked <= f.value
    if (ok) continue
    const limit = f.allows === 'same' ? `is ${JSON.stringify(f.value)}` : `is at most ${f.value}`
    throw new NvlbError(
      ErrorCodes.FIXED_AT_START,
      `cannot change while nvlb runs (${f.reason}): the running value ${limit}, the change asks for ${JSON.stringify(asked ?? null)}; ` +
        'to change it, restart nvlb with --config FILE holding the new value',
      f.field,
      409,
    )
  }
}

/** The flow table of an engine: created once, with this capacity. */
export function flowTableField(capacity: number): FixedField {
  return {
    field: 'node.maxFlows',
    value: capacity,
    read: (c) => c.node.maxFlows ?? DEFAULT_MAX_FLOWS,
    allows: 'same',
    reason: 'the flow table was sized at start',
  }
}

/** The interfaces the packet workers' sockets are bound to (external: the provider one when not given). */
export function interfaceFields(providerInterface: string, externalInterface: string | undefined): FixedField[] {
  return [
    {
      field: 'node.providerInterface',
      value: providerInterface,
      read: (c) => c.node.providerInterface,
      allows: 'same',
      reason: 'the packet workers opened their sockets on it at start',
    },
    {
      field: 'node.externalInterface',
      value: externalInterface ?? providerInterface,
      read: (c) => c.node.externalInterface ?? c.node.providerInterface,
      allows: 'same',
      reason: 'the packet workers opened their sockets on it at start',
    },
  ]
}

/** The largest provider MTU whose frames fit the receive slots the workers allocated at start. */
export function providerMtuField(maxMtu: number): FixedField {
  return {
    field: 'node.providerMtu',
    value: maxMtu,
    read: (c) => c.node.providerMtu,
    allows: 'at-most',
    reason: 'the packet workers sized their receive slots at start',
  }
}
