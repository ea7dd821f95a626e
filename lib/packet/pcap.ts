/**
 * Classic libpcap capture files (not pcapng), Ethernet link type only.
 * Control-side code: malformed input throws NvlbError(PCAP_FORMAT) naming the record and
 * the byte offset at fault.
 *
 * File header (24 bytes): magic, version 2.4, thiszone, sigfigs, snaplen, link type.
 * Record header (16 bytes): seconds, fraction (µs or ns by magic), included length, original length.
 */
import { ErrorCodes, NvlbError } from '../errors'

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d
export const PCAP_VERSION_MAJOR = 2
export const PCAP_VERSION_MINOR = 4
export const PCAP_FILE_HEADER_LENGTH = 24
export const PCAP_RECORD_HEADER_LENGTH = 16
export const PCAP_LINKTYPE_ETHERNET = 1
export const PCAP_DEFAULT_SNAPLEN = 65535
/** libpcap's largest accepted snapshot length; anything larger is not a sane capture. */
export const PCAP_MAX_SNAPLEN = 262144

export interface PcapRecord {
  seconds: number
  /** Microseconds, or nanoseconds when the file says so. */
  fraction: number
  /** The captured bytes (a view into the input buffer, not a copy). */
  data: Buffer
  /** The frame's length on the wire (≥ data.length when the capture was cut at snaplen). */
  originalLength: number
}

export interface PcapFile {
  linkType: number
  snapLength: number
  nanosecond: boolean
  /** true when the file was written big-endian. */
  bigEndian: boolean
  records: PcapRecord[]
}

function formatError(message: string): NvlbError {
  return new NvlbError(ErrorCodes.PCAP_FORMAT, message)
}

/** Reads a whole classic pcap file. Throws NvlbError(PCAP_FORMAT) on anything malformed. */
export function readPcap(buf: Buffer): PcapFile {
  if (buf.length < PCAP_FILE_HEADER_LENGTH) {
    throw formatError(`pcap file header truncated: ${buf.length} of ${PCAP_FILE_HEADER_LENGTH} bytes`)
  }
  const magicLE = buf.readUInt32LE(0)
  const magicBE = buf.readUInt32BE(0)
  let bigEndian: boolean
  let nanosecond: boolean
  if (magicLE === PCAP_MAGIC_MICROSECONDS || magicLE === PCAP_MAGIC_NANOSECONDS) {
    bigEndian = false
    nanosecond = magicLE === PCAP_MAGIC_NANOSECONDS
  } else if (magicBE === PCAP_MAGIC_MICROSECONDS || magicBE === PCAP_MAGIC_NANOSECONDS) {
    bigEndian = true
    nanosecond = magicBE === PCAP_MAGIC_NANOSECONDS
  } else if (magicBE === 0x0a0d0d0a) {
    throw formatError('this is a pcapng file; only classic pcap is supported (convert with: editcap -F pcap IN OUT)')
  } else {
    throw formatError(`bad pcap magic number 0x${magicBE.toString(16).padStart(8, '0')} at offset 0`)
  }
  const u16 = (off: number): number => (bigEndian ? buf.readUInt16BE(off) : buf.readUInt16LE(off))
  const u32 = (off: number): number => (bigEndian ? buf.readUInt32BE(off) : buf.readUInt32LE(off))
  const major = u16(4)
  const minor = u16(6)
  if (major !== PCAP_VERSION_MAJOR) throw formatError(`unsupported pcap version ${major}.${minor} (expected 2.x)`)
  const snapLength = u32(16)
  const linkType = u32(20) & 0xffff
  if (linkType !== PCAP_LINKTYPE_ETHERNET) {
    throw formatError(`link type ${linkType} is not Ethernet (1); only Ethernet captures are supported`)
  }
  // like libpcap, a zero or oversized snapshot length is read as the largest sane one
  const limit = snapLength === 0 || snapLength > PCAP_MAX_SNAPLEN ? PCAP_MAX_SNAPLEN : snapLength
  const records: PcapRecord[] = []
  let off = PCAP_FILE_HEADER_LENGTH
  while (off < buf.length) {
    const number = records.length + 1
    if (off + PCAP_RECORD_HEADER_LENGTH > buf.length) {
      throw formatError(
        `record ${number} at offset ${off}: header truncated (${buf.length - off} of ${PCAP_RECORD_HEADER_LENGTH} bytes)`,
      )
    }
    const seconds = u32(off)
    const fraction = u32(off + 4)
    const includedLength = u32(off + 8)
    const originalLength = u32(off + 12)
    if (includedLength > limit) {
      throw formatError(
        `record ${number} at offset ${off}: captured length ${includedLength} exceeds the snapshot length ${limit}`,
      )
    }
    const dataOff = off + PCAP_RECORD_HEADER_LENGTH
    if (dataOff + includedLength > buf.length) {
      throw formatError(
        `record ${number} at offset ${off}: data truncated (${buf.length - dataOff} of ${includedLength} bytes)`,
      )
    }
    records.push({ seconds, fraction, data: buf.subarray(dataOff, dataOff + includedLength), originalLength })
    off = dataOff + includedLength
  }
  return { linkType, snapLength, nanosecond, bigEndian, records }
}

/**
 * Builds a little-endian, microsecond, Ethernet pcap file in memory. Frames longer than the
 * snapshot length (65535) are cut, keeping their original length in the record header.
 */
export class PcapWriter {
  readonly snapLength = PCAP_DEFAULT_SNAPLEN
  private readonly chunks: Buffer[] = []
  private records = 0

  constructor() {
    const header = Buffer.alloc(PCAP_FILE_HEADER_LENGTH)
    header.writeUInt32LE(PCAP_MAGIC_MICROSECONDS, 0)
    header.writeUInt16LE(PCAP_VERSION_MAJOR, 4)
    header.writeUInt16LE(PCAP_VERSION_MINOR, 6)
    header.writeInt32LE(0, 8) // thiszone: UTC
    header.writeUInt32LE(0, 12) // sigfigs
    header.writeUInt32LE(this.snapLength, 16)
    header.writeUInt32LE(PCAP_LINKTYPE_ETHERNET, 20)
    this.chunks.push(header)
  }

  /** Number of frames added so far. */
  get count(): number {
    return this.records
  }

  /** Appends a frame (copied) with its timestamp: seconds and microseconds, default 0. */
  add(frame: Uint8Array, seconds = 0, fraction = 0): void {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffffffff) {
      throw new NvlbError(ErrorCodes.INVALID_FIELD, `pcap timestamp seconds ${seconds} out of range`)
    }
    if (!Number.isInteger(fraction) || fraction < 0 || fraction > 999999) {
      throw new NvlbError(ErrorCodes.INVALID_FIELD, `pcap timestamp microseconds ${fraction} out of range`)
    }
    const included = Math.min(frame.length, this.snapLength)
    const record = Buffer.alloc(PCAP_RECORD_HEADER_LENGTH + included)
    record.writeUInt32LE(seconds, 0)
    record.writeUInt32LE(fraction, 4)
    record.writeUInt32LE(included, 8)
    record.writeUInt32LE(frame.length, 12)
    record.set(frame.subarray(0, included), PCAP_RECORD_HEADER_LENGTH)
    this.chunks.push(record)
    this.records++
  }

  /** The whole file so far. */
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

/** Convenience: a pcap file holding `frames` in order, timestamps 0. */
export function writePcap(frames: Iterable<Uint8Array>): Buffer {
  const writer = new PcapWriter()
  for (const frame of frames) writer.add(frame)
  return writer.toBuffer()
}
