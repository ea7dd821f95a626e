/**
 * The flow table: a fixed-capacity store of flows, two hash indexes (forward
 * 5-tuple and reply 5-tuple) chained through the entries, and an LRU list for
 * eviction when full. Nothing here allocates after construction.
 *
 * Each flow is one 52-byte record in a single Int32Array, so a lookup touches
 * the bucket word and one or two cache lines of the record, not one line per
 * field: with 1M flows the table does not fit any cache and every line is a
 * miss. With the two bucket words that makes 60 bytes per flow.
 *
 * Every word is an int32 (addresses and packed ports included; see the
 * snapshot's note on why).
 *
 * A flow's forward key is what the client sends: (vsid << 8 | protocol, src,
 * dst, sport << 16 | dport). Its reply key is derived from the backend and the
 * NAT mode by the engine, which also compares reply keys (it needs the
 * snapshot for that); the table stores the reply hash so that an entry can
 * always be unlinked, whatever the snapshot says now.
 */
import { forwardHashOfKey } from './flow-hash'

export const NO_ENTRY = -1

/** TCP states that set the idle timeout. */
export const FLOW_NEW = 0
export const FLOW_ESTABLISHED = 1
export const FLOW_CLOSING = 2
export const FLOW_RESET = 3
/** UDP and everything that has no connection state. */
export const FLOW_DATAGRAM = 4

// Record layout, in 32-bit words.
const W_PROTO = 0
const W_SRC = 1
const W_DST = 2
const W_PORTS = 3
const W_BACKEND = 4
/** rule id << 16 | full-NAT source port (0 for destination NAT). */
const W_RULE_NAT = 5
/** client MAC index << 8 | state. */
const W_MAC_STATE = 6
const W_LAST_SEEN = 7
const W_REPLY_HASH = 8
const W_FORWARD_NEXT = 9
const W_REPLY_NEXT = 10
const W_LRU_PREV = 11
const W_LRU_NEXT = 12
const STRIDE = 13

export class FlowTable {
  readonly capacity: number
  private readonly bucketMask: number
  private readonly e: Int32Array
  private readonly forwardBuckets: Int32Array
  private readonly replyBuckets: Int32Array

  count = 0
  /** Set by insert(): whether a flow was pushed out to make room. */
  evicted = false
  private freeHead = 0
  private lruHead = NO_ENTRY
  private lruTail = NO_ENTRY

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity | 0)
    let buckets = 1
    while (buckets < this.capacity) buckets *= 2
    this.bucketMask = buckets - 1
    this.e = new Int32Array(this.capacity * STRIDE)
    this.forwardBuckets = new Int32Array(buckets).fill(NO_ENTRY)
    this.replyBuckets = new Int32Array(buckets).fill(NO_ENTRY)
    // Free list threaded through the LRU next word.
    for (let i = 0; i < this.capacity; i++) this.e[i * STRIDE + W_LRU_NEXT] = i + 1 < this.capacity ? i + 1 : NO_ENTRY
  }

  /** Bytes of storage per flow slot (records and both bucket arrays). */
  get bytesPerFlow(): number {
    return (this.e.byteLength + this.forwardBuckets.byteLength + this.replyBuckets.byteLength) / this.capacity
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
    return this.e[i * STRIDE + W_MAC_STATE]! >>> 8
  }
  state(i: number): number {
    return this.e[i * STRIDE + W_MAC_STATE]! & 0xff
  }
  lastSeen(i: number): number {
    return this.e[i * STRIDE + W_LAST_SEEN]!
  }

  setMacIndex(i: number, index: number): void {
    const at = i * STRIDE + W_MAC_STATE
    this.e[at] = (index << 8) | (this.e[at]! & 0xff)
  }
  setState(i: number, state: number): void {
    const at = i * STRIDE + W_MAC_STATE
    this.e[at] = (this.e[at]! & ~0xff) | state
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

  /** Prefetching: the first entry of the forward (kind 0) or reply (kind 1) chain of a hash; -1 for kind 2. */
  headOf(kind: number, hash: number): number {
    if (kind === 0) return this.forwardBuckets[hash & this.bucketMask]!
    if (kind === 1) return this.replyBuckets[hash & this.bucketMask]!
    return NO_ENTRY
  }

  /** Read the first and last word of a record, pulling both of its cache lines in (prefetching). */
  touchRecord(i: number): number {
    return this.e[i * STRIDE]! ^ this.e[i * STRIDE + STRIDE - 1]!
  }

  /** First entry of the reply chain for this hash; walk it with replyNext(). */
  replyHead(hash: number): number {
    return this.replyBuckets[hash & this.bucketMask]!
  }

  replyNext(i: number): number {
    return this.e[i * STRIDE + W_REPLY_NEXT]!
  }

  /** The least recently used flow, or NO_ENTRY. */
  get oldest(): number {
    return this.lruTail
  }

  /**
   * Take a free slot (evicting the least recently used flow when full), fill
   * it and link it into both indexes. Returns the slot (the capacity is at
   * least 1, so there always is one).
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
    let i = this.freeHead
    this.evicted = false
    if (i === NO_ENTRY) {
      this.remove(this.lruTail)
      this.evicted = true
      i = this.freeHead
    }
    const e = this.e
    const b = i * STRIDE
    this.freeHead = e[b + W_LRU_NEXT]!
    e[b + W_PROTO] = proto
    e[b + W_SRC] = src
    e[b + W_DST] = dst
    e[b + W_PORTS] = ports
    e[b + W_BACKEND] = backend
    e[b + W_RULE_NAT] = (rule << 16) | natPort
    e[b + W_MAC_STATE] = state
    e[b + W_LAST_SEEN] = now
    e[b + W_REPLY_HASH] = replyHash
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

  /** Unlink a flow from both indexes and the LRU list and free its slot; `forwardHash` as given to insert(). */
  removeWithHash(i: number, forwardHash: number): void {
    const b = i * STRIDE
    this.unlinkChain(this.forwardBuckets, W_FORWARD_NEXT, forwardHash & this.bucketMask, i)
    this.unlinkChain(this.replyBuckets, W_REPLY_NEXT, this.e[b + W_REPLY_HASH]! & this.bucketMask, i)
    this.unlinkLru(i)
    this.e[b + W_LRU_NEXT] = this.freeHead
    this.freeHead = i
    this.count--
  }

  remove(i: number): void {
    this.removeWithHash(i, forwardHashOfKey(this.keyProto(i), this.src(i), this.dst(i), this.ports(i)))
  }

  /** Mark a flow used now; moves it to the LRU head at most once per clock tick. */
  touch(i: number, now: number): void {
    const at = i * STRIDE + W_LAST_SEEN
    if (this.e[at] === (now | 0)) return
    this.e[at] = now
    if (this.lruHead === i) return
    this.unlinkLru(i)
    this.linkHead(i)
  }

  private unlinkChain(buckets: Int32Array, nextWord: number, bucket: number, i: number): void {
    const e = this.e
    let cur = buckets[bucket]!
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

  private linkHead(i: number): void {
    const e = this.e
    e[i * STRIDE + W_LRU_PREV] = NO_ENTRY
    e[i * STRIDE + W_LRU_NEXT] = this.lruHead
    if (this.lruHead !== NO_ENTRY) e[this.lruHead * STRIDE + W_LRU_PREV] = i
    this.lruHead = i
    if (this.lruTail === NO_ENTRY) this.lruTail = i
  }

  private unlinkLru(i: number): void {
    const e = this.e
    const prev = e[i * STRIDE + W_LRU_PREV]!
    const next = e[i * STRIDE + W_LRU_NEXT]!
    if (prev === NO_ENTRY) this.lruHead = next
    else e[prev * STRIDE + W_LRU_NEXT] = next
    if (next === NO_ENTRY) this.lruTail = prev
    else e[next * STRIDE + W_LRU_PREV] = prev
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
