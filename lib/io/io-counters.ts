/**
 * Counters of the I/O layer (one Float64Array per worker, in a
 * SharedArrayBuffer the main thread reads). The engine's own counters
 * (lib/dataplane/counters) count what it did with the frames; these count
 * what the ports and the worker loop saw.
 */
export const IO_RX_FRAMES = 0
export const IO_RX_BYTES = 1
/** Frames longer than a receive slot (dropped). */
export const IO_RX_TRUNCATED = 2
export const IO_RX_ERRORS = 3
export const IO_TX_FRAMES = 4
export const IO_TX_BYTES = 5
/** Frames the kernel refused or the send queue could not take (dropped). */
export const IO_TX_ERRORS = 6
export const IO_BATCHES = 7
/** Frames the kernel dropped because a socket's receive queue was full (PACKET_STATISTICS). */
export const IO_KERNEL_DROPS = 8
/** Generation of the snapshot the worker runs. */
export const IO_GENERATION = 9
/** Flows in the worker's flow table. */
export const IO_FLOWS = 10
/** Times the worker applied a new snapshot. */
export const IO_ADOPTIONS = 11
/** Frames this worker handed to the worker that owns them (worker-handoff.ts). */
export const IO_HANDOFFS_OUT = 12
/** Frames other workers handed to this one. */
export const IO_HANDOFFS_IN = 13
/** Frames that could not be handed over (the owner's ring was full): dropped. */
export const IO_HANDOFF_DROPS = 14
/** Times the worker slept in poll(2) waiting for frames (busy-polling keeps this low under load). */
export const IO_SLEEPS = 15
const IO_SLOTS = 16

export const IO_COUNTERS_BYTE_LENGTH = IO_SLOTS * Float64Array.BYTES_PER_ELEMENT

export function ioCounters(buffer?: SharedArrayBuffer | ArrayBuffer): Float64Array {
  return new Float64Array(buffer ?? new ArrayBuffer(IO_COUNTERS_BYTE_LENGTH), 0, IO_SLOTS)
}

export interface IoStats {
  rxFrames: number
  rxBytes: number
  rxTruncated: number
  rxErrors: number
  txFrames: number
  txBytes: number
  txErrors: number
  batches: number
  kernelDrops: number
  handoffsOut: number
  handoffsIn: number
  handoffDrops: number
}

/** Sums several workers' I/O counters. */
export function sumIoCounters(all: readonly Float64Array[]): IoStats {
  const sum = (i: number): number => all.reduce((s, c) => s + c[i]!, 0)
  return {
    rxFrames: sum(IO_RX_FRAMES),
    rxBytes: sum(IO_RX_BYTES),
    rxTruncated: sum(IO_RX_TRUNCATED),
    rxErrors: sum(IO_RX_ERRORS),
    txFrames: sum(IO_TX_FRAMES),
    txBytes: sum(IO_TX_BYTES),
    txErrors: sum(IO_TX_ERRORS),
    batches: sum(IO_BATCHES),
    kernelDrops: sum(IO_KERNEL_DROPS),
    handoffsOut: sum(IO_HANDOFFS_OUT),
    handoffsIn: sum(IO_HANDOFFS_IN),
    handoffDrops: sum(IO_HANDOFF_DROPS),
  }
}
