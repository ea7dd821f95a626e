/**
 * V8's inlining budget, raised for the packet path. TurboFan inlines the
 * functions an optimized function calls until their bytecode adds up to
 * --max-inlined-bytecode-size-cumulative (920 bytes by default); past that,
 * calls stay calls, with their frames, spills and argument moves. One frame's
 * path through the engine (process → fromProvider → sourceTrusted, the flow
 * lookup, toBackend → trackTcp, the NAT rewrites, encapsulate → the neighbour
 * table and the NVGRE writer) is split by concern into small functions whose
 * bytecode is several times that, so with the default budget half of them are
 * called. The flag is process-wide (worker threads share it) and is read when
 * a function is optimized, so it is set once, before the first packet (the
 * figures are in the commit that added this file).
 */
import { setFlagsFromString } from 'node:v8'

export const PACKET_PATH_INLINING_BUDGET = 4000

let raised = false

export function raiseInliningBudget(): void {
  if (raised) return
  raised = true
  setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${PACKET_PATH_INLINING_BUDGET}`)
}
