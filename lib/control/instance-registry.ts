/**
 * Which nvlb instances share a configuration (GET /v1/instances). With the etcd
 * store every instance keeps `PREFIX/instances/<name>` current under a lease of
 * `ttlSeconds`: it disappears when the instance stops (the lease is revoked) or
 * dies (the lease expires, nobody keeps it alive). Without etcd the instance is
 * alone and the list is itself.
 */
import type { Logger } from 'pino'
import type { Etcd3, Lease } from 'etcd3'
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
    this.timer = setInterval(() => this.update(), Math.max(250, (this.ttlSeconds * 1000) / 3))
    this.timer.unref()
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
