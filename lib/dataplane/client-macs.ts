/**
 * Client-side next-hop MACs of public flows, interned to small indexes so a
 * flow record stores 16 bits instead of 6 bytes. Index 0 means unknown (all
 * zero); the table never forgets (a handful of routers in practice).
 */
import { readI32, readU16 } from '../packet/bytes'
import { MAC_LENGTH } from '../packet/ethernet'
import { createKeyTable, keyTableGet, keyTableSet } from './key-table'
import { copyMac } from './mac'

export const CLIENT_MACS = 65536

export class ClientMacs {
  private readonly index = createKeyTable(CLIENT_MACS / 2)
  /** MAC_LENGTH bytes per index. */
  readonly bytes = new Uint8Array(CLIENT_MACS * MAC_LENGTH)
  private count = 1

  /** The index of the MAC at buf[off, off + 6), 0 when the table is full. */
  intern(buf: Uint8Array, off: number): number {
    const high = readU16(buf, off)
    const low = readI32(buf, off + 2)
    const known = keyTableGet(this.index, high, low, 0)
    if (known >= 0) return known
    if (this.count >= CLIENT_MACS) return 0
    const index = this.count
    if (!keyTableSet(this.index, high, low, 0, index)) return 0
    this.count++
    copyMac(buf, off, this.bytes, index * MAC_LENGTH)
    return index
  }
}
