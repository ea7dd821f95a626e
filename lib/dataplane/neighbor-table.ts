/**
 * Next-hop MACs of provider addresses: static neighbours from
 * the snapshot first, then those learnt from ARP and from NVGRE senders; and
 * the ARP requests in flight (at most one a second per address). Fixed-size
 * typed arrays; entries are never removed and a learnt MAC changes in place.
 */
import { MAC_LENGTH } from '../packet/ethernet'
import { createKeyTable, keyTableGet, keyTableSet } from './key-table'
import { copyMac, sameMac } from './mac'
import type { Snapshot } from './snapshot'

export const DYNAMIC_NEIGHBORS = 4096

export class NeighborTable {
  private readonly learned = createKeyTable(DYNAMIC_NEIGHBORS)
  private readonly learnedMac = new Uint8Array(DYNAMIC_NEIGHBORS * MAC_LENGTH)
  private learnedCount = 0
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
  private lastLearned = 0
  private lastLearnedIndex = 0

  /** A new snapshot (its static neighbours may differ). */
  reset(): void {
    this.resolvedValid = false
  }

  /** Point bytes/offset at the MAC of a provider address; false when it is not known. */
  resolve(address: number, snap: Snapshot): boolean {
    if (address === this.resolvedAddress && this.resolvedValid) {
      this.bytes = this.resolvedBytes
      this.offset = this.resolvedOffset
      return true
    }
    const staticIndex = keyTableGet(snap.neighbors, address, 0, 0)
    if (staticIndex >= 0) {
      this.bytes = snap.neighborMac
      this.offset = staticIndex * MAC_LENGTH
    } else {
      const learned = keyTableGet(this.learned, address, 0, 0)
      if (learned < 0) return false
      this.bytes = this.learnedMac
      this.offset = learned * MAC_LENGTH
    }
    this.resolvedAddress = address
    this.resolvedBytes = this.bytes
    this.resolvedOffset = this.offset
    this.resolvedValid = true
    return true
  }

  /** A frame from `address` with source MAC mac[macOff..+6): learn it unless it is the last one seen. */
  seen(address: number, mac: Uint8Array, macOff: number): void {
    if (address === this.lastLearned && sameMac(mac, macOff, this.learnedMac, this.lastLearnedIndex * MAC_LENGTH)) return
    this.learn(address, mac, macOff)
  }

  learn(address: number, mac: Uint8Array, macOff: number): void {
    let index = keyTableGet(this.learned, address, 0, 0)
    if (index < 0) {
      if (this.learnedCount >= DYNAMIC_NEIGHBORS) return
      index = this.learnedCount
      if (!keyTableSet(this.learned, address, 0, 0, index)) return
      this.learnedCount++
    }
    this.lastLearned = address
    this.lastLearnedIndex = index
    copyMac(mac, macOff, this.learnedMac, index * MAC_LENGTH)
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
