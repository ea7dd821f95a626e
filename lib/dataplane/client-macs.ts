/**
 * Client-side next-hop MACs of public flows, interned to small indexes so a
 * flow record stores 16 bits instead of 6 bytes. Bounded: flows hold the
 * indexes, so an entry is never reused; when the table is full intern()
 * returns CLIENT_MAC_NONE and the engine refuses the new flow (counted as
 * client_macs_full) instead of sending to 00:00:00:00:00:00.
 */
import { readI32, readU16 } from '../packet/bytes'
import { MAC_LENGTH } from '../packet/ethernet'
import { createKeyTable, keyTableGet, keyTableSet } from './key-table'
import { copyMac } from './mac'

export const CLIENT_MACS = 65536
/** intern(): the table is full. */
export const CLIENT_MAC_NONE = -1

export class ClientMacs {
  private readonly index = createKeyTable(CLIENT_MACS / 2)
  /** MAC_LENGTH bytes per index. */
  readonly bytes = new Uint8Array(CLIENT_MACS * MAC_LENGTH)
  private count = 1

  /** The index (≥ 1) of the MAC at buf[off, off + 6), CLIENT_MAC_NONE when the table is full. */
  intern(buf: Uint8Array, off: number): number {
    const high = readU16(buf, off)
    const low = readI32(buf, off + 2)
    const known = keyTableGet(this.index, high, low, 0)
    if (known >= 0) return known
    if (this.count >= CLIENT_MACS) return CLIENT_MAC_NONE
    const index = this.count
    if (!keyTableSet(this.index, high, low, 0, index)) return CLIENT_MAC_NONE
    this.count++
    copyMac(buf, off, this.bytes, index * MAC_LENGTH)
    return index
  }
}
