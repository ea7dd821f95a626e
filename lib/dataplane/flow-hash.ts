import { murmur3Words2, murmur3Words3, murmur3Words4 } from '../hash/murmur3'

/**
 * Flow hashes (MurmurHash3 x86 32). The 5-tuple hash picks the backend of a
 * 5-tuple rule and, mixed with the VSID, the flow table bucket; every nvlb
 * with the same configuration computes the same values.
 */
export const FLOW_HASH_SEED = 0
const REPLY_HASH_SEED = 0x7265706c

/** All hashes are returned as int32 (`>>> 0` for the unsigned MurmurHash3 value). */
export function hash5(src: number, dst: number, ports: number, protocol: number): number {
  return murmur3Words4(src, dst, ports, protocol, FLOW_HASH_SEED) | 0
}

export function hash3(src: number, dst: number, protocol: number): number {
  return murmur3Words3(src, dst, protocol, FLOW_HASH_SEED) | 0
}

export function hash2(src: number, dst: number): number {
  return murmur3Words2(src, dst, FLOW_HASH_SEED) | 0
}

/** Bucket hash of a forward key from its 5-tuple hash and the key's (vsid << 8 | protocol) word. */
export function forwardKeyHash(h5: number, keyProto: number): number {
  return h5 ^ Math.imul(keyProto >>> 8, 0x9e3779b1)
}

/** Forward key → bucket hash, from the key alone. */
export function forwardHashOfKey(keyProto: number, src: number, dst: number, ports: number): number {
  return forwardKeyHash(hash5(src, dst, ports, keyProto & 0xff), keyProto)
}

/**
 * Hash of a reply 5-tuple. The routing domain is compared, not hashed, so a
 * reply from the wrong domain is told apart from a reply with no flow.
 */
export function replyHash(protocol: number, src: number, dst: number, ports: number): number {
  return murmur3Words4(src, dst, ports, protocol, REPLY_HASH_SEED) | 0
}
