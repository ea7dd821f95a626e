import { BPF_MAP_CREATE, BPF_MAP_UPDATE_ELEM, bpf, bpfError, createLink, instruction, loadProgram } from './bpf-syscall'
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

const BPF_MAP_TYPE_XSKMAP = 17
const BPF_PROG_TYPE_XDP = 6
const BPF_XDP = 37
const BPF_PSEUDO_MAP_FD = 1
const BPF_FUNC_REDIRECT_MAP = 51
const XDP_PASS = 2
/** struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index. */
const XDP_MD_RX_QUEUE_INDEX = 16

export const XDP_FLAGS_SKB_MODE = 2
export const XDP_FLAGS_DRV_MODE = 4

/** The redirect program for `mapFd` (an XSKMAP). */
export function redirectProgram(mapFd: number): Buffer {
  return Buffer.concat([
    instruction(0x61, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0), // r2 = *(u32 *)(r1 + rx_queue_index)
    instruction(0x18, 1, BPF_PSEUDO_MAP_FD, 0, mapFd), // r1 = the map (64-bit immediate: two slots)
    instruction(0, 0, 0, 0, 0),
    instruction(0xb7, 3, 0, 0, XDP_PASS), // r3 = action when the queue has no socket
    instruction(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
    instruction(0x95, 0, 0, 0, 0), // exit
  ])
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
  const mapAttr = Buffer.alloc(72)
  mapAttr.writeUInt32LE(BPF_MAP_TYPE_XSKMAP, 0)
  mapAttr.writeUInt32LE(4, 4) // key: queue index
  mapAttr.writeUInt32LE(4, 8) // value: socket fd
  mapAttr.writeUInt32LE(queues, 12)
  const mapFd = bpf(BPF_MAP_CREATE, mapAttr)
  if (mapFd < 0) throw bpfError('BPF_MAP_CREATE (XSKMAP)')
  const opened = [mapFd]
  try {
    const progFd = loadProgram(BPF_PROG_TYPE_XDP, BPF_XDP, redirectProgram(mapFd), 'nvlb_xsk')
    opened.push(progFd)
    const linkFd = createLink(progFd, ifindex, BPF_XDP, flags, 'XDP')
    opened.push(linkFd)
    const key = Buffer.alloc(4)
    const value = Buffer.alloc(4)
    const update = Buffer.alloc(32)
    update.writeUInt32LE(mapFd, 0)
    update.writeBigUInt64LE(BigInt(c.bufferAddress(key)), 8)
    update.writeBigUInt64LE(BigInt(c.bufferAddress(value)), 16)
    return {
      mapFd,
      progFd,
      linkFd,
      addSocket(queue: number, socketFd: number): void {
        key.writeUInt32LE(queue)
        value.writeUInt32LE(socketFd)
        if (bpf(BPF_MAP_UPDATE_ELEM, update) < 0) throw bpfError('BPF_MAP_UPDATE_ELEM (XSKMAP)')
      },
      close(): void {
        for (const fd of opened.splice(0).reverse()) c.close(fd)
      },
    }
  } catch (error) {
    for (const fd of opened.reverse()) c.close(fd)
    throw error
  }
}
