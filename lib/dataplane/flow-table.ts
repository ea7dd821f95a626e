/**
 * The flow table: a fixed-capacity store of flows, two hash indexes (forward
 * 5-tuple and reply 5-tuple) chained through the entries, and recency lists,
 * one per timeout class, for ageing and for eviction when full. Nothing here
 * allocates after construction.
 *
 * Each flow is one 56-byte record in a single Int32Array, so a lookup touches
 * the bucket word and one or two cache lines of the record, not one line per
 * field: with 1M flows the table does not fit any cache and every line is a
 * miss. With the two bucket words that makes 64 bytes per flow. The three
 * arrays are backed by huge pages where the kernel offers them (huge-pages.ts).
 *
 * Every word is an int32 (addresses and packed ports included; see the
 * snapshot's note on why).
 *
 * A flow's forward key is what the client sends: (vsid << 8 | protocol, src,
 * dst, sport << 16 | dport). Its reply key is derived from the backend and the
 * NAT mode by the engine, which also compares reply keys (it needs the
 * snapshot for that); the table stores the reply hash so that an entry can
 * always be unlinked, whatever the snapshot says now.
 *
 * Ageing and eviction. Timeouts differ by state (half-open, closing, reset)
 * and, for established flows and datagrams, by rule. A single recency list
 * would be head-of-line blocked: its oldest flow may have a long timeout while
 * shorter-lived flows behind it have long expired. So every flow sits on the
 * list of its timeout class (half-open, closing, reset, and one per distinct
 * rule timeout), and within a list recency order is expiry order: ageing
 * pops expired tails of every list, each step O(1), so every expired flow is
 * reclaimed within (expired flows / ageing budget per tick) ticks whatever the
 * order flows arrived in. When more distinct rule timeouts exist than lists,
 * a rule joins the list with the next longer timeout (reclaimed late, never
 * early); a flow whose rule timeout grew with a new snapshot is moved to its
 * rule's list when ageing meets it.
 *
 * When the table is full a new flow takes, in this order: an expired flow,
 * the least recently used half-open flow, a reset or closing flow, and only
 * then the least recently used established flow. So a flood of new flows
 * (spoofed SYNs that are never answered) can only displace itself while any
 * half-open or expired flow remains.
 */
import { forwardHashOfKey } from './flow-hash'
import { adviseHugePages } from './huge-pages'

export const NO_ENTRY = -1

/** TCP states that set the idle timeout. */
export const FLOW_NEW = 0
export const FLOW_ESTABLISHED = 1
export const FLOW_CLOSING = 2
export const FLOW_RESET = 3
/** UDP and everything that has no connection state. */
export const FLOW_DATAGRAM = 4

/** Eviction classes, as counted (the engine adds the class to its first eviction counter). */
export const EVICT_HALF_OPEN = 0
export const EVICT_ESTABLISHED = 1
export const EVICT_CLOSING = 2

/** A rule's idle timeout as the table needs it (the compiled rule has more). */
export interface RuleTimeout {
  readonly id: number
  readonly idleTimeoutSeconds: number
}

// Record layout, in 32-bit words. The words a known flow's packet reads (the key,
// backend, rule, state, recency, flow hash and sequence word) come first, the
// chain and list links (read on a collision, and when the flow moves in its
// recency list once a second) last: the hot words are 40 bytes, so a record
// that starts in the first 24 bytes of a cache line has them on one line.
const W_PROTO = 0
const W_SRC = 1
const W_DST = 2
const W_PORTS = 3
const W_BACKEND = 4
/** rule id << 16 | full-NAT source port (0 for destination NAT). */
const W_RULE_NAT = 5
/** list << 24 | client MAC index << 8 | state. */
const W_MAC_STATE = 6
const W_LAST_SEEN = 7
const W_REPLY_HASH = 8
/** TCP: the sequence word, a reference point in each direction's sequence space for judging RSTs (flow-state.ts). */
const W_SEQ = 9
/** The last of the words a known flow's packet reads: the prefetch touches it and the first. */
const W_HOT_LAST = W_SEQ
const W_FORWARD_NEXT = 10
const W_REPLY_NEXT = 11
const W_LRU_PREV = 12
const W_LRU_NEXT = 13
const STRIDE = 14

// Recency lists: one per timeout class.
const L_HALF_OPEN = 0
const L_CLOSING = 1
const L_RESET = 2
/** Lists of established flows and datagrams, one per distinct rule timeout. */
const L_ESTABLISHED_FIRST = 3
const LISTS = 16
/** No timeout set yet (setTimeouts() not called): never expires. */
const NEVER = 0x7fffffff
/** An established list not holding a timeout (empty and unused). */
const FREE_LIST = -1
const RULE_IDS = 1 << 16
/** Expired flows a full table reclaims at most per insert before it evicts a live one. */
const RECLAIM_PER_INSERT = 8

export interface FlowTableOptions {
  /**
   * Half-open flows that may be tracked at once; beyond it a new half-open
   * flow replaces the least recently used half-open one even when slots are
   * free. Default: the capacity (no budget of their own; the eviction order
   * already protects established flows).
   */
  halfOpenBudget?: number
}

export class FlowTable {
  readonly capacity: number
  readonly halfOpenBudget: number
  private readonly bucketMask: number
  private readonly e: Int32Array
  private readonly forwardBuckets: Int32Array
  private readonly replyBuckets: Int32Array
  private readonly listHead = new Int32Array(LISTS).fill(NO_ENTRY)
  private readonly listTail = new Int32Array(LISTS).fill(NO_ENTRY)
  private readonly listCount = new Int32Array(LISTS)
  /** Per list: the timeout (s) after which its tail is due for a look. */
  private readonly listTimeout = new Int32Array(LISTS).fill(NEVER)
  /** Per rule id: its idle timeout and the list its established flows go on. */
  private readonly ruleTimeout = new Int32Array(RULE_IDS).fill(NEVER)
  private readonly ruleList = new Uint8Array(RULE_IDS).fill(L_ESTABLISHED_FIRST)
  private synTimeout = NEVER
  private closingTimeout = NEVER
  private resetTimeout = NEVER

  count = 0
  /** Set by insert(): whether a live flow was pushed out to make room, and its class (EVICT_*, -1 for none). */
  evicted = false
  evictedClass = -1
  /** Set by insert(): expired flows it reclaimed to make room (count them as expired). */
  reclaimed = 0
  private freeHead = 0

  constructor(capacity: number, options: FlowTableOptions = {}) {
    this.capacity = Math.max(1, capacity | 0)
    this.halfOpenBudget = Math.max(1, Math.min(this.capacity, (options.halfOpenBudget ?? this.capacity) | 0))
    let buckets = 1
    while (buckets < this.capacity) buckets *= 2
    this.bucketMask = buckets - 1
    this.e = new Int32Array(this.capacity * STRIDE)
    this.forwardBuckets = new Int32Array(buckets)
    this.replyBuckets = new Int32Array(buckets)
    adviseHugePages(this.e)
    adviseHugePages(this.forwardBuckets)
    adviseHugePages(this.replyBuckets)
    this.forwardBuckets.fill(NO_ENTRY)
    this.replyBuckets.fill(NO_ENTRY)
    // Free list threaded through the LRU next word.
    for (let i = 0; i < this.capacity; i++) this.e[i * STRIDE + W_LRU_NEXT] = i + 1 < this.capacity ? i + 1 : NO_ENTRY
    for (let l = L_ESTABLISHED_FIRST; l < LISTS; l++) this.listTimeout[l] = FREE_LIST
  }

  /** Bytes of storage per flow slot (records and both bucket arrays). */
  get bytesPerFlow(): number {
    return (this.e.byteLength + this.forwardBuckets.byteLength + this.replyBuckets.byteLength) / this.capacity
  }

  /**
   * The idle timeouts (seconds) by state, and of each rule for its
   * established flows and datagrams; call on every new snapshot (not on the
   * packet path). Flows of a rule that is gone time out like half-open ones.
   */
  setTimeouts(syn: number, closing: number, reset: number, rules: readonly (RuleTimeout | null | undefined)[]): void {
    this.synTimeout = syn | 0
    this.closingTimeout = closing | 0
    this.resetTimeout = reset | 0
    this.listTimeout[L_HALF_OPEN] = this.synTimeout
    this.listTimeout[L_CLOSING] = this.closingTimeout
    this.listTimeout[L_RESET] = this.resetTimeout
    // Empty established lists are free to take another timeout.
    for (let l = L_ESTABLISHED_FIRST; l < LISTS; l++) if (this.listCount[l] === 0) this.listTimeout[l] = FREE_LIST
    this.ruleTimeout.fill(this.synTimeout)
    this.ruleList.fill(this.establishedList(this.synTimeout))
    for (const rule of rules) {
      if (rule === null || rule === undefined) continue
      this.ruleTimeout[rule.id] = rule.idleTimeoutSeconds | 0
      this.ruleList[rule.id] = this.establishedList(rule.idleTimeoutSeconds | 0)
    }
  }

  /** The established list for a timeout: its own, a free one, else the next longer one (or the longest, raised). */
  private establishedList(timeout: number): number {
    let free = -1
    for (let l = L_ESTABLISHED_FIRST; l < LISTS; l++) {
      if (this.listTimeout[l] === timeout) return l
      if (free < 0 && this.listTimeout[l] === FREE_LIST) free = l
    }
    if (free >= 0) {
      this.listTimeout[free] = timeout
      return free
    }
    let longer = -1
    let longest = L_ESTABLISHED_FIRST
    for (let l = L_ESTABLISHED_FIRST; l < LISTS; l++) {
      const lt = this.listTimeout[l]!
      if (lt >= timeout && (longer < 0 || lt < this.listTimeout[longer]!)) longer = l
      if (lt > this.listTimeout[longest]!) longest = l
    }
    if (longer >= 0) return longer
    this.listTimeout[longest] = timeout
    return longest
  }

  keyProto(i: number): number {
    return this.e[i * STRIDE + W_PROTO]!
  }
  src(i: number): number {
    return this.e[i * STRIDE + W_SRC]!
  }
  dst(i: number): number {
    return this.e[i * STRIDE + W_DST]!
  }
  ports(i: number): number {
    return this.e[i * STRIDE + W_PORTS]!
  }
  backend(i: number): number {
    return this.e[i * STRIDE + W_BACKEND]!
  }
  rule(i: number): number {
    return this.e[i * STRIDE + W_RULE_NAT]! >>> 16
  }
  natPort(i: number): number {
    return this.e[i * STRIDE + W_RULE_NAT]! & 0xffff
  }
  macIndex(i: number): number {
    return (this.e[i * STRIDE + W_MAC_STATE]! >>> 8) & 0xffff
  }
  state(i: number): number {
    return this.e[i * STRIDE + W_MAC_STATE]! & 0xff
  }
  lastSeen(i: number): number {
    return this.e[i * STRIDE + W_LAST_SEEN]!
  }

  /** The idle timeout (s) of a flow in its state. */
  timeoutOf(i: number): number {
    const state = this.state(i)
    if (state === FLOW_ESTABLISHED || state === FLOW_DATAGRAM) return this.ruleTimeout[this.rule(i)]!
    if (state === FLOW_NEW) return this.synTimeout
    if (state === FLOW_CLOSING) return this.closingTimeout
    return this.resetTimeout
  }

  /** Idle past its timeout at `now`. */
  isExpired(i: number, now: number): boolean {
    return ((now - this.e[i * STRIDE + W_LAST_SEEN]!) | 0) > this.timeoutOf(i)
  }

  /** The TCP sequence word (flow-state.ts); 0 (nothing known) when inserted. */
  seqWord(i: number): number {
    return this.e[i * STRIDE + W_SEQ]!
  }

  setSeqWord(i: number, word: number): void {
    this.e[i * STRIDE + W_SEQ] = word
  }

  setMacIndex(i: number, index: number): void {
    const at = i * STRIDE + W_MAC_STATE
    const w = this.e[at]!
    this.e[at] = (w & ~0xffff00) | ((index & 0xffff) << 8)
  }

  /** Change a flow's state; it moves to the head of its new timeout class's list. */
  setState(i: number, state: number): void {
    const at = i * STRIDE + W_MAC_STATE
    const w = this.e[at]!
    const list = this.listFor(state, this.e[i * STRIDE + W_RULE_NAT]! >>> 16)
    if (list !== w >>> 24) {
      this.unlinkLru(i)
      this.e[at] = (list << 24) | (w & 0xffff00) | state
      this.linkHead(i)
    } else {
      this.e[at] = (w & ~0xff) | state
    }
  }

  private listFor(state: number, rule: number): number {
    if (state === FLOW_ESTABLISHED || state === FLOW_DATAGRAM) return this.ruleList[rule]!
    if (state === FLOW_NEW) return L_HALF_OPEN
    if (state === FLOW_CLOSING) return L_CLOSING
    return L_RESET
  }

  /** Find a flow by its forward key. */
  findForward(hash: number, proto: number, src: number, dst: number, ports: number): number {
    const e = this.e
    let i = this.forwardBuckets[hash & this.bucketMask]!
    const s = src | 0
    const p = ports | 0
    const d = dst | 0
    const k = proto | 0
    while (i !== NO_ENTRY) {
      const b = i * STRIDE
      if (e[b + W_SRC] === s && e[b + W_PORTS] === p && e[b + W_DST] === d && e[b + W_PROTO] === k) return i
      i = e[b + W_FORWARD_NEXT]!
    }
    return NO_ENTRY
  }

  /**
   * Prefetching: the first entry of the chain of each of n frames, from its
   * kind (0 forward, 1 reply, 2 none: -1; any other, forward) and hash.
   */
  headsOf(kinds: Uint8Array, hashes: Int32Array, heads: Int32Array, n: number): void {
    const forward = this.forwardBuckets
    const reply = this.replyBuckets
    const mask = this.bucketMask
    for (let i = 0; i < n; i++) {
      const kind = kinds[i]!
      const bucket = hashes[i]! & mask
      heads[i] = kind === 1 ? reply[bucket]! : kind === 2 ? NO_ENTRY : forward[bucket]!
    }
  }

  /** Prefetching: read the first and the last hot word of the records of n heads (those >= 0), pulling in the cache lines a known flow reads; returns their XOR. */
  touchRecords(heads: Int32Array, n: number): number {
    const e = this.e
    let sink = 0
    for (let i = 0; i < n; i++) {
      const b = heads[i]! * STRIDE
      if (b >= 0) sink ^= e[b]! ^ e[b + W_HOT_LAST]!
    }
    return sink
  }

  /** First entry of the reply chain for this hash; walk it with replyNext(). */
  replyHead(hash: number): number {
    return this.replyBuckets[hash & this.bucketMask]!
  }

  replyNext(i: number): number {
    return this.e[i * STRIDE + W_REPLY_NEXT]!
  }

  /** The least recently used flow of all (the oldest tail of the lists), or NO_ENTRY. */
  get oldest(): number {
    let best = NO_ENTRY
    for (let l = 0; l < LISTS; l++) {
      const i = this.listTail[l]!
      if (i !== NO_ENTRY && (best === NO_ENTRY || ((this.lastSeen(i) - this.lastSeen(best)) | 0) < 0)) best = i
    }
    return best
  }

  /** Flows tracked now: half-open (TCP before the handshake completed), established and datagrams, closing and reset. */
  countOf(evictClass: number): number {
    if (evictClass === EVICT_HALF_OPEN) return this.listCount[L_HALF_OPEN]!
    if (evictClass === EVICT_CLOSING) return this.listCount[L_CLOSING]! + this.listCount[L_RESET]!
    return this.count - this.listCount[L_HALF_OPEN]! - this.listCount[L_CLOSING]! - this.listCount[L_RESET]!
  }

  /**
   * Ageing: remove flows idle past their timeout, looking at no more than
   * `budget` flows. Only expired tails are looked at, so the work is
   * proportional to what is removed. Returns the number removed.
   */
  expire(now: number, budget: number): number {
    let removed = 0
    let work = 0
    const e = this.e
    for (let l = 0; l < LISTS && work < budget; l++) {
      while (work < budget) {
        const i = this.listTail[l]!
        if (i === NO_ENTRY) break
        const idle = (now - e[i * STRIDE + W_LAST_SEEN]!) | 0
        if (idle <= this.listTimeout[l]!) break
        work++
        if (idle > this.timeoutOf(i)) {
          this.remove(i)
          removed++
        } else {
          this.refile(i, l)
        }
      }
    }
    return removed
  }

  /** A flow on a list whose timeout is shorter than its own (its rule's timeout grew): move it to its rule's list. */
  private refile(i: number, from: number): void {
    const at = i * STRIDE + W_MAC_STATE
    const w = this.e[at]!
    const list = this.listFor(w & 0xff, this.e[i * STRIDE + W_RULE_NAT]! >>> 16)
    // Its own list cannot be shorter than its timeout; keep that so ageing never loops.
    if (list === from) this.listTimeout[from] = this.timeoutOf(i)
    this.unlinkLru(i)
    this.e[at] = (list << 24) | (w & 0xffffff)
    this.linkHead(i)
  }

  /**
   * Take a free slot, fill it and link it into both indexes and its list.
   * When the table is full (or a half-open flow is over the half-open
   * budget) room is made first: an expired flow, else the least recently used
   * half-open, reset or closing, established flow, in that order (see
   * evicted, evictedClass and reclaimed). Returns the slot (the capacity is
   * at least 1, so there always is one).
   */
  insert(
    forwardHash: number,
    replyHash: number,
    proto: number,
    src: number,
    dst: number,
    ports: number,
    backend: number,
    rule: number,
    natPort: number,
    state: number,
    now: number,
  ): number {
    this.evicted = false
    this.evictedClass = -1
    this.reclaimed = 0
    const list = this.listFor(state, rule)
    if (list === L_HALF_OPEN && this.listCount[L_HALF_OPEN]! >= this.halfOpenBudget) this.makeRoomFrom(L_HALF_OPEN, now)
    else if (this.freeHead === NO_ENTRY) this.makeRoom(now)
    const i = this.freeHead
    const e = this.e
    const b = i * STRIDE
    this.freeHead = e[b + W_LRU_NEXT]!
    e[b + W_PROTO] = proto
    e[b + W_SRC] = src
    e[b + W_DST] = dst
    e[b + W_PORTS] = ports
    e[b + W_BACKEND] = backend
    e[b + W_RULE_NAT] = (rule << 16) | natPort
    e[b + W_MAC_STATE] = (list << 24) | state
    e[b + W_LAST_SEEN] = now
    e[b + W_REPLY_HASH] = replyHash
    e[b + W_SEQ] = 0
    const fb = forwardHash & this.bucketMask
    e[b + W_FORWARD_NEXT] = this.forwardBuckets[fb]!
    this.forwardBuckets[fb] = i
    const rb = replyHash & this.bucketMask
    e[b + W_REPLY_NEXT] = this.replyBuckets[rb]!
    this.replyBuckets[rb] = i
    this.linkHead(i)
    this.count++
    return i
  }

  /** Free one slot of a full table. */
  private makeRoom(now: number): void {
    this.reclaimed = this.expire(now, RECLAIM_PER_INSERT)
    if (this.freeHead !== NO_ENTRY) return
    if (this.listTail[L_HALF_OPEN] !== NO_ENTRY) return this.makeRoomFrom(L_HALF_OPEN, now)
    if (this.listTail[L_RESET] !== NO_ENTRY) return this.makeRoomFrom(L_RESET, now)
    if (this.listTail[L_CLOSING] !== NO_ENTRY) return this.makeRoomFrom(L_CLOSING, now)
    let victim = NO_ENTRY
    for (let l = L_ESTABLISHED_FIRST; l < LISTS; l++) {
      const i = this.listTail[l]!
      if (i !== NO_ENTRY && (victim === NO_ENTRY || ((this.lastSeen(i) - this.lastSeen(victim)) | 0) < 0)) victim = i
    }
    this.evict(victim, EVICT_ESTABLISHED, now)
  }

  /** Free the least recently used flow of a list (which is not empty). */
  private makeRoomFrom(list: number, now: number): void {
    this.evict(this.listTail[list]!, list === L_HALF_OPEN ? EVICT_HALF_OPEN : list < L_ESTABLISHED_FIRST ? EVICT_CLOSING : EVICT_ESTABLISHED, now)
  }

  private evict(i: number, evictClass: number, now: number): void {
    if (this.isExpired(i, now)) this.reclaimed++
    else {
      this.evicted = true
      this.evictedClass = evictClass
    }
    this.remove(i)
  }

  /** Unlink a flow from both indexes and its list and free its slot; `forwardHash` as given to insert(). */
  removeWithHash(i: number, forwardHash: number): void {
    const b = i * STRIDE
    const forwardBucket = forwardHash & this.bucketMask
    const replyBucket = this.e[b + W_REPLY_HASH]! & this.bucketMask
    // Both bucket words are read before either chain is walked, so that their cache misses overlap.
    const forwardFirst = this.forwardBuckets[forwardBucket]!
    const replyFirst = this.replyBuckets[replyBucket]!
    this.unlinkChain(this.forwardBuckets, W_FORWARD_NEXT, forwardBucket, forwardFirst, i)
    this.unlinkChain(this.replyBuckets, W_REPLY_NEXT, replyBucket, replyFirst, i)
    this.unlinkLru(i)
    this.e[b + W_LRU_NEXT] = this.freeHead
    this.freeHead = i
    this.count--
  }

  remove(i: number): void {
    this.removeWithHash(i, forwardHashOfKey(this.keyProto(i), this.src(i), this.dst(i), this.ports(i)))
  }

  /** Mark a flow used now; moves it to the head of its list at most once per clock tick. */
  touch(i: number, now: number): void {
    const at = i * STRIDE + W_LAST_SEEN
    if (this.e[at] === (now | 0)) return
    this.e[at] = now
    if (this.listHead[this.e[i * STRIDE + W_MAC_STATE]! >>> 24] === i) return
    this.unlinkLru(i)
    this.linkHead(i)
  }

  /** Unlink entry i from the chain of `bucket`, whose first entry is `first`. */
  private unlinkChain(buckets: Int32Array, nextWord: number, bucket: number, first: number, i: number): void {
    const e = this.e
    let cur = first
    if (cur === i) {
      buckets[bucket] = e[i * STRIDE + nextWord]!
      return
    }
    while (cur !== NO_ENTRY) {
      const after = e[cur * STRIDE + nextWord]!
      if (after === i) {
        e[cur * STRIDE + nextWord] = e[i * STRIDE + nextWord]!
        return
      }
      cur = after
    }
  }

  /** Link a flow at the head of the list its record names. */
  private linkHead(i: number): void {
    const e = this.e
    const l = e[i * STRIDE + W_MAC_STATE]! >>> 24
    const head = this.listHead[l]!
    e[i * STRIDE + W_LRU_PREV] = NO_ENTRY
    e[i * STRIDE + W_LRU_NEXT] = head
    if (head !== NO_ENTRY) e[head * STRIDE + W_LRU_PREV] = i
    else this.listTail[l] = i
    this.listHead[l] = i
    this.listCount[l]++
  }

  private unlinkLru(i: number): void {
    const e = this.e
    const l = e[i * STRIDE + W_MAC_STATE]! >>> 24
    const prev = e[i * STRIDE + W_LRU_PREV]!
    const next = e[i * STRIDE + W_LRU_NEXT]!
    if (prev === NO_ENTRY) this.listHead[l] = next
    else e[prev * STRIDE + W_LRU_NEXT] = next
    if (next === NO_ENTRY) this.listTail[l] = prev
    else e[next * STRIDE + W_LRU_PREV] = prev
    this.listCount[l]--
  }

  // ---- read accessors added by the engine (NVGRE FlowID, id sweep)

  /** The hash the flow's reply chain is keyed by: a per-flow constant (NVGRE FlowID entropy). */
  flowHash(i: number): number {
    return this.e[i * STRIDE + W_REPLY_HASH]!
  }

  /** Number of forward buckets (walk every flow: forwardHead(b) for each b, then forwardNext). */
  get bucketCount(): number {
    return this.bucketMask + 1
  }

  forwardHead(bucket: number): number {
    return this.forwardBuckets[bucket]!
  }

  forwardNext(i: number): number {
    return this.e[i * STRIDE + W_FORWARD_NEXT]!
  }
}
