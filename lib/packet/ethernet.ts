/**
 * Ethernet II header with at most one IEEE 802.1Q tag.
 *
 * Codec convention of every file in lib/packet (dns-packet style):
 * - `encodingLength(v)` is the number of bytes `encode` writes;
 * - `encode(v, buf, off)` returns the bytes written, or -1 when they do not fit in
 *   `buf.length` or the value cannot be encoded; it never throws;
 * - `decode(buf, off, out)` fills the caller's `out` (made once with the module's
 *   `create…()` factory) and returns the bytes consumed, or a negative number when the
 *   input is truncated or invalid; it never throws and allocates nothing.
 * Multi-byte fields are big-endian (network order). MACs are 6-byte arrays owned by `out`.
 */

export const ETHERNET_HEADER_LENGTH = 14
export const VLAN_TAG_LENGTH = 4
export const ETHERNET_VLAN_HEADER_LENGTH = ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH
export const MAC_LENGTH = 6

export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_ARP = 0x0806
export const ETHERTYPE_VLAN = 0x8100
/** 802.1ad service tag (outer tag of a double-tagged frame): not supported. */
export const ETHERTYPE_QINQ = 0x88a8
export const ETHERTYPE_IPV6 = 0x86dd
/** Transparent Ethernet Bridging: the GRE protocol type of NVGRE. */
export const ETHERTYPE_TEB = 0x6558

/** `vlan` value of an untagged frame. */
export const VLAN_NONE = -1
export const VLAN_ID_MAX = 4095
export const VLAN_PCP_MAX = 7

/** Byte offsets inside the untagged header. */
export const ETHERNET_OFF_DST = 0
export const ETHERNET_OFF_SRC = 6
export const ETHERNET_OFF_ETHERTYPE = 12
/** Byte offsets inside a tagged header. */
export const ETHERNET_OFF_VLAN_TCI = 14
export const ETHERNET_OFF_VLAN_ETHERTYPE = 16

export interface EthernetHeader {
  dst: Uint8Array
  src: Uint8Array
  /** 802.1Q VLAN id 0..4095, or VLAN_NONE (-1) when untagged. */
  vlan: number
  /** 802.1Q priority code point 0..7 (0 when untagged). */
  pcp: number
  /** 802.1Q drop eligible indicator 0/1 (0 when untagged). */
  dei: number
  /** The ethertype of the payload (after the tag, when tagged). */
  ethertype: number
}

export function createEthernetHeader(): EthernetHeader {
  return { dst: new Uint8Array(MAC_LENGTH), src: new Uint8Array(MAC_LENGTH), vlan: VLAN_NONE, pcp: 0, dei: 0, ethertype: 0 }
}

export function encodingLength(v: EthernetHeader): number {
  return v.vlan === VLAN_NONE ? ETHERNET_HEADER_LENGTH : ETHERNET_VLAN_HEADER_LENGTH
}

/** -1 when it does not fit, when `vlan` or `pcp` is out of range or a MAC is not 6 bytes. */
export function encode(v: EthernetHeader, buf: Uint8Array, off: number): number {
  const length = encodingLength(v)
  if (off < 0 || off + length > buf.length) return -1
  if (v.dst.length !== MAC_LENGTH || v.src.length !== MAC_LENGTH) return -1
  if (v.vlan !== VLAN_NONE && (v.vlan < 0 || v.vlan > VLAN_ID_MAX || v.pcp < 0 || v.pcp > VLAN_PCP_MAX)) return -1
  for (let i = 0; i < MAC_LENGTH; i++) {
    buf[off + i] = v.dst[i]!
    buf[off + ETHERNET_OFF_SRC + i] = v.src[i]!
  }
  let p = off + ETHERNET_OFF_ETHERTYPE
  if (v.vlan !== VLAN_NONE) {
    const tci = (v.pcp << 13) | ((v.dei & 1) << 12) | v.vlan
    buf[p] = ETHERTYPE_VLAN >>> 8
    buf[p + 1] = ETHERTYPE_VLAN & 0xff
    buf[p + 2] = tci >>> 8
    buf[p + 3] = tci & 0xff
    p += VLAN_TAG_LENGTH
  }
  buf[p] = (v.ethertype >>> 8) & 0xff
  buf[p + 1] = v.ethertype & 0xff
  return length
}

/** Returns 14 or 18, or -1 when truncated or double-tagged (802.1ad or two 802.1Q tags). */
export function decode(buf: Uint8Array, off: number, out: EthernetHeader): number {
  if (off < 0 || off + ETHERNET_HEADER_LENGTH > buf.length) return -1
  let ethertype = (buf[off + ETHERNET_OFF_ETHERTYPE]! << 8) | buf[off + ETHERNET_OFF_ETHERTYPE + 1]!
  if (ethertype === ETHERTYPE_QINQ) return -1
  let length = ETHERNET_HEADER_LENGTH
  let vlan = VLAN_NONE
  let pcp = 0
  let dei = 0
  if (ethertype === ETHERTYPE_VLAN) {
    if (off + ETHERNET_VLAN_HEADER_LENGTH > buf.length) return -1
    const tci = (buf[off + ETHERNET_OFF_VLAN_TCI]! << 8) | buf[off + ETHERNET_OFF_VLAN_TCI + 1]!
    ethertype = (buf[off + ETHERNET_OFF_VLAN_ETHERTYPE]! << 8) | buf[off + ETHERNET_OFF_VLAN_ETHERTYPE + 1]!
    if (ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ) return -1
    vlan = tci & 0x0fff
    pcp = tci >>> 13
    dei = (tci >>> 12) & 1
    length = ETHERNET_VLAN_HEADER_LENGTH
  }
  for (let i = 0; i < MAC_LENGTH; i++) {
    out.dst[i] = buf[off + i]!
    out.src[i] = buf[off + ETHERNET_OFF_SRC + i]!
  }
  out.vlan = vlan
  out.pcp = pcp
  out.dei = dei
  out.ethertype = ethertype
  return length
}
