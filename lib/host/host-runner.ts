/**
 * Binds a HostEmulator to real interfaces: one AF_PACKET socket (lib/io) on the
 * provider interface and one on each VM port, polled together, each on memory-mapped
 * rings where the kernel allows them (recvmmsg/sendmmsg otherwise). The loop runs on the
 * main thread in short poll(2) slices and yields to the event loop between them, so
 * signals and timers still work; a host emulator carries demo and test traffic, not the
 * load balancer's hot path. With `kernelFastPath` the common frames never reach these
 * sockets: XDP programs forward them (kernel-decap.ts, kernel-encap.ts) and the runner
 * adds their counts to the emulator's.
 */
import { slotSizeForMtu, type FramePort } from '../io/frame-port'
import { openFramePort } from '../io/open-frame-port'
import * as c from '../io/libc'
import { PollSet } from '../io/poll-set'
import { bypassKernelStack } from '../io/stack-bypass'
import { HostEmulator, type HostCounters } from './host-emulator'
import { KernelDecap, type KernelDecapCounters } from './kernel-decap'
import { KernelEncap } from './kernel-encap'

/** Longest a poll blocks the event loop, in milliseconds. */
const POLL_SLICE_MS = 20
const BATCHES_PER_TURN = 4

export interface HostRunnerOptions {
  emulator: HostEmulator
  providerInterface: string
  /** Interface of VM port i + 1 (the emulator's `vms[i]`). */
  vmInterfaces: readonly string[]
  /**
   * The emulator owns these interfaces wholly (a namespace of its own with no address on
   * them): keep the namespace's IP stack off them (lib/io/stack-bypass.ts). Where the kernel
   * refuses, the runner goes on without and says why in `stackBypassError`.
   */
  ownInterfaces?: boolean
  /**
   * Decapsulate and encapsulate the common frames in the kernel (lib/host/kernel-decap.ts,
   * kernel-encap.ts); the emulator still handles every other frame. Where the kernel refuses
   * one of them, the runner goes on without it and says why in `kernelFastPathErrors`.
   */
  kernelFastPath?: boolean
}

/** The emulator's counters, with the frames the kernel handled added in and counted apart. */
export type HostRunnerCounters = HostCounters & { decapsulatedInKernel: number; encapsulatedInKernel: number; abortedInKernel: number }

export class HostRunner {
  private emulatorInUse: HostEmulator
  private readonly ports: FramePort[]
  private readonly poll: PollSet
  private running = false
  private stopped: Promise<void> | null = null
  private resolveStopped: (() => void) | null = null
  private failure: Error | null = null
  private readonly bypassLinks: number[] = []
  /** Why ownInterfaces could not be honoured (undefined: it was, or was not asked for). */
  readonly stackBypassError: string | undefined
  private readonly decap: KernelDecap | null = null
  private readonly encap: KernelEncap | null = null
  /** The kernel's counts when the emulator in use took over (its own counters start at zero). */
  private decapBaseline: KernelDecapCounters = { decapsulated: 0, aborted: 0 }
  private encapBaseline = 0
  /** The emulator's neighbour count the encapsulation's routes were last written with. */
  private neighborsLearned = 0
  /** Why kernelFastPath could not be honoured, one message per direction refused. */
  readonly kernelFastPathErrors: string[] = []

  constructor(options: HostRunnerOptions) {
    this.emulatorInUse = options.emulator
    const vmCount = options.emulator.vmPorts.length - 1
    if (options.vmInterfaces.length !== vmCount) {
      throw new Error(`${vmCount} VM ports need ${vmCount} interfaces, got ${options.vmInterfaces.length}`)
    }
    const slotSize = slotSizeForMtu(options.emulator.policy.providerMtu)
    const names = [options.providerInterface, ...options.vmInterfaces]
    this.ports = []
    try {
      for (const interfaceName of names) {
        this.ports.push(openFramePort({ interfaceName, slotSize, batchSize: 32, promiscuous: true }).port)
      }
    } catch (err) {
      for (const port of this.ports) port.close()
      throw err
    }
    this.poll = new PollSet(this.ports.map((p) => p.fd))
    let bypassError: string | undefined
    if (options.ownInterfaces === true) {
      try {
        for (const interfaceName of names) this.bypassLinks.push(bypassKernelStack(interfaceName))
      } catch (err) {
        for (const fd of this.bypassLinks.splice(0)) c.close(fd)
        bypassError = (err as Error).message
      }
    }
    this.stackBypassError = bypassError
    if (options.kernelFastPath === true) {
      try {
        this.decap = new KernelDecap(options.emulator, options.providerInterface, options.vmInterfaces)
      } catch (err) {
        this.kernelFastPathErrors.push(`decapsulation: ${(err as Error).message}`)
      }
      try {
        this.encap = new KernelEncap(options.emulator, options.providerInterface, options.vmInterfaces)
        this.neighborsLearned = options.emulator.counters.neighborsLearned
      } catch (err) {
        this.kernelFastPathErrors.push(`encapsulation: ${(err as Error).message}`)
      }
    }
  }

  /** What the emulator in use counted, plus what the kernel decapsulated and encapsulated for it. */
  counters(): HostRunnerCounters {
    const counters: HostRunnerCounters = { ...this.emulatorInUse.counters, decapsulatedInKernel: 0, encapsulatedInKernel: 0, abortedInKernel: 0 }
    if (this.encap !== null) {
      const encapsulated = this.encap.read() - this.encapBaseline
      counters.encapsulatedInKernel = encapsulated
      counters.vmFramesIn += encapsulated
      counters.encapsulated += encapsulated
      counters.providerFramesOut += encapsulated
    }
    if (this.decap === null) return counters
    const now = this.decap.read()
    const decapsulated = now.decapsulated - this.decapBaseline.decapsulated
    counters.decapsulatedInKernel = decapsulated
    counters.abortedInKernel = now.aborted - this.decapBaseline.aborted
    counters.providerFramesIn += decapsulated + counters.abortedInKernel
    counters.decapsulated += decapsulated
    counters.vmFramesOut += decapsulated
    return counters
  }

  get emulator(): HostEmulator {
    return this.emulatorInUse
  }

  /** Use a new emulator (e.g. after a policy reload) from the next batch on. Same VM ports. */
  replaceEmulator(emulator: HostEmulator): void {
    if (emulator.vmPorts.length !== this.emulatorInUse.vmPorts.length) {
      throw new Error('a replacement emulator must have the same VM ports')
    }
    if (this.decap !== null) {
      this.decap.setVms(emulator)
      this.decapBaseline = this.decap.read()
    }
    if (this.encap !== null) {
      this.encap.setRoutes(emulator)
      this.encapBaseline = this.encap.read()
      this.neighborsLearned = emulator.counters.neighborsLearned
    }
    this.emulatorInUse = emulator
  }

  /** Start forwarding; the promise settles when stop() is called (or rejects on an I/O failure). */
  start(): Promise<void> {
    if (this.stopped !== null) return this.stopped
    this.running = true
    this.stopped = new Promise<void>((resolve, reject) => {
      this.resolveStopped = () => (this.failure === null ? resolve() : reject(this.failure))
    })
    setImmediate(() => this.loop())
    return this.stopped
  }

  /** Stops after the batch in flight and closes the sockets. */
  stop(): Promise<void> {
    if (this.stopped === null) {
      this.close()
      return Promise.resolve()
    }
    this.running = false
    return this.stopped.catch(() => undefined)
  }

  private loop(): void {
    if (!this.running) {
      this.close()
      this.resolveStopped?.()
      return
    }
    try {
      const mask = this.poll.wait(POLL_SLICE_MS)
      this.emulatorInUse.tick(performance.now() / 1000)
      this.flushOutput()
      for (let p = 0; p < this.ports.length; p++) {
        if ((mask & (1 << p)) !== 0) this.receiveFrom(p)
      }
      // A neighbour learned from ARP: frames to it can take the kernel's path from now on.
      const learned = this.emulatorInUse.counters.neighborsLearned
      if (this.encap !== null && learned !== this.neighborsLearned) {
        this.neighborsLearned = learned
        this.encap.setRoutes(this.emulatorInUse)
      }
    } catch (err) {
      this.failure = err as Error
      this.running = false
    }
    setImmediate(() => this.loop())
  }

  private receiveFrom(p: number): void {
    const port = this.ports[p]!
    const emulator = this.emulatorInUse
    // A few batches per port and turn, so one busy port cannot starve the others
    // (outputs point into the receive slots: flushed before the next receive).
    for (let batch = 0; batch < BATCHES_PER_TURN; batch++) {
      const n = port.receive()
      if (n === 0) return
      for (let i = 0; i < n; i++) emulator.process(p, port.rxBuffer, port.rxOffsets[i]!, port.rxLengths[i]!)
      this.flushOutput()
      if (n < port.batchSize) return
    }
  }

  private flushOutput(): void {
    const out = this.emulatorInUse.out
    if (out.count === 0) return
    for (let i = 0; i < out.count; i++) {
      this.ports[out.ports[i]!]!.send(out.buffers[i]!, out.offsets[i]!, out.lengths[i]!)
    }
    for (const port of this.ports) port.flush()
    out.clear()
  }

  private close(): void {
    for (const port of this.ports) port.close()
    for (const fd of this.bypassLinks.splice(0)) c.close(fd)
    this.decap?.close()
    this.encap?.close()
  }
}
