/**
 * The control plane's state machine: the running configuration, its generation,
 * the snapshot compiled from it, and the only way to change them.
 *
 * A change runs validate → compile → persist → commit → publish to the packet
 * path → wait until every packet worker runs it (→ summarize and log), one change
 * at a time in arrival order. "Acknowledged" means durable and running: the
 * answer comes only after the write (fsync) and after `awaitRunning` resolved.
 * Any failure before the write is done leaves generation, config, snapshot and
 * the state file exactly as they were, and the packet path never sees the
 * change. Every successful change increments the generation by one (also when
 * the new document equals the old one, so an ETag always identifies one write)
 * and is logged once with a summary.
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
import { jsonClone, validateChange, validateConfig } from './config-validate'
import { jsonEqual, summarizeChanges } from './config-diff'
import { applyChangeSet, changesBetween, documentOf, resourcesOf, type AppliedChangeSet, type ConfigStore } from './store'
import { JournalStore } from './journal-store'

/** Loads and writes at start before a concurrent writer's 412 is given up on. */
const START_ATTEMPTS = 5
import { checkFixedFields, type FixedField } from './fixed-fields'

export interface Applied {
  generation: number
  config: NvlbConfig
  summary: string
}

export type Compile<S> = (config: NvlbConfig, generation: number) => S

export interface ControlPlaneOptions<S> {
  stateDir: string
  /** Where the document is stored; default: the state dir's journal store (which also locks the dir). */
  store?: ConfigStore
  logger: Logger
  compile: Compile<S>
  /**
   * A document to start from instead of the stored one (nvlb run --config FILE); validated
   * (unless it is frozen: a deep-frozen result of validateConfig is taken as it is), persisted.
   */
  initialConfig?: unknown
  /**
   * Resolves once every packet worker runs `generation` (or a later one); a change
   * is answered only then. Without it a change counts as running once the
   * listeners returned (an in-process engine adopts synchronously).
   */
  awaitRunning?(generation: number): Promise<void>
  /** How long a change waits for awaitRunning before it is answered NVLB_ERR_NOT_RUNNING (503); default 10 s. */
  runningTimeoutMs?: number
}

const DEFAULT_RUNNING_TIMEOUT_MS = 10_000

export type SnapshotListener<S> = (snapshot: S, generation: number) => void

/**
 * The items of one list section an edit may change (update's `focus`): the draft's copy of
 * that section holds copies of those items and the running (frozen) items themselves for
 * the rest, so an edit of one pool of thousands copies one pool. Changing another item of
 * the section throws (it is frozen).
 */
export interface DraftFocus {
  section: 'neighbors' | 'customerRoutes' | 'pools' | 'vips'
  matches(item: unknown): boolean
}

/** Freezes `value` and everything in it (a validated document: the control plane freezes only those). */
export function deepFreeze<T>(value: T): T {
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

/**
 * A draft of the running document for an edit, copied section by section on first
 * access: an edit pays for the sections it touches, and the sections it leaves alone
 * stay the running (frozen, validated) lists, which validation, the compiler and the
 * store then recognize by reference and skip. A section the edit reads is a deep copy,
 * except lookupRecords (by far the most items): a new array of the running records,
 * which are frozen; an edit adds, replaces or removes records, and never changes one
 * in place.
 */
function draftOf(config: NvlbConfig, focus?: DraftFocus): { draft: NvlbConfig; settle(): Record<string, unknown> } {
  const draft: Record<string, unknown> = {}
  const copies = new Map<string, unknown>()
  const running = config as unknown as Record<string, unknown>
  for (const key of Object.keys(running)) {
    const value = running[key]
    Object.defineProperty(draft, key, {
      enumerable: true,
      configurable: true,
      get() {
        if (!copies.has(key)) copies.set(key, key === 'lookupRecords' && Array.isArray(value) ? [...(value as unknown[])] : key === focus?.section && Array.isArray(value) ? focusedCopy(value, focus) : jsonClone(value))
        return copies.get(key)
      },
      set(next: unknown) {
        copies.set(key, next)
      },
    })
  }
  return {
    draft: draft as unknown as NvlbConfig,
    settle() {
      const doc: Record<string, unknown> = {}
      for (const key of Object.keys(draft)) {
        const descriptor = Object.getOwnPropertyDescriptor(draft, key)!
        doc[key] = descriptor.get === undefined ? descriptor.value : !copies.has(key) ? running[key] : key === 'lookupRecords' ? copies.get(key) : keepUnchanged(copies.get(key), running[key])
      }
      return doc
    },
  }
}

/** A list section with copies of the items `focus` matches and the running items for the others. */
function focusedCopy(list: readonly unknown[], focus: DraftFocus): unknown[] {
  const copy = new Array<unknown>(list.length)
  for (let i = 0; i < list.length; i++) copy[i] = focus.matches(list[i]) ? jsonClone(list[i]) : list[i]
  return copy
}

/**
 * A copied list section after the edit: items equal to the running item at the same
 * position are replaced by it (frozen, validated), so that validation, the compiler and
 * the store see by reference which items the edit left alone.
 */
function keepUnchanged(copy: unknown, running: unknown): unknown {
  if (!Array.isArray(copy) || !Array.isArray(running)) return copy
  const n = Math.min(copy.length, running.length)
  for (let i = 0; i < n; i++) {
    if (copy[i] !== running[i] && typeof running[i] === 'object' && running[i] !== null && jsonEqual(copy[i], running[i])) copy[i] = running[i]
  }
  return copy
}

export class ControlPlane<S = unknown> {
  private _generation = 0
  private _config: NvlbConfig = emptyConfig()
  private _snapshot: S | undefined = undefined
  private readonly listeners = new Set<SnapshotListener<S>>()
  /** Tail of the chain of pending changes; each change starts when the previous one settled. */
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  /** Fields the running packet path took at start, by JSON path. */
  private readonly fixed = new Map<string, FixedField>()
  private unwatch: (() => void) | undefined
  /** The shared store's document while it is ahead of the running one (a change from it failed here). */
  private storedAhead: Map<string, unknown> | undefined

  private constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    private readonly compileSnapshot: Compile<S>,
    private readonly awaitRunning: ((generation: number) => Promise<void>) | undefined,
    private readonly runningTimeoutMs: number,
  ) {}

  static async open<S>(opts: ControlPlaneOptions<S>): Promise<ControlPlane<S>> {
    const store = opts.store ?? (await JournalStore.open(opts.stateDir))
    const plane = new ControlPlane<S>(
      store,
      opts.logger,
      opts.compile,
      opts.awaitRunning === undefined ? undefined : (generation) => opts.awaitRunning!(generation),
      opts.runningTimeoutMs ?? DEFAULT_RUNNING_TIMEOUT_MS,
    )
    try {
      await plane.start(store, opts)
      // Changes other instances apply to a shared store (etcd); our own arrive too and are skipped.
      plane.unwatch = store.watch((applied) => plane.adoptStored(applied))
    } catch (err) {
      store.close()
      throw err
    }
    return plane
  }

  private async start(store: ConfigStore, opts: ControlPlaneOptions<S>): Promise<void> {
    // A shared store may change between our load and our write (instances starting together
    // against an empty etcd): then the write is refused (412) and we start again from what is stored.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startFrom(store, await store.load(), opts)
        return
      } catch (err) {
        if (!(err instanceof NvlbError) || err.code !== ErrorCodes.PRECONDITION_FAILED || attempt >= START_ATTEMPTS) throw err
        opts.logger.info({ attempt, stateFile: store.location }, 'the stored configuration changed while starting (another instance wrote it); loading it again')
      }
    }
  }

  private async startFrom(store: ConfigStore, stored: Awaited<ReturnType<ConfigStore['load']>>, opts: ControlPlaneOptions<S>): Promise<void> {
    const plane = this
    if (opts.initialConfig !== undefined) {
      // A frozen document is a validated one (nvlb run validates its --config file before anything starts).
      const config = Object.isFrozen(opts.initialConfig) ? (opts.initialConfig as NvlbConfig) : deepFreeze(validateConfig(opts.initialConfig))
      if (stored !== null && jsonEqual(stored.config, config)) {
        plane.adopt(stored.revision, config, opts.compile(config, stored.revision))
        opts.logger.info(
          { generation: stored.revision, stateFile: store.location },
          'configuration from --config equals the stored one; keeping its generation',
        )
      } else {
        const generation = (stored?.revision ?? 0) + 1
        const snapshot = opts.compile(config, generation)
        await store.apply(changesBetween(stored?.config, config), stored?.revision ?? 0, config)
        plane.adopt(generation, config, snapshot)
        opts.logger.info(
          { generation, summary: summarizeChanges(stored?.config, config), stateFile: store.location },
          'configuration loaded from --config',
        )
      }
    } else if (stored !== null) {
      // Frozen before the compile, as every running document is (the compiler reuses what the validator built for it).
      const config = deepFreeze(stored.config)
      plane.adopt(stored.revision, config, opts.compile(config, stored.revision))
      opts.logger.info({ generation: stored.revision, stateFile: store.location }, 'configuration restored from the state directory')
    } else {
      opts.logger.info({ stateFile: store.location }, 'no stored configuration; waiting for one')
    }
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
    return this.store.location
  }

  /** Replace the whole document. */
  replace(doc: unknown, ifMatch?: number): Promise<Applied> {
    return this.enqueue(ifMatch, () => doc)
  }

  /**
   * Edit a copy of the running document (see draftOf: sections are copied when the
   * edit first reads them; lookup records are replaced, never changed in place); the
   * result is validated like a replace, at the cost of what it changed. `focus`: the
   * items of one section the edit changes (DraftFocus); the others are not copied.
   */
  update(edit: (draft: NvlbConfig) => void, ifMatch?: number, focus?: DraftFocus): Promise<Applied> {
    return this.enqueue(ifMatch, () => {
      const { draft, settle } = draftOf(this._config, focus)
      edit(draft)
      return settle()
    })
  }

  /**
   * Declares fields the running packet path took at start: from now on a change
   * that asks for another value is refused with NVLB_ERR_FIXED_AT_START (409)
   * naming the field. A later declaration of the same field replaces the earlier.
   */
  fixFields(fields: readonly FixedField[]): void {
    for (const field of fields) this.fixed.set(field.field, field)
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
    this.unwatch?.()
    await this.queue.catch(() => undefined)
    this.listeners.clear()
    this.store.close()
  }

  private enqueue(ifMatch: number | undefined, produce: () => unknown): Promise<Applied> {
    if (this.closed) return Promise.reject(new Error('the control plane is closed'))
    const run = this.queue.then(() => this.apply(ifMatch, produce))
    this.queue = run.catch(() => undefined)
    // The next change may be validated, compiled and written while the workers
    // adopt this one; a worker that runs a later generation runs this one too.
    return run.then((applied) => this.running(applied))
  }

  /** Resolves with `applied` once the packet workers run its generation. */
  private async running(applied: Applied): Promise<Applied> {
    const wait = this.awaitRunning
    if (wait === undefined) return applied
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`not all packet workers run it after ${this.runningTimeoutMs} ms`)),
        this.runningTimeoutMs,
      )
    })
    try {
      await Promise.race([wait(applied.generation), timeout])
      return applied
    } catch (err) {
      const reason = (err as Error).message
      this.logger.error({ generation: applied.generation, reason }, 'the packet workers did not run a stored change')
      throw new NvlbError(
        ErrorCodes.NOT_RUNNING,
        `the change is stored as generation ${applied.generation}, but ${reason}; the packet path adopts it when it can (see nvlb stats)`,
        undefined,
        503,
      )
    } finally {
      clearTimeout(timer)
    }
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
    const doc = produce()
    const config = deepFreeze(this._generation === 0 ? validateConfig(doc) : validateChange(this._config, doc))
    if (this.fixed.size > 0) checkFixedFields(config, [...this.fixed.values()])
    const generation = this._generation + 1
    const snapshot = this.compileSnapshot(config, generation)
    const previous = this._generation === 0 ? undefined : this._config
    // Durable first: the packet path never runs a configuration that is not on disk.
    // Only what changed is written (one journal line).
    await this.store.apply(changesBetween(previous, config), this._generation, config)
    this.adopt(generation, config, snapshot)
    for (const listener of [...this.listeners]) this.notify(listener, snapshot, generation)
    const summary = summarizeChanges(previous, config)
    this.logger.info({ generation, summary }, 'configuration changed')
    return { generation, config: this._config, summary }
  }

  /**
   * A change set another instance applied to the shared store: validated and
   * compiled like a local change, queued behind pending changes, and run.
   */
  private adoptStored(applied: AppliedChangeSet): void {
    if (this.closed) return
    const run = this.queue.then(() => {
      if (this.closed || applied.revision <= this._generation) return
      // After a stored change that did not validate here, later ones apply to the stored document, not the running one.
      const resources = this.storedAhead ?? new Map(resourcesOf(this._config))
      applyChangeSet(resources, applied.changes)
      this.storedAhead = resources
      const previous = this._generation === 0 ? undefined : this._config
      const config = deepFreeze(validateConfig(documentOf(resources)))
      const snapshot = this.compileSnapshot(config, applied.revision)
      this.storedAhead = undefined
      this.adopt(applied.revision, config, snapshot)
      for (const listener of [...this.listeners]) this.notify(listener, snapshot, applied.revision)
      this.logger.info({ generation: applied.revision, summary: summarizeChanges(previous, config), from: 'store' }, 'configuration changed')
    })
    this.queue = run.catch((err: unknown) =>
      this.logger.error({ err, generation: applied.revision }, 'a change from the shared store does not validate or compile here; keeping the running configuration'),
    )
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
