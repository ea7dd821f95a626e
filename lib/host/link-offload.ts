/**
 * Turns off transmit checksum offload and segmentation offload on an interface inside
 * a network namespace (what `ethtool -K IF tx off tso off gso off` does): enters the
 * namespace and lets lib/io/offloads do the SIOCETHTOOL requests (no ethtool binary).
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
import * as offloads from '../io/offloads'

const libc = koffi.load('libc.so.6')
const open: (path: string, flags: number) => number = libc.func('int open(const char *path, int flags)')
const setns: (fd: number, nstype: number) => number = libc.func('int setns(int fd, int nstype)')

const O_RDONLY = 0
const O_CLOEXEC = 0x80000
const CLONE_NEWNET = 0x40000000

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

/** `ethtool -K <interface> tx off tso off gso off` inside `namespace` (lib/io/offloads does the requests). */
export function disableOffloads(namespace: string, interfaceName: string): void {
  inNamespace(namespace, () => offloads.disableOffloads(interfaceName, { features: ['tx-checksumming', 'tso', 'gso'] }))
}

/**
 * GRO on for `interfaceName` inside `namespace`. On a veth that also turns NAPI on for its
 * receive side, which a VM's end needs before the kernel can redirect frames into it from
 * XDP (lib/host/kernel-decap.ts).
 */
export function enableGro(namespace: string, interfaceName: string): void {
  inNamespace(namespace, () => offloads.setOffload(interfaceName, 'gro', true))
}

export interface OffloadState {
  txChecksum: boolean
  tso: boolean
  gso: boolean
}

export function readOffloads(namespace: string, interfaceName: string): OffloadState {
  return inNamespace(namespace, () => {
    const state = offloads.readOffloads(interfaceName, ['tx-checksumming', 'tso', 'gso'])
    return { txChecksum: state['tx-checksumming'], tso: state.tso, gso: state.gso }
  })
}
