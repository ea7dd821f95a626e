/**
 * One nvlb per state dir: `<stateDir>/lock` is held with flock(2) (LOCK_EX,
 * non-blocking) for as long as the control plane is open, and holds the
 * holder's pid for the message a second instance prints. The kernel drops the
 * lock when its process exits, also on kill -9, so a lock file left by a dead
 * process is simply taken over (and its pid overwritten). flock comes from
 * libc through koffi, which nvlb already uses for its packet sockets (libuv opens
 * the file close-on-exec, so processes nvlb starts do not inherit the lock).
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync, constants as fsConstants } from 'node:fs'
import { join } from 'node:path'
import koffi from 'koffi'
import { ErrorCodes, NvlbError } from '../errors'

export const LOCK_FILE_NAME = 'lock'

const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
const EWOULDBLOCK = 11
const EINTR = 4

let flockC: ((fd: number, operation: number) => number) | undefined

function flock(fd: number, operation: number): number {
  flockC ??= koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, operation: number) => number
  for (;;) {
    if (flockC(fd, operation) === 0) return 0
    const code = koffi.errno()
    if (code !== EINTR) return code
  }
}

export class StateLock {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /** Takes the lock of `dir` (which must exist) or throws NVLB_ERR_STATE_LOCKED naming the holder. */
  static acquire(dir: string): StateLock {
    const file = join(dir, LOCK_FILE_NAME)
    const fd = openSync(file, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600)
    const code = flock(fd, LOCK_EX | LOCK_NB)
    if (code !== 0) {
      closeSync(fd)
      if (code !== EWOULDBLOCK) throw new Error(`cannot lock ${file}: flock failed with errno ${code}`)
      let holder = 'another process'
      try {
        const pid = readFileSync(file, 'utf8').trim()
        if (/^\d+$/.test(pid)) holder = `pid ${pid}`
      } catch {
        // unreadable: say no more than that it is held
      }
      throw new NvlbError(
        ErrorCodes.STATE_LOCKED,
        `state dir ${dir} is in use by another nvlb (${holder}); stop that one first or give another --state-dir`,
        undefined,
        409,
      )
    }
    ftruncateSync(fd, 0)
    writeSync(fd, `${process.pid}\n`, 0)
    return new StateLock(file, fd)
  }

  /** Releases the lock (the file stays; its pid no longer holds anything). */
  release(): void {
    if (this.fd === undefined) return
    flock(this.fd, LOCK_UN)
    closeSync(this.fd)
    this.fd = undefined
  }
}
