/**
 * nvlb's BGP speaker: a BIRD daemon (bird-process.ts) that announces exactly the VIP /32s
 * announce-set.ts allows, with nvlb's external address as next hop, to the configured peers.
 *
 * The announcer re-evaluates the readiness every `checkIntervalMs` (and at once on `poke()`)
 * and reloads BIRD only when the set changed. `withdrawAll()` takes every announcement back
 * and keeps it back (SIGTERM: withdraw, drain, stop); `stop()` ends the daemon, which closes
 * the sessions. If nvlb dies, the kernel kills the daemon too (see bird-process.ts).
 */
import type { Logger } from 'pino'
import { BirdProcess } from './bird-process'
import { speakerConfig, type BgpPeer, type BgpTimers } from './bird-config'
import { announcedPrefixes, sharedAnnouncement, type Readiness } from './announce-set'

export interface BgpAnnouncerOptions {
  routerId: string
  localAsn: number
  peers: readonly BgpPeer[]
  /** The announcements' next hop: nvlb's external address. */
  nextHop: string
  timers: BgpTimers
  runDir: string
  logger: Logger
  /** The instance's state now. */
  readiness: () => Readiness
  /** Default 100 ms. */
  checkIntervalMs?: number
  /** Run BIRD in this namespace (tests); default: nvlb's own. */
  namespace?: string
}

export class BgpAnnouncer {
  private readonly bird: BirdProcess
  private announced: string[] = []
  private announcedShared: string | undefined
  private withdrawn = false
  private timer: NodeJS.Timeout | null = null
  private applying: Promise<void> = Promise.resolve()

  constructor(private readonly options: BgpAnnouncerOptions) {
    this.bird = new BirdProcess({ runDir: options.runDir, namespace: options.namespace })
  }

  /** The prefixes BIRD announces now. */
  get prefixes(): readonly string[] {
    return this.announced
  }

  /** The shared provider address announced now (`a.b.c.d/32 via PA`), if any. */
  get shared(): string | undefined {
    return this.announcedShared
  }

  private render(prefixes: readonly string[], shared?: { prefix: string; nextHop: string }): string {
    const o = this.options
    return speakerConfig({ routerId: o.routerId, localAsn: o.localAsn, peers: o.peers, nextHop: o.nextHop, prefixes, ...(shared === undefined ? {} : { shared }), timers: o.timers })
  }

  async start(): Promise<void> {
    await this.bird.start(this.render([]))
    this.options.logger.info(
      { peers: this.options.peers, routerId: this.options.routerId, asn: this.options.localAsn, timers: this.options.timers },
      'BGP speaker started',
    )
    await this.poke()
    this.timer = setInterval(() => void this.poke(), this.options.checkIntervalMs ?? 100)
    this.timer.unref()
  }

  /** Re-evaluate now; resolves once BIRD runs the result. */
  poke(): Promise<void> {
    this.applying = this.applying.then(() => this.apply()).catch((err: unknown) => {
      this.options.logger.error({ err }, 'BGP speaker: could not apply the announcements')
    })
    return this.applying
  }

  private async apply(): Promise<void> {
    if (!this.bird.running) return
    const readiness = this.options.readiness()
    const wanted = this.withdrawn ? [] : announcedPrefixes(readiness)
    const shared = this.withdrawn ? undefined : sharedAnnouncement(readiness)
    const sharedText = shared === undefined ? undefined : `${shared.prefix} via ${shared.nextHop}`
    if (sharedText === this.announcedShared && wanted.length === this.announced.length && wanted.every((p, i) => p === this.announced[i])) return
    await this.bird.configure(this.render(wanted, shared))
    const added = wanted.filter((p) => !this.announced.includes(p))
    const removed = this.announced.filter((p) => !wanted.includes(p))
    const sharedChange = sharedText === this.announcedShared ? {} : { sharedProviderAddress: sharedText ?? 'withdrawn' }
    this.announced = wanted
    this.announcedShared = sharedText
    this.options.logger.info({ announced: wanted, added, withdrawn: removed, ...sharedChange }, 'BGP announcements changed')
  }

  /** Withdraw every VIP and announce none from now on. */
  async withdrawAll(): Promise<void> {
    this.withdrawn = true
    await this.poke()
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.applying
    await this.bird.stop()
  }
}
