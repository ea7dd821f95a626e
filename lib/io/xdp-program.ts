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

const SYS_BPF = 321
const BPF_MAP_CREATE = 0
const BPF_MAP_UPDATE_ELEM = 2
const BPF_PROG_LOAD = 5
const BPF_LINK_CREATE = 28
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

function bpf(command: number, attr: Buffer): number {
  return c.syscall3(SYS_BPF, command, attr, attr.length)
}

function bpfError(what: string): Error {
  return new Error(`${what} failed: ${c.strerror(c.errno())}`)
}

function instruction(opcode: number, dst: number, src: number, offset: number, imm: number): Buffer {
  const b = Buffer.alloc(8)
  b[0] = opcode
  b[1] = (src << 4) | dst
  b.writeInt16LE(offset, 2)
  b.writeInt32LE(imm, 4)
  return b
}

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
    const code = redirectProgram(mapFd)
    const license = Buffer.from('GPL\0')
    const log = Buffer.alloc(16384)
    const progAttr = Buffer.alloc(128)
    progAttr.writeUInt32LE(BPF_PROG_TYPE_XDP, 0)
    progAttr.writeUInt32LE(code.length / 8, 4)
    progAttr.writeBigUInt64LE(BigInt(c.bufferAddress(code)), 8)
    progAttr.writeBigUInt64LE(BigInt(c.bufferAddress(license)), 16)
    progAttr.writeUInt32LE(1, 24) // log level
    progAttr.writeUInt32LE(log.length, 28)
    progAttr.writeBigUInt64LE(BigInt(c.bufferAddress(log)), 32)
    progAttr.write('nvlb_xsk', 48)
    progAttr.writeUInt32LE(BPF_XDP, 68) // expected attach type
    const progFd = bpf(BPF_PROG_LOAD, progAttr)
    if (progFd < 0) throw new Error(`BPF_PROG_LOAD failed: ${c.strerror(c.errno())}: ${log.toString('utf8', 0, Math.max(0, log.indexOf(0)))}`)
    opened.push(progFd)
    const linkAttr = Buffer.alloc(64)
    linkAttr.writeUInt32LE(progFd, 0)
    linkAttr.writeUInt32LE(ifindex, 4)
    linkAttr.writeUInt32LE(BPF_XDP, 8)
    linkAttr.writeUInt32LE(flags, 12)
    const linkFd = bpf(BPF_LINK_CREATE, linkAttr)
    if (linkFd < 0) throw bpfError('BPF_LINK_CREATE (XDP)')
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
