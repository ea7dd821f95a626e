import type { FramePort } from '../../../lib/io/frame-port'
import { PollSet } from '../../../lib/io/poll-set'

/** Sends one frame at a time and reports at which of the watched ports a frame with `marker` came out first. */
export class FrameExchange {
  private readonly poll: PollSet

  constructor(
    private readonly sender: FramePort,
    private readonly watched: readonly FramePort[],
    private readonly marker: Buffer,
  ) {
    this.poll = new PollSet(watched.map((p) => p.fd))
  }

  /** Where `frame` came out (an index into the watched ports) and the bytes there, or null after 2 s. */
  offer(frame: Buffer): { where: number; frame: Buffer } | null {
    this.sender.send(frame, 0, frame.length)
    this.sender.flush()
    const deadline = Date.now() + 2000
    while (Date.now() < deadline) {
      const mask = this.poll.wait(200)
      for (let w = 0; w < this.watched.length; w++) {
        if ((mask & (1 << w)) === 0) continue
        const port = this.watched[w]!
        const n = port.receive()
        for (let i = 0; i < n; i++) {
          const got = Buffer.from(port.rxBuffer.subarray(port.rxOffsets[i]!, port.rxOffsets[i]! + port.rxLengths[i]!))
          // Only ours: the kernel may put its own frames on a fresh link.
          if (got.includes(this.marker)) return { where: w, frame: got }
        }
      }
    }
    return null
  }
}

/** A small deterministic generator for the tests' random changes. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    return state % n
  }
}
