/**
 * What the admin API needs from the control plane (lib/control/control-plane.ts
 * provides it): the running document, its generation, and atomic, validated
 * changes with optimistic concurrency.
 */
import type { NvlbConfig } from '../control/config-types'
import type { DraftFocus } from '../control/control-plane'

export interface AppliedChange {
  generation: number
  config: NvlbConfig
  summary: string
}

export interface AdminControl<S = unknown> {
  readonly generation: number
  readonly config: NvlbConfig
  readonly snapshot: S | undefined
  readonly ready: boolean
  replace(doc: unknown, ifMatch?: number): Promise<AppliedChange>
  /** `focus`: the items of one section the edit changes; only they are copied (ControlPlane.update). */
  update(edit: (draft: NvlbConfig) => void, ifMatch?: number, focus?: DraftFocus): Promise<AppliedChange>
}
