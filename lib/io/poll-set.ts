import * as c from './libc'

/**
 * Waits until one of a fixed set of sockets is readable, with poll(2).
 * The pollfd array is prepared once; wait() returns a bit mask of the
 * ready sockets (bit i = fds[i]), 0 on timeout.
 */
export class PollSet {
  readonly fds: readonly number[]
  private readonly pollfds: Buffer
  private readonly words: Int16Array

  constructor(fds: readonly number[]) {
    if (fds.length > 30) throw new RangeError('PollSet handles at most 30 sockets')
    this.fds = fds
    this.pollfds = Buffer.alloc(Math.max(1, fds.length) * c.POLLFD_SIZE)
    this.words = new Int16Array(this.pollfds.buffer, this.pollfds.byteOffset, this.pollfds.length / 2)
    for (let i = 0; i < fds.length; i++) {
      this.pollfds.writeInt32LE(fds[i]!, i * c.POLLFD_SIZE)
      this.pollfds.writeInt16LE(c.POLLIN, i * c.POLLFD_SIZE + 4)
    }
  }

  /** Ready mask; errors and hang-ups count as ready so the caller's receive sees them. */
  wait(timeoutMs: number): number {
    const n = c.poll(this.pollfds, this.fds.length, timeoutMs)
    if (n <= 0) return 0
    let mask = 0
    const stride = c.POLLFD_SIZE >> 1
    for (let i = 0; i < this.fds.length; i++) {
      if (this.words[i * stride + 3] !== 0) mask |= 1 << i
    }
    return mask
  }
}
