import { createLink, loadProgram } from './bpf-syscall'
import { EbpfProgram, R0 } from './ebpf-assembler'
import * as c from './libc'

/**
 * Keeps a namespace's own IP stack off an interface whose every frame an AF_PACKET
 * reader owns (a host emulator's provider port): a two-instruction tc program,
 *
 *   return TC_ACT_SHOT;
 *
 * attached at the interface's tcx ingress hook through a BPF link (no tc modules needed).
 * The kernel runs that hook after it has handed the frame to every ETH_P_ALL packet
 * socket, so those still receive everything; what it saves is the stack's own pass over
 * each frame (route lookup, then a drop: with no address in the namespace nothing is
 * local). Closing the returned fd detaches it.
 */

const BPF_PROG_TYPE_SCHED_CLS = 3
const BPF_TCX_INGRESS = 46
const TC_ACT_SHOT = 2

export function dropProgram(): Buffer {
  return new EbpfProgram().movImm(R0, TC_ACT_SHOT).exit().encode()
}

/** Attaches the drop program at `interfaceName`'s ingress; returns the link fd (close it to detach). Throws when the kernel refuses. */
export function bypassKernelStack(interfaceName: string): number {
  const ifindex = c.interfaceIndex(interfaceName)
  const program = loadProgram(BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, dropProgram(), 'nvlb_own_if')
  try {
    return createLink(program, ifindex, BPF_TCX_INGRESS, 0, `tcx ingress on ${interfaceName}`)
  } finally {
    // The link holds the program.
    c.close(program)
  }
}
