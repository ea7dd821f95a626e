/**
 * Source ports for full NAT and hairpin flows. Packet workers share flows by
 * the client-side port (the kernel's fanout, lib/io): a NAT port must equal
 * the client's port modulo the number of workers so that the reply, steered
 * by its destination port, reaches the worker that owns the flow. Ports are
 * from 1024 up; the caller skips a candidate that is a rule's port on the NAT
 * address or whose reply tuple is taken.
 */
import { hashMod } from '../hash/hash-mod'

export const NAT_PORT_FIRST = 1024
/** Candidates tried per new flow before it is dropped as nat_ports_exhausted. */
export const NAT_PORT_TRIES = 64
/** Stride between candidates (a prime, so the walk spreads over the range). */
const NAT_PORT_STRIDE = 4099

export class NatPorts {
  readonly workerCount: number
  /** The first multiple of workerCount from NAT_PORT_FIRST. */
  readonly base: number
  /** How many ports of one residue class fit below 65536. */
  readonly slots: number

  constructor(workerCount: number) {
    this.workerCount = Math.max(1, workerCount | 0)
    this.base = Math.ceil(NAT_PORT_FIRST / this.workerCount) * this.workerCount
    this.slots = Math.floor((65536 - this.base) / this.workerCount)
  }

  /** Candidate number `attempt` (0 .. NAT_PORT_TRIES−1) for a flow of this hash and client port. */
  candidate(hash: number, clientPort: number, attempt: number): number {
    const start = hashMod(hash, this.slots)
    return this.base + ((start + attempt * NAT_PORT_STRIDE) % this.slots) * this.workerCount + (clientPort % this.workerCount)
  }
}
