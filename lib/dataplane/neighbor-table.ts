/**
 * Next-hop MACs of provider addresses: static neighbours from
 * the snapshot first, then those learnt from ARP and from trusted NVGRE
 * senders; and the ARP requests in flight (at most one a second per
 * address). Fixed-size typed arrays. A learnt entry not refreshed for
 * NEIGHBOR_MAX_AGE seconds is unknown again (resolve() fails, so the engine
 * asks by ARP); when the table is full, expired entries and the oldest one
 * are evicted (the table is compacted in place, without allocating).
 */
import { MAC_LENGTH } from '../packet/ethernet'
import { createKeyTable, keyTableGet, keyTableSet } from './key-table'
import { copyMac, sameMac } from './mac'
import type { Snapshot } from './snapshot'

export const DYNAMIC_NEIGHBORS = 4096
/** Seconds a learnt neighbour stays usable without being seen again. */
export const NEIGHBOR_MAX_AGE = 300

const SEEN_CACHE_BITS = 6

export class NeighborTable {
  private readonly learned = createKeyTable(DYNAMIC_NEIGHBORS)
  private readonly learnedMac = new Uint8Array(DYNAMIC_NEIGHBORS * MAC_LENGTH)
  private learnedCount = 0
  private readonly learnedAddress = new Int32Array(DYNAMIC_NEIGHBORS)
  private readonly learnedAt = new Int32Array(DYNAMIC_NEIGHBORS)
  /** Coarse clock (seconds), set by the engine's tick. */
  now = 0
  /** Entries evicted to make room (for tests and stats). */
  evicted = 0
  private readonly requested = createKeyTable(DYNAMIC_NEIGHBORS)
  private readonly requestedAt = new Uint32Array(DYNAMIC_NEIGHBORS)
  private requestedCount = 0

  /** Where resolve() found the MAC: bytes[offset, offset + 6). */
  bytes: Uint8Array = this.learnedMac
  offset = 0

  // One-entry caches: the last address resolved (until reset()), the last sender learnt.
  private resolvedAddress = 0
  private resolvedValid = false
  private resolvedBytes: Uint8Array = this.learnedMac
  private resolvedOffset = 0
  /** The learnt index behind the cached resolution, -1 for a static neighbour. */
  private resolvedLearned = -1
  private lastLearned = 0
  private lastLearnedIndex = 0
  private readonly seenIndex = new Int32Array(1 << SEEN_CACHE_BITS).fill(DYNAMIC_NEIGHBORS)

  /** A new snapshot (its static neighbours may differ). */
  reset(): void {
    this.resolvedValid = false
  }

  /** Point bytes/offset at the MAC of a provider address; false when it is not known. */
  resolve(address: number, snap: Snapshot): boolean {
    if (address === this.resolvedAddress && this.resolvedValid && (this.resolvedLearned < 0 || this.fresh(this.resolvedLearned))) {
      this.bytes = this.resolvedBytes
      this.offset = this.resolvedOffset
      return true
    }
    const staticIndex = keyTableGet(snap.neighbors, address, 0, 0)
    if (staticIndex >= 0) {
      this.bytes = snap.neighborMac
      this.offset = staticIndex * MAC_LENGTH
      this.resolvedLearned = -1
    } else {
      const learned = keyTableGet(this.learned, address, 0, 0)
      if (learned < 0 || !this.fresh(learned)) return false
      this.bytes = this.learnedMac
      this.offset = learned * MAC_LENGTH
      this.resolvedLearned = learned
    }
    this.resolvedAddress = address
    this.resolvedBytes = this.bytes
    this.resolvedOffset = this.offset
    this.resolvedValid = true
    return true
  }

  /** A frame from `address` with source MAC mac[macOff..+6): learn it unless it is the last one seen. */
  seen(address: number, mac: Uint8Array, macOff: number): void {
    // Replies alternate between a few hosts: a small direct-mapped cache of where each was learnt.
    const slot = Math.imul(address, 0x9e3779b1) >>> (32 - SEEN_CACHE_BITS)
    const index = this.seenIndex[slot]!
    if (index < this.learnedCount && this.learnedAddress[index] === address && sameMac(mac, macOff, this.learnedMac, index * MAC_LENGTH)) {
      this.learnedAt[index] = this.now
      return
    }
    this.learn(address, mac, macOff)
    if (this.lastLearned === address) this.seenIndex[slot] = this.lastLearnedIndex
  }

  learn(address: number, mac: Uint8Array, macOff: number): void {
    let index = keyTableGet(this.learned, address, 0, 0)
    if (index < 0) {
      if (this.learnedCount >= DYNAMIC_NEIGHBORS || !keyTableSet(this.learned, address, 0, 0, this.learnedCount)) {
        this.evict()
        if (!keyTableSet(this.learned, address, 0, 0, this.learnedCount)) return
      }
      index = this.learnedCount
      this.learnedCount++
      this.learnedAddress[index] = address
    }
    this.lastLearned = address
    this.lastLearnedIndex = index
    this.learnedAt[index] = this.now
    copyMac(mac, macOff, this.learnedMac, index * MAC_LENGTH)
  }

  /** How many learnt entries the table holds (expired ones included until evicted). */
  get size(): number {
    return this.learnedCount
  }

  private fresh(index: number): boolean {
    return this.now - this.learnedAt[index]! <= NEIGHBOR_MAX_AGE
  }

  /** Make room: drop expired entries and the oldest one, compacting the table in place. */
  private evict(): void {
    const count = this.learnedCount
    let oldest = 0
    for (let i = 1; i < count; i++) if (this.learnedAt[i]! < this.learnedAt[oldest]!) oldest = i
    const t = this.learned
    t.values.fill(-1)
    t.size = 0
    let kept = 0
    for (let i = 0; i < count; i++) {
      if (i === oldest || !this.fresh(i)) continue
      if (kept !== i) {
        this.learnedAddress[kept] = this.learnedAddress[i]!
        this.learnedAt[kept] = this.learnedAt[i]!
        this.learnedMac.copyWithin(kept * MAC_LENGTH, i * MAC_LENGTH, i * MAC_LENGTH + MAC_LENGTH)
      }
      keyTableSet(t, this.learnedAddress[kept]!, 0, 0, kept)
      kept++
    }
    this.evicted += count - kept
    this.learnedCount = kept
    this.resolvedValid = false
    this.lastLearned = 0
  }

  /** nvlb has asked for this address (its ARP replies are welcome). */
  isRequested(address: number): boolean {
    return keyTableGet(this.requested, address, 0, 0) >= 0
  }

  /** Whether to send an ARP request for `address` now: not yet this second, and room to remember it. */
  shouldRequest(address: number, now: number): boolean {
    let index = keyTableGet(this.requested, address, 0, 0)
    if (index >= 0) {
      if (this.requestedAt[index] === now) return false
    } else {
      if (this.requestedCount >= DYNAMIC_NEIGHBORS) return false
      index = this.requestedCount
      if (!keyTableSet(this.requested, address, 0, 0, index)) return false
      this.requestedCount++
    }
    this.requestedAt[index] = now
    return true
  }
}
