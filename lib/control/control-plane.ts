/**
 * The control plane's state machine: the running configuration, its generation,
 * the snapshot compiled from it, and the only way to change them.
 *
 * A change runs validate → compile → publish to the packet path → persist →
 * commit (→ summarize and log), one change at a time in arrival order. A
 * change is acknowledged only once it is on disk. Any failure leaves
 * generation, config, snapshot and the state file exactly as they were; a
 * failed write also hands the packet path its previous snapshot back. Every successful change
 * increments the generation by one (also when the new document equals the old
 * one, so an ETag always identifies one write) and is logged once with a summary.
 *
 * Before any configuration exists the generation is 0, `ready` is false and
 * `config` is the empty document `{ node: {}, neighbors: [], … }` (which does not
 * validate until a node is given).
 *
 * With `initialConfig` (nvlb run --config FILE) that document replaces the stored
 * one at open as generation stored + 1, unless it equals the stored document, in
 * which case the stored generation is kept. A corrupt state file is refused even
 * then: it is never silently replaced.
 */
import type { Logger } from 'pino'
import { ErrorCodes, NvlbError } from '../errors'
import type { NvlbConfig } from './config-types'
import { jsonClone, validateConfig } from './config-validate'
import { jsonEqual, summarizeChanges } from './config-diff'
import { Store } from './store'

export interface Applied {
  generation: number
  config: NvlbConfig
  summary: string
}

export type Compile<S> = (config: NvlbConfig, generation: number) => S

export interface ControlPlaneOptions<S> {
  stateDir: string
  logger: Logger
  compile: Compile<S>
  /** A document to start from instead of the stored one (nvlb run --config FILE); validated, persisted. */
  initialConfig?: unknown
}

export type SnapshotListener<S> = (snapshot: S, generation: number) => void

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

function emptyConfig(): NvlbConfig {
  return deepFreeze({
    node: {},
    neighbors: [],
    lookupRecords: [],
    customerRoutes: [],
    pools: [],
    vips: [],
  } as unknown as NvlbConfig)
}

export class ControlPlane<S = unknown> {
  private _generation = 0
  private _config: NvlbConfig = emptyConfig()
  private _snapshot: S | undefined = undefined
  private readonly listeners = new Set<SnapshotListener<S>>()
  /** Tail of the chain of pending changes; each change starts when the previous one settled. */
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  private constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly compileSnapshot: Compile<S>,
  ) {}

  static async open<S>(opts: ControlPlaneOptions<S>): Promise<ControlPlane<S>> {
    const store = await Store.open(opts.stateDir)
    const plane = new ControlPlane<S>(store, opts.logger, opts.compile)
    const stored = await store.load()

    if (opts.initialConfig !== undefined) {
      const config = deepFreeze(validateConfig(opts.initialConfig))
      if (stored !== null && jsonEqual(stored.config, config)) {
        plane.adopt(stored.generation, config, opts.compile(config, stored.generation))
        opts.logger.info(
          { generation: stored.generation, stateFile: store.file },
          'configuration from --config equals the stored one; keeping its generation',
        )
      } else {
        const generation = (stored?.generation ?? 0) + 1
        const snapshot = opts.compile(config, generation)
        await store.save({ generation, config })
        plane.adopt(generation, config, snapshot)
        opts.logger.info(
          { generation, summary: summarizeChanges(stored?.config, config), stateFile: store.file },
          'configuration loaded from --config',
        )
      }
    } else if (stored !== null) {
      plane.adopt(stored.generation, stored.config, opts.compile(stored.config, stored.generation))
      opts.logger.info({ generation: stored.generation, stateFile: store.file }, 'configuration restored from the state directory')
    } else {
      opts.logger.info({ stateFile: store.file }, 'no stored configuration; waiting for one')
    }
    return plane
  }

  /** 0 before any configuration; each successful change adds 1. */
  get generation(): number {
    return this._generation
  }

  /** The running, normalized document (deep-frozen). */
  get config(): NvlbConfig {
    return this._config
  }

  get snapshot(): S | undefined {
    return this._snapshot
  }

  /** A valid configuration is loaded and compiled. */
  get ready(): boolean {
    return this._snapshot !== undefined
  }

  /** The state file, for messages. */
  get stateFile(): string {
    return this.store.file
  }

  /** Replace the whole document. */
  replace(doc: unknown, ifMatch?: number): Promise<Applied> {
    return this.enqueue(ifMatch, () => doc)
  }

  /** Edit a deep copy of the running document; the result is validated whole like a replace. */
  update(edit: (draft: NvlbConfig) => void, ifMatch?: number): Promise<Applied> {
    return this.enqueue(ifMatch, () => {
      const draft = jsonClone(this._config) as NvlbConfig
      edit(draft)
      return draft
    })
  }

  /** Called synchronously after every successful change, and once right away if ready. */
  subscribe(listener: SnapshotListener<S>): () => void {
    this.listeners.add(listener)
    if (this._snapshot !== undefined) this.notify(listener, this._snapshot, this._generation)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /**
   * Compiles the running document again, keeping its generation, and hands the
   * snapshot to the listeners: for inputs of the compiler besides the document
   * (backend health). Queued behind pending changes, so it never publishes an
   * older document over a newer one.
   */
  republish(): Promise<void> {
    if (this.closed || this._snapshot === undefined) return Promise.resolve()
    const run = this.queue.then(() => {
      if (this.closed || this._snapshot === undefined) return
      const snapshot = this.compileSnapshot(this._config, this._generation)
      this._snapshot = snapshot
      for (const listener of [...this.listeners]) this.notify(listener, snapshot, this._generation)
    })
    this.queue = run.catch(() => undefined)
    return run
  }

  /** Waits for pending changes; later changes are refused. */
  async close(): Promise<void> {
    this.closed = true
    await this.queue.catch(() => undefined)
    this.listeners.clear()
  }

  private enqueue(ifMatch: number | undefined, produce: () => unknown): Promise<Applied> {
    if (this.closed) return Promise.reject(new Error('the control plane is closed'))
    const run = this.queue.then(() => this.apply(ifMatch, produce))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async apply(ifMatch: number | undefined, produce: () => unknown): Promise<Applied> {
    if (ifMatch !== undefined && ifMatch !== this._generation) {
      throw new NvlbError(
        ErrorCodes.PRECONDITION_FAILED,
        `the configuration changed: you have generation ${ifMatch}, the running one is ${this._generation}; read it again and retry`,
        undefined,
        412,
      )
    }
    const config = deepFreeze(validateConfig(produce()))
    const generation = this._generation + 1
    const snapshot = this.compileSnapshot(config, generation)
    const previous = this._generation === 0 ? undefined : this._config
    // The packet path takes the new snapshot while the state file is written
    // (the write and its fsync are most of a change's time); if the write
    // fails it gets the previous snapshot back, and nothing else changed.
    const listeners = [...this.listeners]
    for (const listener of listeners) this.notify(listener, snapshot, generation)
    try {
      await this.store.save({ generation, config })
    } catch (err) {
      if (this._snapshot !== undefined) for (const listener of listeners) this.notify(listener, this._snapshot, this._generation)
      throw err
    }
    this.adopt(generation, config, snapshot)
    const summary = summarizeChanges(previous, config)
    this.logger.info({ generation, summary }, 'configuration changed')
    return { generation, config: this._config, summary }
  }

  private adopt(generation: number, config: NvlbConfig, snapshot: S): void {
    this._generation = generation
    this._config = deepFreeze(config)
    this._snapshot = snapshot
  }

  private notify(listener: SnapshotListener<S>, snapshot: S, generation: number): void {
    try {
      listener(snapshot, generation)
    } catch (err) {
      this.logger.error({ err, generation }, 'a snapshot listener failed')
    }
  }
}
