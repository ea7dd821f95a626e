/**
 * Turns off transmit checksum offload and segmentation offload on an interface inside
 * a network namespace (what `ethtool -K IF tx off tso off gso off` does), through the
 * SIOCETHTOOL ioctl — no ethtool binary needed.
 *
 * Why: a kernel sending through a veth leaves TCP/UDP checksums to "the hardware" and
 * may hand over 64 KiB GSO super-frames. An AF_PACKET socket on the other end (nvlb,
 * the host emulator) would see partial checksums and oversized frames and forward them
 * as they are, which the receiving kernel drops. Every interface whose frames are read
 * by AF_PACKET and sent on gets this: the client's and the VMs' interfaces.
 *
 * The calling thread enters the namespace with setns(2) for the ioctl and always
 * returns to its own namespace before this returns.
 */
import koffi from 'koffi'
import * as c from '../io/libc'

const libc = koffi.load('libc.so.6')
const open: (path: string, flags: number) => number = libc.func('int open(const char *path, int flags)')
const setns: (fd: number, nstype: number) => number = libc.func('int setns(int fd, int nstype)')

const O_RDONLY = 0
const O_CLOEXEC = 0x80000
const CLONE_NEWNET = 0x40000000
const SIOCETHTOOL = 0x8946
const IFNAMSIZ = 16
/** struct ifreq on LP64: name[16] + a union of 24 bytes (ifr_data is a pointer at 16). */
const IFREQ_SIZE = 40

/** Legacy ethtool commands (struct ethtool_value { u32 cmd; u32 data; }). */
export const ETHTOOL_GTXCSUM = 0x16
export const ETHTOOL_STXCSUM = 0x17
export const ETHTOOL_GTSO = 0x1e
export const ETHTOOL_STSO = 0x1f
export const ETHTOOL_GGSO = 0x23
export const ETHTOOL_SGSO = 0x24

function failure(what: string): Error {
  const code = c.errno()
  return new Error(`${what}: ${c.strerror(code)} (errno ${code})`)
}

/** Runs `body` with the calling thread inside the named namespace (`/run/netns/<name>`). */
export function inNamespace<T>(namespace: string, body: () => T): T {
  const own = open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC)
  if (own < 0) throw failure('open /proc/thread-self/ns/net')
  try {
    const target = open(`/run/netns/${namespace}`, O_RDONLY | O_CLOEXEC)
    if (target < 0) throw failure(`open /run/netns/${namespace}`)
    try {
      if (setns(target, CLONE_NEWNET) < 0) throw failure(`setns ${namespace}`)
    } finally {
      c.close(target)
    }
    try {
      return body()
    } finally {
      if (setns(own, CLONE_NEWNET) < 0) {
        // Staying in the wrong namespace would silently misdirect every later socket.
        process.stderr.write(`fatal: cannot return from namespace ${namespace}: ${c.strerror(c.errno())}\n`)
        process.abort()
      }
    }
  } finally {
    c.close(own)
  }
}

function ethtool(fd: number, interfaceName: string, command: number, data: number): number {
  const value = Buffer.alloc(8)
  value.writeUInt32LE(command, 0)
  value.writeUInt32LE(data >>> 0, 4)
  const request = Buffer.alloc(IFREQ_SIZE)
  if (Buffer.byteLength(interfaceName) >= IFNAMSIZ) throw new Error(`interface name '${interfaceName}' is too long`)
  request.write(interfaceName, 0, 'latin1')
  const address = c.bufferAddress(value)
  request.writeUInt32LE(address % 0x100000000, IFNAMSIZ)
  request.writeUInt32LE(Math.floor(address / 0x100000000), IFNAMSIZ + 4)
  if (c.ioctl(fd, SIOCETHTOOL, request) < 0) throw failure(`SIOCETHTOOL 0x${command.toString(16)} on ${interfaceName}`)
  return value.readUInt32LE(4)
}

function withSocket<T>(body: (fd: number) => T): T {
  const fd = c.socket(c.AF_INET, c.SOCK_DGRAM, 0)
  if (fd < 0) throw failure('socket(AF_INET, SOCK_DGRAM)')
  try {
    return body(fd)
  } finally {
    c.close(fd)
  }
}

/** `ethtool -K <interface> tx off tso off gso off` inside `namespace`. */
export function disableOffloads(namespace: string, interfaceName: string): void {
  inNamespace(namespace, () =>
    withSocket((fd) => {
      ethtool(fd, interfaceName, ETHTOOL_STXCSUM, 0)
      ethtool(fd, interfaceName, ETHTOOL_STSO, 0)
      ethtool(fd, interfaceName, ETHTOOL_SGSO, 0)
    }),
  )
}

export interface OffloadState {
  txChecksum: boolean
  tso: boolean
  gso: boolean
}

export function readOffloads(namespace: string, interfaceName: string): OffloadState {
  return inNamespace(namespace, () =>
    withSocket((fd) => ({
      txChecksum: ethtool(fd, interfaceName, ETHTOOL_GTXCSUM, 0) !== 0,
      tso: ethtool(fd, interfaceName, ETHTOOL_GTSO, 0) !== 0,
      gso: ethtool(fd, interfaceName, ETHTOOL_GGSO, 0) !== 0,
    })),
  )
}
