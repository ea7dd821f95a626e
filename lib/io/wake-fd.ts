import * as c from './libc'

/**
 * An eventfd that wakes a packet worker out of poll(2): the main thread
 * signals it after posting a snapshot or setting the stop word, so a worker
 * that waits for frames does not sit out its poll timeout before it adopts a
 * change or stops; the worker handoff (worker-handoff.ts) wakes a worker the
 * same way when frames wait in its inbox. Made by the main thread (it outlives
 * a worker); the worker polls its fd with its sockets and drains it when it fires.
 */
export function createWakeFd(): number {
  const fd = c.eventfd(0, c.EFD_NONBLOCK | c.EFD_CLOEXEC)
  if (fd < 0) throw new Error(`eventfd failed: ${c.strerror(c.errno())}`)
  return fd
}

const ONE = (() => {
  const word = Buffer.alloc(8)
  word.writeBigUInt64LE(1n)
  return word
})()

/** Make the fd readable (adds to its count; one read resets it). */
export function signalWakeFd(fd: number): void {
  c.write(fd, ONE, 8)
}

/** Reset the count; EAGAIN when nothing was signalled is fine. */
export function drainWakeFd(fd: number, scratch: Buffer): void {
  c.read(fd, scratch, 8)
}
