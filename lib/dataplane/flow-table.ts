/**
 * The flow table: a fixed-capacity store of flows in parallel typed arrays
 * (about 63 bytes per flow), two hash indexes (forward 5-tuple and reply
 * 5-tuple) chained through the entries, and an LRU list for eviction when
 * full. Nothing here allocates after construction.
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

export class FlowTable {
  readonly capacity: number
  private readonly bucketMask: number

  readonly keyProto: Uint32Array
  readonly keySrc: Uint32Array
  readonly keyDst: Uint32Array
  readonly keyPorts: Uint32Array
  readonly backend: Int32Array
  readonly rule: Uint16Array
  /** Full NAT: the allocated source port; 0 for dnat flows. */
  readonly natPort: Uint16Array
  /** Public flows: index of the client-side next-hop MAC in the engine's MAC table. */
  readonly macIndex: Uint16Array
  readonly lastSeen: Uint32Array
  readonly state: Uint8Array
  readonly replyHash: Uint32Array
  readonly forwardNext: Int32Array
  readonly replyNext: Int32Array
  private readonly lruPrev: Int32Array
  private readonly lruNext: Int32Array
  readonly forwardBuckets: Int32Array
  readonly replyBuckets: Int32Array

  count = 0
  private freeHead = 0
  private lruHead = NO_ENTRY
  private lruTail = NO_ENTRY

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity | 0)
    let buckets = 1
    while (buckets < this.capacity) buckets *= 2
    this.bucketMask = buckets - 1
    const n = this.capacity
    this.keyProto = new Uint32Array(n)
    this.keySrc = new Uint32Array(n)
    this.keyDst = new Uint32Array(n)
    this.keyPorts = new Uint32Array(n)
    this.backend = new Int32Array(n)
    this.rule = new Uint16Array(n)
    this.natPort = new Uint16Array(n)
    this.macIndex = new Uint16Array(n)
    this.lastSeen = new Uint32Array(n)
    this.state = new Uint8Array(n)
    this.replyHash = new Uint32Array(n)
    this.forwardNext = new Int32Array(n)
    this.replyNext = new Int32Array(n)
    this.lruPrev = new Int32Array(n)
    this.lruNext = new Int32Array(n)
    this.forwardBuckets = new Int32Array(buckets).fill(NO_ENTRY)
    this.replyBuckets = new Int32Array(buckets).fill(NO_ENTRY)
    // Free list threaded through lruNext.
    for (let i = 0; i < n; i++) this.lruNext[i] = i + 1 < n ? i + 1 : NO_ENTRY
  }

  /** Bytes of typed-array storage per flow slot. */
  get bytesPerFlow(): number {
    let bytes = 0
    for (const a of [this.keyProto, this.keySrc, this.keyDst, this.keyPorts, this.backend, this.rule, this.natPort, this.macIndex, this.lastSeen, this.state, this.replyHash, this.forwardNext, this.replyNext, this.lruPrev, this.lruNext, this.forwardBuckets, this.replyBuckets]) {
      bytes += a.byteLength
    }
    return bytes / this.capacity
  }

  forwardBucket(hash: number): number {
    return hash & this.bucketMask
  }

  /** First entry of the forward chain for this hash. Walk with forwardNext. */
  forwardHead(hash: number): number {
    return this.forwardBuckets[hash & this.bucketMask]!
  }

  replyHead(hash: number): number {
    return this.replyBuckets[hash & this.bucketMask]!
  }

  /** Find a flow by its forward key. */
  findForward(hash: number, proto: number, src: number, dst: number, ports: number): number {
    let i = this.forwardBuckets[hash & this.bucketMask]!
    while (i !== NO_ENTRY) {
      if (this.keySrc[i] === src && this.keyPorts[i] === ports && this.keyDst[i] === dst && this.keyProto[i] === proto) return i
      i = this.forwardNext[i]!
    }
    return NO_ENTRY
  }

  /** The least recently used flow, or NO_ENTRY. */
  get oldest(): number {
    return this.lruTail
  }

  /**
   * Take a free slot (evicting the least recently used flow when full), fill
   * the forward key and link it into both indexes. Returns the slot, or
   * NO_ENTRY when the capacity is 0. `evicted` tells whether a flow was
   * pushed out.
   */
  insert(forwardHash: number, replyHash: number, proto: number, src: number, dst: number, ports: number, now: number): number {
    let i = this.freeHead
    this.evicted = false
    if (i === NO_ENTRY) {
      i = this.lruTail
      if (i === NO_ENTRY) return NO_ENTRY
      this.remove(i)
      this.evicted = true
      i = this.freeHead
    }
    this.freeHead = this.lruNext[i]!
    this.keyProto[i] = proto
    this.keySrc[i] = src
    this.keyDst[i] = dst
    this.keyPorts[i] = ports
    this.lastSeen[i] = now
    this.replyHash[i] = replyHash
    const fb = forwardHash & this.bucketMask
    this.forwardNext[i] = this.forwardBuckets[fb]!
    this.forwardBuckets[fb] = i
    const rb = replyHash & this.bucketMask
    this.replyNext[i] = this.replyBuckets[rb]!
    this.replyBuckets[rb] = i
    this.linkHead(i)
    this.count++
    return i
  }

  /** Set by insert(). */
  evicted = false

  /** Unlink a flow from both indexes and the LRU list and free its slot; `forwardHash` as given to insert(). */
  removeWithHash(i: number, forwardHash: number): void {
    this.unlinkChain(this.forwardBuckets, this.forwardNext, forwardHash & this.bucketMask, i)
    this.unlinkChain(this.replyBuckets, this.replyNext, this.replyHash[i]! & this.bucketMask, i)
    this.unlinkLru(i)
    this.lruNext[i] = this.freeHead
    this.freeHead = i
    this.count--
  }

  remove(i: number): void {
    this.removeWithHash(i, forwardHashOfKey(this.keyProto[i]!, this.keySrc[i]!, this.keyDst[i]!, this.keyPorts[i]!))
  }

  /** Mark a flow used now; moves it to the LRU head at most once per clock tick. */
  touch(i: number, now: number): void {
    if (this.lastSeen[i] === now) return
    this.lastSeen[i] = now
    if (this.lruHead === i) return
    this.unlinkLru(i)
    this.linkHead(i)
  }

  private unlinkChain(buckets: Int32Array, next: Int32Array, bucket: number, i: number): void {
    let cur = buckets[bucket]!
    if (cur === i) {
      buckets[bucket] = next[i]!
      return
    }
    while (cur !== NO_ENTRY) {
      const after = next[cur]!
      if (after === i) {
        next[cur] = next[i]!
        return
      }
      cur = after
    }
  }

  private linkHead(i: number): void {
    this.lruPrev[i] = NO_ENTRY
    this.lruNext[i] = this.lruHead
    if (this.lruHead !== NO_ENTRY) this.lruPrev[this.lruHead] = i
    this.lruHead = i
    if (this.lruTail === NO_ENTRY) this.lruTail = i
  }

  private unlinkLru(i: number): void {
    const prev = this.lruPrev[i]!
    const next = this.lruNext[i]!
    if (prev === NO_ENTRY) this.lruHead = next
    else this.lruNext[prev] = next
    if (next === NO_ENTRY) this.lruTail = prev
    else this.lruPrev[next] = prev
  }
}
