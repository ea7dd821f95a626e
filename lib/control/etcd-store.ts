/**
 * The configuration store shared by several nvlb instances: etcd (`nvlb run
 * --store etcd://HOST:PORT[/PREFIX]`). Every instance opens the same prefix,
 * writes through the same transactions and watches the same commit key.
 *
 * Key layout under PREFIX (default /nvlb):
 *
 *   PREFIX/config/commit       {"revision":R,"seq":S,"writer":W,"chunks":N} or {…,"changes":{…}}
 *                              the commit key: written once per change set, so its etcd
 *                              `version` is the document's revision R (the ETag).
 *   PREFIX/config/materialized "R": the revision the resource keys hold completely
 *   PREFIX/config/res/<key>    {"o":seq,"v":value}: one key per resource (lookupRecords/5001/10.1.6.21, pools/blue-web, …)
 *   PREFIX/config/log/<R>/<W>/<i>  chunk i of a large change set R staged by writer W
 *   PREFIX/instances/<name>    the instance registry (instance-registry.ts), bound to leases
 *
 * The `node` section is each instance's own: it stays in the state dir (node.json), never in etcd.
 *
 * A change set from revision R to R+1 is committed by one transaction that compares the commit
 * key's version with R (and `materialized` with R): two writers through two instances, one wins,
 * the other gets NVLB_ERR_PRECONDITION_FAILED (412).
 *
 * - Small change sets (≤ SMALL_OPS resources and ≤ SMALL_BYTES of JSON: nearly every API change)
 *   are one transaction: resource puts and deletes, the change set inline in the commit value
 *   (for the watchers) and `materialized` = R+1. etcd limits a request to 1.5 MiB and a
 *   transaction to 128 operations by default; these bounds keep within both.
 * - Large change sets (a bulk import of 20,000 lookup records) are staged first as log chunks
 *   of ≤ CHUNK_BYTES under the writer's own name (invisible: no commit names them yet), then
 *   committed by the one transaction above whose commit value names the chunks, and then
 *   materialized into the resource keys in transactions of ≤ SMALL_OPS operations; the last one
 *   sets `materialized`. Readers never see half a change: watchers apply the change set from the
 *   log, and load() reads the resource keys and the commit at one etcd revision and, while
 *   `materialized` lags the commit, replays the (idempotent) logged change set over them. A
 *   writer that dies while materializing leaves the log; the next writer (any instance)
 *   finishes the materialization before it commits, which the `materialized` comparison
 *   enforces. Logs are deleted LOG_KEEP revisions later.
 *
 * Order: each resource carries its sequence number `o`; new resources take the next one,
 * reordered sections are renumbered, so every instance (watching or loading) rebuilds the
 * document in the same order.
 *
 * etcd unreachable: a probe every `probeIntervalMs` notices it; the store reports itself
 * disconnected (`status`, the /readyz and /metrics of the instance), refuses changes with
 * NVLB_ERR_STORE_UNAVAILABLE (503) and keeps the document it has. When etcd answers again it
 * reads the document at one revision, hands the difference to the watchers as one change set
 * (with the new revision), and watches from there. A change whose transaction was sent but not
 * answered may have been committed: it then arrives through the watch like any other change.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Etcd3, type IKeyValue, type IRequestOp, type Watcher } from 'etcd3'
import { noop } from 'cockatiel'
import { ErrorCodes, NvlbError } from '../errors'
import type { NvlbConfig } from './config-types'
import { validateConfig } from './config-validate'
import { StateLock } from './state-lock'
import {
  applyChangeSet,
  changesBetween,
  documentOf,
  revisionConflict,
  type AppliedChangeSet,
  type ChangeSet,
  type ConfigStore,
  type StoredDocument,
} from './store'

export const DEFAULT_ETCD_PREFIX = '/nvlb'
export const NODE_FILE_NAME = 'node.json'
/** Resources per transaction (etcd's default --max-txn-ops is 128). */
const SMALL_OPS = 100
/** JSON bytes of a change set committed in one transaction (etcd's default request limit is 1.5 MiB). */
const SMALL_BYTES = 384 * 1024
const CHUNK_BYTES = 512 * 1024
const BATCH_BYTES = 768 * 1024
const LOG_KEEP = 64
const MATERIALIZE_PARALLEL = 8
const PAGE = 2000
const DEFAULT_PROBE_MS = 500
const DEFAULT_TIMEOUT_MS = 3000

export interface EtcdUrl {
  hosts: string
  prefix: string
}

/** etcd://HOST:PORT[/PREFIX] → the client's host URL and the key prefix. */
export function parseEtcdUrl(text: string): EtcdUrl {
  const m = /^etcd:\/\/([^/]+:\d{1,5})(\/.*)?$/.exec(text)
  if (m === null) {
    throw new NvlbError(ErrorCodes.BAD_REQUEST, `--store must be etcd://HOST:PORT[/PREFIX], not '${text}'`)
  }
  const prefix = (m[2] ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '')
  return { hosts: `http://${m[1]}`, prefix: prefix === '' ? DEFAULT_ETCD_PREFIX : prefix }
}

export interface EtcdStoreOptions {
  url: string
  /** This instance's state dir: holds its `node` (node.json) and is locked like the file store's. */
  stateDir: string
  /** The node to use when the state dir holds none yet (the --config document's). */
  node?: unknown
  probeIntervalMs?: number
  /** Deadline of every etcd request. */
  timeoutMs?: number
  /** Called when the connection to etcd is lost or regained. */
  onStatus?(status: EtcdStoreStatus): void
}

export interface EtcdStoreStatus {
  connected: boolean
  /** Why the last request failed, while disconnected. */
  error?: string
}

interface Resource {
  seq: number
  value: unknown
}

interface CommitValue {
  revision: number
  seq: number
  writer: string
  chunks?: number
  changes?: LoggedChanges
}

/** A change set as logged: puts carry their sequence numbers. */
interface LoggedChanges {
  put: Array<[string, number, unknown]>
  remove: string[]
  order?: Record<string, string[]>
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** The key after every key that starts with `prefix`. */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}

function sectionOf(key: string): string {
  const slash = key.indexOf('/')
  return slash < 0 ? key : key.slice(0, slash)
}

export class EtcdStore implements ConfigStore {
  readonly location: string
  readonly client: Etcd3
  readonly prefix: string
  private readonly keys: { commit: Buffer; materialized: Buffer; res: string; log: string }
  private readonly writer = randomBytes(6).toString('hex')
  private readonly nodeFile: string
  private node: unknown
  private resources = new Map<string, Resource>()
  private revision = 0
  private nextSeq = 1
  /** The etcd revision the local state was read or watched at. */
  private etcdRevision = 0
  private readonly listeners = new Set<(applied: AppliedChangeSet) => void>()
  /** Applies, watch events and resyncs run one at a time, in this order. */
  private chain: Promise<unknown> = Promise.resolve()
  private watcher: Watcher | undefined
  private probeTimer: NodeJS.Timeout | undefined
  private _status: EtcdStoreStatus = { connected: true }
  private closed = false
  private loaded = false
  private recovering = false
  private readonly timeoutMs: number

  private constructor(
    url: EtcdUrl,
    text: string,
    stateDir: string,
    private readonly lock: StateLock,
    private readonly opts: EtcdStoreOptions,
  ) {
    this.location = text
    this.prefix = url.prefix
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.client = new Etcd3({
      hosts: url.hosts,
      dialTimeout: this.timeoutMs,
      // nvlb notices an unreachable etcd itself (the probe) and answers 503: no retries, no circuit breaker.
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
      grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
    })
    const base = `${url.prefix}/config/`
    this.keys = {
      commit: Buffer.from(`${base}commit`),
      materialized: Buffer.from(`${base}materialized`),
      res: `${base}res/`,
      log: `${base}log/`,
    }
    this.nodeFile = join(stateDir, NODE_FILE_NAME)
  }

  /** Locks the state dir (for the node) and connects lazily; load() is the first request. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const url = parseEtcdUrl(opts.url)
    await fs.mkdir(opts.stateDir, { recursive: true, mode: 0o700 })
    return new EtcdStore(url, opts.url, opts.stateDir, StateLock.acquire(opts.stateDir), opts)
  }

  get status(): EtcdStoreStatus {
    return this._status
  }

  async load(): Promise<StoredDocument | null> {
    this.node = this.readNode()
    // The --config document's node becomes this instance's stored one.
    if (this.node !== undefined && !existsSync(this.nodeFile)) await this.writeNode(this.node)
    let state
    try {
      state = await this.readState()
    } catch (err) {
      throw this.unavailable(err)
    }
    // Once: a load() again (a start retried after a concurrent writer's 412) keeps the first watch,
    // which began before anything this instance loaded, so it misses no commit (seen ones are skipped).
    if (!this.loaded) {
      this.startProbe()
      this.startWatch()
    }
    this.loaded = true
    if (state === null) return null
    if (this.node === undefined) {
      throw new NvlbError(
        ErrorCodes.INVALID_CONFIG,
        `${this.location} holds a configuration, but this instance has no node section yet (${this.nodeFile}): ` +
          'start it once with --config FILE (its node section is kept here; the rest comes from etcd)',
        'node',
      )
    }
    const doc = this.documentWithNode()
    let config: NvlbConfig
    try {
      config = validateConfig(doc)
    } catch (err) {
      throw new NvlbError(
        ErrorCodes.INVALID_CONFIG,
        `the configuration in ${this.location} (revision ${this.revision}) does not validate with this instance's node: ${(err as Error).message}`,
      )
    }
    return { revision: this.revision, config }
  }

  apply(changes: ChangeSet, expectedRevision: number): Promise<number> {
    const run = this.chain.then(() => this.applyNow(changes, expectedRevision))
    this.chain = run.catch(() => undefined)
    return run
  }

  watch(listener: (applied: AppliedChangeSet) => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.probeTimer)
    void this.watcher?.cancel().catch(() => undefined)
    this.client.close()
    this.lock.release()
  }

  // ---- writing ----

  private async applyNow(changes: ChangeSet, expected: number): Promise<number> {
    if (!this._status.connected) throw this.unavailable(new Error(this._status.error ?? 'not connected'))
    if (expected !== this.revision) throw revisionConflict(expected, this.revision)
    const nodePut = changes.put.find(([key]) => key === 'node')
    const shared: ChangeSet = { put: changes.put.filter(([key]) => key !== 'node'), remove: changes.remove.filter((key) => key !== 'node') }
    if (changes.order !== undefined) shared.order = changes.order
    const { logged, seq } = this.withSequence(shared)
    const bytes = JSON.stringify(logged).length
    const next = expected + 1
    for (let attempt = 0; ; attempt++) {
      try {
        if (logged.put.length + logged.remove.length <= SMALL_OPS && bytes <= SMALL_BYTES) {
          await this.commitSmall(logged, expected, seq)
        } else {
          await this.commitLarge(logged, expected, seq)
        }
        break
      } catch (err) {
        // A writer that died after its commit left the resource keys behind it: finish its work, then commit.
        if (err instanceof NvlbError && attempt === 0 && (await this.finishMaterialization(expected).catch(() => false))) continue
        if (err instanceof NvlbError) throw err
        this.noteFailure(err)
        throw this.unavailable(err)
      }
    }
    if (nodePut !== undefined) await this.writeNode(nodePut[1])
    this.adoptLocal(logged, next, seq)
    const applied = { revision: next, changes }
    for (const listener of this.listeners) listener(applied)
    return next
  }

  /** The change set with sequence numbers: new keys take the next ones, reordered sections are renumbered. */
  private withSequence(changes: ChangeSet): { logged: LoggedChanges; seq: number } {
    let seq = this.nextSeq
    const put: Array<[string, number, unknown]> = []
    const reordered = new Set(Object.keys(changes.order ?? {}))
    for (const [key, value] of changes.put) {
      if (reordered.has(sectionOf(key))) continue
      put.push([key, this.resources.get(key)?.seq ?? seq++, value])
    }
    if (reordered.size > 0) {
      const after = new Map<string, unknown>()
      for (const [key, r] of this.resources) if (reordered.has(sectionOf(key))) after.set(key, r.value)
      applyChangeSet(after, { put: changes.put.filter(([key]) => reordered.has(sectionOf(key))), remove: changes.remove, order: changes.order })
      for (const [key, value] of after) put.push([key, seq++, value])
    }
    const logged: LoggedChanges = { put, remove: changes.remove }
    if (changes.order !== undefined) logged.order = changes.order
    return { logged, seq }
  }

  private preconditions(expected: number) {
    return [
      { key: this.keys.commit, target: 'Version' as const, result: 'Equal' as const, version: expected },
      expected === 0
        ? { key: this.keys.materialized, target: 'Version' as const, result: 'Equal' as const, version: 0 }
        : { key: this.keys.materialized, target: 'Value' as const, result: 'Equal' as const, value: Buffer.from(String(expected)) },
    ]
  }

  private resourceOps(logged: LoggedChanges): IRequestOp[] {
    const ops: IRequestOp[] = []
    for (const [key, seq, value] of logged.put) {
      ops.push({ request_put: { key: Buffer.from(this.keys.res + key), value: Buffer.from(JSON.stringify({ o: seq, v: value })) } })
    }
    for (const key of logged.remove) ops.push({ request_delete_range: { key: Buffer.from(this.keys.res + key) } })
    return ops
  }

  private async commitSmall(logged: LoggedChanges, expected: number, seq: number): Promise<void> {
    const next = expected + 1
    const commit: CommitValue = { revision: next, seq, writer: this.writer, changes: logged }
    const res = await this.client.kv.txn({
      compare: this.preconditions(expected),
      success: [
        ...this.resourceOps(logged),
        { request_put: { key: this.keys.commit, value: Buffer.from(JSON.stringify(commit)) } },
        { request_put: { key: this.keys.materialized, value: Buffer.from(String(next)) } },
      ],
    })
    if (!res.succeeded) throw await this.conflict(expected)
  }

  private async commitLarge(logged: LoggedChanges, expected: number, seq: number): Promise<void> {
    const next = expected + 1
    const chunks = this.chunksOf(logged)
    const staged = `${this.keys.log}${pad(next, 12)}/${this.writer}/`
    for (let i = 0; i < chunks.length; i++) {
      await this.client.kv.put({ key: Buffer.from(staged + pad(i, 6)), value: Buffer.from(JSON.stringify(chunks[i])) })
    }
    const commit: CommitValue = { revision: next, seq, writer: this.writer, chunks: chunks.length }
    const res = await this.client.kv.txn({
      compare: this.preconditions(expected),
      success: [{ request_put: { key: this.keys.commit, value: Buffer.from(JSON.stringify(commit)) } }],
    })
    if (!res.succeeded) {
      await this.client.kv.deleteRange({ key: Buffer.from(staged), range_end: rangeEnd(Buffer.from(staged)) }).catch(() => undefined)
      throw await this.conflict(expected)
    }
    await this.materialize(logged, next)
  }

  /** Splits a logged change set into chunks of about CHUNK_BYTES (the order goes with the last). */
  private chunksOf(logged: LoggedChanges): LoggedChanges[] {
    const chunks: LoggedChanges[] = []
    let current: LoggedChanges = { put: [], remove: [] }
    let size = 0
    const flush = () => {
      chunks.push(current)
      current = { put: [], remove: [] }
      size = 0
    }
    for (const entry of logged.put) {
      const n = JSON.stringify(entry).length
      if (size + n > CHUNK_BYTES && size > 0) flush()
      current.put.push(entry)
      size += n
    }
    for (const key of logged.remove) {
      if (size + key.length > CHUNK_BYTES && size > 0) flush()
      current.remove.push(key)
      size += key.length + 3
    }
    if (logged.order !== undefined) current.order = logged.order
    flush()
    return chunks
  }

  /**
   * Writes revision `revision`'s change set into the resource keys, in bounded
   * transactions (MATERIALIZE_PARALLEL in flight: they touch distinct keys and
   * are idempotent); then sets `materialized`.
   */
  private async materialize(logged: LoggedChanges, revision: number): Promise<void> {
    const batches: IRequestOp[][] = []
    let batch: IRequestOp[] = []
    let size = 0
    for (const op of this.resourceOps(logged)) {
      const n = (op.request_put?.value?.length ?? 0) + (op.request_put?.key?.length ?? op.request_delete_range?.key?.length ?? 0)
      if (batch.length >= SMALL_OPS || (size + n > BATCH_BYTES && batch.length > 0)) {
        batches.push(batch)
        batch = []
        size = 0
      }
      batch.push(op)
      size += n
    }
    if (batch.length > 0) batches.push(batch)
    // Only while `revision` is the committed one (nobody commits past it before it is materialized).
    const send = async (success: IRequestOp[]) => {
      const res = await this.client.kv.txn({ compare: [{ key: this.keys.commit, target: 'Version', result: 'Equal', version: revision }], success })
      if (!res.succeeded) throw revisionConflict(revision, -1)
    }
    let next = 0
    const lane = async () => {
      while (next < batches.length) await send(batches[next++]!)
    }
    await Promise.all(Array.from({ length: Math.min(MATERIALIZE_PARALLEL, batches.length) }, lane))
    await send([{ request_put: { key: this.keys.materialized, value: Buffer.from(String(revision)) } }])
    if (revision > LOG_KEEP) {
      // Every log of revisions up to revision - LOG_KEEP (a watcher that far behind reads the whole document).
      const start = Buffer.from(this.keys.log)
      const end = Buffer.from(`${this.keys.log}${pad(revision - LOG_KEEP + 1, 12)}`)
      await this.client.kv.deleteRange({ key: start, range_end: end }).catch(() => undefined)
    }
  }

  /** True when revision `expected` is committed but was not materialized, and now is. */
  private async finishMaterialization(expected: number): Promise<boolean> {
    const [head, materialized] = await Promise.all([this.client.kv.range({ key: this.keys.commit }), this.client.kv.range({ key: this.keys.materialized })])
    const kv = head.kvs[0]
    if (kv === undefined || Number(kv.version) !== expected) return false
    if (Number(materialized.kvs[0]?.value.toString() ?? '0') >= expected) return false
    const commit = JSON.parse(kv.value.toString()) as CommitValue
    await this.materialize(await this.readLogged(commit, Number(head.header.revision)), expected)
    return true
  }

  private async conflict(expected: number): Promise<NvlbError> {
    const res = await this.client.kv.range({ key: this.keys.commit })
    const actual = Number(res.kvs[0]?.version ?? 0)
    return revisionConflict(expected, actual === expected ? this.revision : actual)
  }

  private adoptLocal(logged: LoggedChanges, revision: number, seq: number): void {
    const values = new Map<string, unknown>()
    for (const [key, r] of this.resources) values.set(key, r)
    const put: Array<[string, unknown]> = logged.put.map(([key, s, value]) => [key, { seq: s, value }])
    applyChangeSet(values, { put, remove: logged.remove, order: logged.order })
    this.resources = values as Map<string, Resource>
    this.revision = revision
    this.nextSeq = Math.max(this.nextSeq, seq)
  }

  // ---- reading ----

  /** Reads every key with `prefix` at etcd revision `at` (0: the newest), a page at a time. */
  private async rangeAll(prefix: string, at: number): Promise<{ kvs: IKeyValue[]; revision: number }> {
    const start = Buffer.from(prefix)
    const end = rangeEnd(start)
    const kvs: IKeyValue[] = []
    let key = start
    let revision = at
    for (;;) {
      const res = await this.client.kv.range({ key, range_end: end, limit: PAGE, revision })
      revision = Number(res.header.revision)
      for (const kv of res.kvs) kvs.push(kv)
      if (!res.more || res.kvs.length === 0) break
      key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])])
    }
    return { kvs, revision }
  }

  /** Reads the whole shared document at one etcd revision into the local state; null when nothing was ever committed. */
  private async readState(): Promise<'empty' | 'loaded' | null> {
    const head = await this.client.kv.range({ key: this.keys.commit })
    const at = Number(head.header.revision)
    const commitKv = head.kvs[0]
    if (commitKv === undefined) {
      this.resources = new Map()
      this.revision = 0
      this.nextSeq = 1
      this.etcdRevision = at
      return null
    }
    const commit = JSON.parse(commitKv.value.toString()) as CommitValue
    const [{ kvs }, materialized] = await Promise.all([
      this.rangeAll(this.keys.res, at),
      this.client.kv.range({ key: this.keys.materialized, revision: at }),
    ])
    const entries: Array<[string, Resource]> = []
    for (const kv of kvs) {
      const stored = JSON.parse(kv.value.toString()) as { o: number; v: unknown }
      entries.push([kv.key.toString().slice(this.keys.res.length), { seq: stored.o, value: stored.v }])
    }
    const bySection = (key: string) => {
      const i = SECTION_RANK.get(sectionOf(key))
      return i === undefined ? SECTION_RANK.size : i
    }
    entries.sort((a, b) => bySection(a[0]) - bySection(b[0]) || (sectionOf(a[0]) < sectionOf(b[0]) ? -1 : sectionOf(a[0]) > sectionOf(b[0]) ? 1 : 0) || a[1].seq - b[1].seq)
    this.resources = new Map(entries)
    this.revision = commit.revision
    this.nextSeq = commit.seq
    if (Number(materialized.kvs[0]?.value.toString() ?? '0') < commit.revision) {
      // A large change set committed but not (completely) materialized: replay its log, and finish it.
      const logged = await this.readLogged(commit, at)
      this.adoptLocal(logged, commit.revision, commit.seq)
      await this.materialize(logged, commit.revision).catch(() => undefined)
    }
    this.etcdRevision = at
    return 'loaded'
  }

  private async readLogged(commit: CommitValue, at: number): Promise<LoggedChanges> {
    if (commit.changes !== undefined) return commit.changes
    const { kvs } = await this.rangeAll(`${this.keys.log}${pad(commit.revision, 12)}/${commit.writer}/`, at)
    if (kvs.length !== commit.chunks) {
      throw new Error(`revision ${commit.revision}: ${kvs.length} of ${String(commit.chunks)} logged chunks found`)
    }
    const logged: LoggedChanges = { put: [], remove: [] }
    for (const kv of kvs) {
      const chunk = JSON.parse(kv.value.toString()) as LoggedChanges
      for (const entry of chunk.put) logged.put.push(entry)
      for (const key of chunk.remove) logged.remove.push(key)
      if (chunk.order !== undefined) logged.order = chunk.order
    }
    return logged
  }

  private documentWithNode(): Record<string, unknown> {
    const shared = documentOf([...this.resources].map(([key, r]) => [key, r.value] as [string, unknown]))
    return { node: this.node, ...shared }
  }

  // ---- watching and catching up ----

  private startWatch(): void {
    if (this.closed) return
    const from = this.etcdRevision + 1
    void this.client
      .watch()
      .key(this.keys.commit)
      .startRevision(String(from))
      .create()
      .then((watcher) => {
        if (this.closed) return void watcher.cancel().catch(() => undefined)
        this.watcher = watcher
        watcher.on('put', (kv) => this.enqueue(() => this.onCommit(kv)))
        watcher.on('disconnected', (err) => this.noteFailure(err))
        watcher.on('error', (err) => this.noteFailure(err))
      })
      .catch((err: unknown) => this.noteFailure(err))
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: unknown) => this.noteFailure(err))
  }

  private async onCommit(kv: IKeyValue): Promise<void> {
    const commit = JSON.parse(kv.value.toString()) as CommitValue
    if (commit.revision <= this.revision) return // ours, or seen
    if (commit.revision !== this.revision + 1) return this.resync()
    const at = Number(kv.mod_revision)
    let logged: LoggedChanges
    try {
      logged = await this.readLogged(commit, at)
    } catch {
      return this.resync()
    }
    this.adoptLocal(logged, commit.revision, commit.seq)
    this.etcdRevision = at
    const changes: ChangeSet = { put: logged.put.map(([key, , value]) => [key, value]), remove: logged.remove }
    if (logged.order !== undefined) changes.order = logged.order
    this.deliver({ revision: commit.revision, changes })
  }

  /** Reads the document again and hands the difference to the listeners as one change set. */
  private async resync(): Promise<void> {
    const before = documentOf([...this.resources].map(([key, r]) => [key, r.value] as [string, unknown]))
    const revision = this.revision
    await this.readState()
    if (this.revision === revision) return
    const after = documentOf([...this.resources].map(([key, r]) => [key, r.value] as [string, unknown]))
    this.deliver({ revision: this.revision, changes: changesBetween(before, after) })
  }

  private deliver(applied: AppliedChangeSet): void {
    for (const listener of this.listeners) {
      try {
        listener(applied)
      } catch {
        // a listener's failure is its own (the control plane logs it)
      }
    }
  }

  private startProbe(): void {
    if (this.probeTimer !== undefined) return
    let probing = false
    this.probeTimer = setInterval(() => {
      if (probing || this.closed || this.recovering) return
      probing = true
      this.client.kv
        .range({ key: this.keys.commit, count_only: true }, { deadline: Date.now() + this.timeoutMs })
        .then(() => {
          if (this._status.connected || this.closed) return
          // Back: catch up from the revision we have, then watch from there.
          void this.watcher?.cancel().catch(() => undefined)
          this.watcher = undefined
          this.recovering = true
          this.enqueue(async () => {
            try {
              await this.resync()
              this.setStatus({ connected: true })
              this.startWatch()
            } finally {
              this.recovering = false
            }
          })
        })
        .catch((err: unknown) => this.noteFailure(err))
        .finally(() => {
          probing = false
        })
    }, this.opts.probeIntervalMs ?? DEFAULT_PROBE_MS)
    this.probeTimer.unref()
  }

  private noteFailure(err: unknown): void {
    if (this.closed || !this.loaded) return
    if (this._status.connected) this.setStatus({ connected: false, error: (err as Error)?.message ?? String(err) })
  }

  private setStatus(status: EtcdStoreStatus): void {
    this._status = status
    this.opts.onStatus?.(status)
  }

  private unavailable(err: unknown): NvlbError {
    return new NvlbError(
      ErrorCodes.STORE_UNAVAILABLE,
      `the configuration store ${this.location} cannot be reached (${(err as Error)?.message ?? String(err)}); ` +
        'nvlb keeps forwarding with the configuration it has and takes changes again once it is back',
      undefined,
      503,
    )
  }

  // ---- the instance's own node ----

  private readNode(): unknown {
    try {
      return (JSON.parse(readFileSync(this.nodeFile, 'utf8')) as { node: unknown }).node
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new NvlbError(ErrorCodes.STATE_CORRUPT, `${this.nodeFile} cannot be read back (${(err as Error).message})`, undefined, 500)
      }
      return this.opts.node
    }
  }

  private async writeNode(node: unknown): Promise<void> {
    const temp = `${this.nodeFile}.tmp-${process.pid}`
    const handle = await fs.open(temp, 'w', 0o600)
    try {
      await handle.writeFile(JSON.stringify({ node }) + '\n')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(temp, this.nodeFile)
    this.node = node
  }
}

const SECTION_RANK = new Map(['node', 'neighbors', 'lookupRecords', 'customerRoutes', 'pools', 'vips'].map((s, i) => [s, i]))
