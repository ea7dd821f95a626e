import { ErrorCodes, NvlbError } from '../errors'

/**
 * Small integer ids for names (rule keys, pool members), stable across
 * compiles so that flows naming them survive a new snapshot, and reused only
 * once nothing can refer to them any more.
 *
 * A compile is a transaction: `begin(epoch)`, then `id(key)` for every key
 * the document has, then `commit()` (or `rollback()` when the compile fails,
 * which leaves the allocator exactly as it was). An id whose key is missing
 * from a committed compile is freed at that compile's epoch and quarantined:
 * it keeps its key, so the key coming back gets its old id again, until it is
 * given to another key — which happens only when every packet engine has
 * swept its flow table against a snapshot of that epoch or later (`swept`,
 * passed to `begin`): then no flow and no snapshot an engine may still run
 * names it.
 */
export class IdAllocator {
  private readonly byKey = new Map<string, number>()
  private readonly keyOf: (string | undefined)[] = []
  /** Per id: the epoch it was freed at, LIVE while the last committed compile used it. */
  private readonly freedAt: number[] = []
  /** Per id: the epoch it was given its current key. */
  private readonly sinceOf: number[] = []
  /** Freed ids, oldest first. */
  private quarantine: number[] = []
  private next = 0

  // The open transaction.
  private epoch = 0
  private swept = 0
  /** Transactions begun so far; usedIn[id] === txn marks an id the open transaction uses. */
  private txn = 0
  private readonly usedIn: number[] = []
  /** Ids given to a new key in this transaction, with what they had before. */
  private journal: { id: number; fresh: boolean; oldKey: string | undefined; oldFreedAt: number; oldSince: number }[] = []

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  /** Start a compile at `epoch` (strictly increasing); ids freed at or before `swept` may be given to new keys. */
  begin(epoch: number, swept: number): void {
    this.epoch = epoch
    this.swept = swept
    this.txn++
    this.journal = []
  }

  /**
   * The open compile uses `id` again for the key it had in the last committed
   * compile (a caller that kept the id with its key, and the last commit used it):
   * what id(key) would answer, without looking the key up.
   */
  keep(id: number): void {
    if (this.freedAt[id] !== LIVE || this.keyOf[id] === undefined) throw new Error(`id ${id} of ${this.what} is not in use: it cannot be kept`)
    this.usedIn[id] = this.txn
  }

  /** The id of a key in the open compile: its own (also when quarantined), else a reclaimed or a fresh one. */
  id(key: string): number {
    const known = this.byKey.get(key)
    if (known !== undefined) {
      this.usedIn[known] = this.txn
      return known
    }
    let id = -1
    for (let q = 0; q < this.quarantine.length; q++) {
      const candidate = this.quarantine[q]!
      if (this.freedAt[candidate]! > this.swept) break
      if (this.usedIn[candidate] === this.txn) continue
      id = candidate
      this.quarantine.splice(q, 1)
      break
    }
    if (id >= 0) {
      const oldKey = this.keyOf[id]
      this.journal.push({ id, fresh: false, oldKey, oldFreedAt: this.freedAt[id]!, oldSince: this.sinceOf[id]! })
      if (oldKey !== undefined) this.byKey.delete(oldKey)
    } else {
      if (this.next >= this.limit) {
        throw new NvlbError(
          ErrorCodes.INVALID_CONFIG,
          `more than ${this.limit} ${this.what} in use (with those removed recently, until the packet path has let go of their flows)`,
        )
      }
      id = this.next++
      this.journal.push({ id, fresh: true, oldKey: undefined, oldFreedAt: LIVE, oldSince: 0 })
    }
    this.byKey.set(key, id)
    this.keyOf[id] = key
    this.freedAt[id] = LIVE
    this.sinceOf[id] = this.epoch
    this.usedIn[id] = this.txn
    return id
  }

  /** The compile succeeded: ids it did not use are freed at its epoch. */
  commit(): void {
    const revived = new Set<number>()
    for (let id = 0; id < this.next; id++) {
      const freed = this.freedAt[id]!
      if (this.usedIn[id] === this.txn) {
        if (freed !== LIVE) revived.add(id)
        this.freedAt[id] = LIVE
      } else if (freed === LIVE && this.keyOf[id] !== undefined) {
        this.freedAt[id] = this.epoch
        this.quarantine.push(id)
      }
    }
    if (revived.size > 0) this.quarantine = this.quarantine.filter((id) => !revived.has(id))
    this.journal = []
    this.txn++
  }

  /** The compile failed: undo what it allocated. */
  rollback(): void {
    const restored: number[] = []
    for (let j = this.journal.length - 1; j >= 0; j--) {
      const entry = this.journal[j]!
      const key = this.keyOf[entry.id]
      if (key !== undefined) this.byKey.delete(key)
      if (entry.fresh) {
        this.keyOf[entry.id] = undefined
        this.next = Math.min(this.next, entry.id)
      } else {
        this.keyOf[entry.id] = entry.oldKey
        if (entry.oldKey !== undefined) this.byKey.set(entry.oldKey, entry.id)
        this.freedAt[entry.id] = entry.oldFreedAt
        this.sinceOf[entry.id] = entry.oldSince
        restored.push(entry.id)
      }
    }
    if (restored.length > 0) this.quarantine = [...restored, ...this.quarantine].sort((a, b) => this.freedAt[a]! - this.freedAt[b]!)
    this.journal = []
    this.txn++
  }

  /** Ids handed out so far (live and quarantined): arrays indexed by id need this length. */
  get count(): number {
    return this.next
  }

  /** The epoch an id was given its current key (0 for an id never used). */
  since(id: number): number {
    return this.sinceOf[id] ?? 0
  }

  /** Ids freed and not given to another key yet. */
  get quarantined(): number {
    return this.quarantine.length
  }
}

const LIVE = -1
