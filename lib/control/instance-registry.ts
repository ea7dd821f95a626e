/**
 * Which nvlb instances share a configuration (GET /v1/instances). With the etcd
 * store every instance keeps `PREFIX/instances/<name>` current under a lease of
 * `ttlSeconds`: it disappears when the instance stops (the lease is revoked) or
 * dies (the lease expires, nobody keeps it alive). Without etcd the instance is
 * alone and the list is itself.
 *
 * The other registered instances are this instance's peers: watchPeers() tells
 * their provider addresses as they come and go (`nvlb run` trusts NVGRE from
 * them, like node.peerProviderAddresses).
 */
import type { Logger } from 'pino'
import type { Etcd3, Lease, Watcher } from 'etcd3'
import { ErrorCodes, NvlbError } from '../errors'

export interface InstanceInfo {
  name: string
  providerAddress?: string
  externalAddress?: string
  /** http://HOST:PORT of its admin API. */
  apiAddress: string
  /** The configuration generation its packet path runs. */
  generation: number
  ready: boolean
  /** It reaches the shared store (always true without one). */
  storeConnected: boolean
  startedAt: string
  updatedAt: string
}

export type InstanceDescription = Omit<InstanceInfo, 'updatedAt'>

export interface InstanceRegistry {
  list(): Promise<InstanceInfo[]>
  /** The description changed (generation, readiness, store connection): publish it. */
  update(): void
  stop(): Promise<void>
}

export const DEFAULT_INSTANCE_TTL_S = 10

/** One instance, no shared store. */
export class LocalInstanceRegistry implements InstanceRegistry {
  constructor(private readonly describe: () => InstanceDescription) {}

  async list(): Promise<InstanceInfo[]> {
    return [{ ...this.describe(), updatedAt: new Date().toISOString() }]
  }

  update(): void {}

  async stop(): Promise<void> {}
}

export class EtcdInstanceRegistry implements InstanceRegistry {
  private lease: Lease | undefined
  private readonly key: string
  private last = ''
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private peerWatcher: Watcher | undefined
  private peerListener: ((providerAddresses: string[]) => void) | undefined
  /** The peers' PAs last told, sorted and joined by spaces (undefined before the first read). */
  private peersTold: string | undefined
  private peerRead: Promise<void> | undefined
  private peerReadAgain = false

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly describe: () => InstanceDescription,
    private readonly logger: Logger,
  ) {
    this.key = `${prefix}/instances/${describe().name}`
  }

  /** Registers the instance and keeps checking its lease (a lost lease, after an etcd outage, is granted again). */
  async start(): Promise<void> {
    await this.publish()
    this.timer = setInterval(() => {
      this.update()
      // Also read the peers every round: a watch that broke and came back may have missed an expiry.
      if (this.peerListener !== undefined) this.readPeers()
    }, Math.max(250, (this.ttlSeconds * 1000) / 3))
    this.timer.unref()
  }

  /**
   * Calls `listener` with the provider addresses of the other registered
   * instances (sorted, each once; instances without one are left out), soon
   * after the call and then whenever that set changes: an instance registers,
   * changes its PA, stops or its lease expires. Failures to read etcd are
   * retried on the next change or registration round; the last set told stays.
   */
  watchPeers(listener: (providerAddresses: string[]) => void): void {
    this.peerListener = listener
    void this.client
      .watch()
      .prefix(`${this.prefix}/instances/`)
      .create()
      .then((watcher) => {
        if (this.stopped) return void watcher.cancel().catch(() => undefined)
        this.peerWatcher = watcher
        watcher.on('put', () => this.readPeers())
        watcher.on('delete', () => this.readPeers())
        watcher.on('connected', () => this.readPeers())
        watcher.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'instance registry watch failed'))
      })
      .catch((err: unknown) => this.logger.debug({ err: (err as Error).message }, 'instance registry not watched yet'))
    this.readPeers()
  }

  /** Read the registered instances and tell the listener when the peers' PAs changed; one read at a time, reads asked for meanwhile coalesce. */
  private readPeers(): void {
    if (this.stopped || this.peerListener === undefined) return
    if (this.peerRead !== undefined) {
      this.peerReadAgain = true
      return
    }
    const own = this.key.slice(`${this.prefix}/instances/`.length)
    this.peerRead = this.list()
      .then((instances) => {
        const peers = [...new Set(instances.filter((i) => i.name !== own && typeof i.providerAddress === 'string').map((i) => i.providerAddress!))].sort()
        const told = peers.join(' ')
        if (told === this.peersTold || this.stopped) return
        this.peersTold = told
        this.peerListener?.(peers)
      })
      .catch((err: unknown) => this.logger.debug({ err: (err as Error).message }, 'instance registry not read'))
      .finally(() => {
        this.peerRead = undefined
        if (this.peerReadAgain) {
          this.peerReadAgain = false
          this.readPeers()
        }
      })
  }

  update(): void {
    if (this.stopped) return
    this.writing = this.writing.then(() => this.publish()).catch((err: unknown) => {
      this.logger.debug({ err: (err as Error).message }, 'instance registration not written')
    })
  }

  async list(): Promise<InstanceInfo[]> {
    try {
      const all = await this.client.getAll().prefix(`${this.prefix}/instances/`).strings()
      return Object.values(all)
        .map((text) => JSON.parse(text) as InstanceInfo)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    } catch (err) {
      throw new NvlbError(
        ErrorCodes.STORE_UNAVAILABLE,
        `the instance registry in etcd cannot be read (${(err as Error).message})`,
        undefined,
        503,
      )
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.peerWatcher?.cancel().catch(() => undefined)
    await this.peerRead
    await this.writing
    await this.lease?.revoke().catch(() => undefined)
  }

  private async publish(): Promise<void> {
    const { updatedAt: _drop, ...rest } = { ...this.describe(), updatedAt: '' }
    const text = JSON.stringify(rest)
    const fresh = this.lease === undefined || this.lease.revoked()
    const lease = this.currentLease()
    if (!fresh && text === this.last) return
    await lease.put(this.key).value(JSON.stringify({ ...rest, updatedAt: new Date().toISOString() })).exec()
    this.last = text
  }

  private currentLease(): Lease {
    if (this.lease === undefined || this.lease.revoked()) {
      const lease = this.client.lease(this.ttlSeconds)
      lease.on('lost', () => {
        if (this.lease === lease) {
          this.lease = undefined
          this.last = ''
        }
      })
      this.lease = lease
    }
    return this.lease
  }
}
