import { BpfMap, BPF_MAP_TYPE_XSKMAP } from './bpf-map'
import { createLink, loadProgram } from './bpf-syscall'
import { EbpfProgram, R1, R2, R3, W } from './ebpf-assembler'
import * as c from './libc'

/**
 * The eBPF side of an AF_XDP socket (Documentation/networking/af_xdp.rst): an
 * XSKMAP with one entry per receive queue, and the XDP program
 *
 *   return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
 *
 * (five instructions, assembled here: no compiler, no libbpf), attached to the
 * interface through a BPF link, so it is detached when the link's fd closes.
 * A frame of a queue with no socket in the map goes on to the kernel's stack.
 */

export const BPF_PROG_TYPE_XDP = 6
/** The XDP attach type (of a BPF link). */
export const BPF_XDP = 37
export const BPF_FUNC_MAP_LOOKUP_ELEM = 1
const BPF_FUNC_REDIRECT_MAP = 51
/** XDP verdicts. */
export const XDP_ABORTED = 0
export const XDP_DROP = 1
export const XDP_PASS = 2
/** struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index. */
export const XDP_MD_DATA = 0
export const XDP_MD_DATA_END = 4
const XDP_MD_RX_QUEUE_INDEX = 16

export const XDP_FLAGS_SKB_MODE = 2
export const XDP_FLAGS_DRV_MODE = 4

/** Appends: redirect to the socket of the frame's receive queue in XSKMAP `mapFd`, or pass when there is none (the context in `context`). */
export function redirectToQueueSocket(p: EbpfProgram, mapFd: number, context: number): EbpfProgram {
  return p
    .load(W, R2, context, XDP_MD_RX_QUEUE_INDEX)
    .loadMap(R1, mapFd)
    .movImm(R3, XDP_PASS) // the action when the queue has no socket
    .call(BPF_FUNC_REDIRECT_MAP)
    .exit()
}

/** The redirect program for `mapFd` (an XSKMAP). */
export function redirectProgram(mapFd: number): Buffer {
  return redirectToQueueSocket(new EbpfProgram(), mapFd, R1).encode()
}

export interface XdpRedirect {
  mapFd: number
  progFd: number
  linkFd: number
  /** Put the socket `socketFd` in the map for receive queue `queue`. */
  addSocket(queue: number, socketFd: number): void
  /** Detaches the program (closing the link) and frees map and program. */
  close(): void
}

/** Loads the redirect program and attaches it to `ifindex` (native XDP by default, generic with XDP_FLAGS_SKB_MODE). */
export function attachXdpRedirect(ifindex: number, queues: number, flags: number): XdpRedirect {
  const map = new BpfMap(BPF_MAP_TYPE_XSKMAP, 4, 4, queues, 'nvlb_xsks') // queue index → socket fd
  const opened: number[] = []
  try {
    const progFd = loadProgram(BPF_PROG_TYPE_XDP, BPF_XDP, redirectProgram(map.fd), 'nvlb_xsk')
    opened.push(progFd)
    const linkFd = createLink(progFd, ifindex, BPF_XDP, flags, 'XDP')
    opened.push(linkFd)
    const key = Buffer.alloc(4)
    const value = Buffer.alloc(4)
    return {
      mapFd: map.fd,
      progFd,
      linkFd,
      addSocket(queue: number, socketFd: number): void {
        key.writeUInt32LE(queue)
        value.writeUInt32LE(socketFd)
        map.set(key, value)
      },
      close(): void {
        for (const fd of opened.splice(0).reverse()) c.close(fd)
        map.close()
      },
    }
  } catch (error) {
    for (const fd of opened.reverse()) c.close(fd)
    map.close()
    throw error
  }
}
