import * as c from './libc'

/**
 * The bpf(2) system call as nvlb uses it: load a program assembled here (no compiler, no
 * libbpf) and attach it through a BPF link, which detaches it when the link's fd closes.
 */

const SYS_BPF = 321
export const BPF_MAP_CREATE = 0
const BPF_PROG_LOAD = 5
const BPF_LINK_CREATE = 28

export function bpf(command: number, attr: Buffer): number {
  return c.syscall3(SYS_BPF, command, attr, attr.length)
}

export function bpfError(what: string): Error {
  return new Error(`${what} failed: ${c.strerror(c.errno())}`)
}

/** Loads `code` as a GPL program of `programType` for `attachType`; the verifier's log is in the error. */
export function loadProgram(programType: number, attachType: number, code: Buffer, name: string): number {
  const license = Buffer.from('GPL\0')
  const log = Buffer.alloc(16384)
  const attr = Buffer.alloc(128)
  attr.writeUInt32LE(programType, 0)
  attr.writeUInt32LE(code.length / 8, 4)
  attr.writeBigUInt64LE(BigInt(c.bufferAddress(code)), 8)
  attr.writeBigUInt64LE(BigInt(c.bufferAddress(license)), 16)
  attr.writeUInt32LE(1, 24) // log level
  attr.writeUInt32LE(log.length, 28)
  attr.writeBigUInt64LE(BigInt(c.bufferAddress(log)), 32)
  attr.write(name.slice(0, 15), 48)
  attr.writeUInt32LE(attachType, 68)
  const fd = bpf(BPF_PROG_LOAD, attr)
  if (fd < 0) throw new Error(`BPF_PROG_LOAD (${name}) failed: ${c.strerror(c.errno())}: ${log.toString('utf8', 0, Math.max(0, log.indexOf(0)))}`)
  return fd
}

/** Attaches program `programFd` to interface `ifindex` at `attachType`; returns the link's fd. */
export function createLink(programFd: number, ifindex: number, attachType: number, flags: number, what: string): number {
  const attr = Buffer.alloc(64)
  attr.writeUInt32LE(programFd, 0)
  attr.writeUInt32LE(ifindex, 4)
  attr.writeUInt32LE(attachType, 8)
  attr.writeUInt32LE(flags, 12)
  const fd = bpf(BPF_LINK_CREATE, attr)
  if (fd < 0) throw bpfError(`BPF_LINK_CREATE (${what})`)
  return fd
}
