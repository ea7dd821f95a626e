/**
 * Every error code nvlb reports, in one place. A test checks that each code is
 * used somewhere in lib/ or bin/ and that no two share a value.
 */
export const ErrorCodes = {
  /** A configuration document (or a part of one) failed validation. */
  INVALID_CONFIG: 'NVLB_ERR_INVALID_CONFIG',
  /** A field has the wrong type, is missing, or is out of range. */
  INVALID_FIELD: 'NVLB_ERR_INVALID_FIELD',
  /** An IPv4 address or prefix does not parse. */
  BAD_ADDRESS: 'NVLB_ERR_BAD_ADDRESS',
  /** A MAC address does not parse in any accepted spelling. */
  BAD_MAC: 'NVLB_ERR_BAD_MAC',
  /** A VSID is outside 4096..16777214 (or 0 where the public side is meant). */
  VSID_RANGE: 'NVLB_ERR_VSID_RANGE',
  /** A VIP rule names a pool that does not exist. */
  UNKNOWN_POOL: 'NVLB_ERR_UNKNOWN_POOL',
  /** A VIP rule names a health probe that does not exist. */
  UNKNOWN_PROBE: 'NVLB_ERR_UNKNOWN_PROBE',
  /** Two VIP rules share (VSID, VIP, protocol, port). */
  DUPLICATE_VIP_RULE: 'NVLB_ERR_DUPLICATE_VIP_RULE',
  /** Two objects of one kind share a name or key. */
  DUPLICATE_NAME: 'NVLB_ERR_DUPLICATE_NAME',
  /** A backend's (VSID, CA) has no lookup record. */
  NO_LOOKUP_RECORD: 'NVLB_ERR_NO_LOOKUP_RECORD',
  /** A pool is still referenced by a VIP rule. */
  POOL_IN_USE: 'NVLB_ERR_POOL_IN_USE',
  /** The named resource does not exist. */
  NOT_FOUND: 'NVLB_ERR_NOT_FOUND',
  /** If-Match names an older generation than the running one. */
  PRECONDITION_FAILED: 'NVLB_ERR_PRECONDITION_FAILED',
  /** Missing or wrong bearer token. */
  UNAUTHORIZED: 'NVLB_ERR_UNAUTHORIZED',
  /** A change made with a console session lacks its CSRF token or comes from another origin. */
  CSRF_REJECTED: 'NVLB_ERR_CSRF_REJECTED',
  /** Too many failed console logins from one address; wait and try again. */
  LOGIN_THROTTLED: 'NVLB_ERR_LOGIN_THROTTLED',
  /** The request body or parameters are malformed. */
  BAD_REQUEST: 'NVLB_ERR_BAD_REQUEST',
  /** The state file on disk cannot be read back. */
  STATE_CORRUPT: 'NVLB_ERR_STATE_CORRUPT',
  /** Another nvlb holds the state dir's lock. */
  STATE_LOCKED: 'NVLB_ERR_STATE_LOCKED',
  /** A capture file is not classic pcap with Ethernet frames. */
  PCAP_FORMAT: 'NVLB_ERR_PCAP_FORMAT',
  /** An unexpected failure inside nvlb (a bug); the admin API answers 500. */
  INTERNAL: 'NVLB_ERR_INTERNAL',
  /** A CA VIP names a VSID that no lookup record or customer route defines. */
  UNKNOWN_VSID: 'NVLB_ERR_UNKNOWN_VSID',
  /** One VSID is given two different routing domains (customerId). */
  CUSTOMER_ID_CONFLICT: 'NVLB_ERR_CUSTOMER_ID_CONFLICT',
  /** A CA VIP would send traffic to a backend in another routing domain. */
  ROUTING_DOMAIN_MISMATCH: 'NVLB_ERR_ROUTING_DOMAIN_MISMATCH',
  /** A network interface named in the configuration does not exist. */
  INTERFACE_NOT_FOUND: 'NVLB_ERR_INTERFACE_NOT_FOUND',
  /** A change asks for another value of a field the running packet path took at start (interfaces, flow table size, receive slots). */
  FIXED_AT_START: 'NVLB_ERR_FIXED_AT_START',
  /** A change was stored, but the packet workers did not all run it in time (the API answers 503). */
  NOT_RUNNING: 'NVLB_ERR_NOT_RUNNING',
  /** The shared configuration store (etcd) cannot be reached: changes are refused (503), forwarding goes on. */
  STORE_UNAVAILABLE: 'NVLB_ERR_STORE_UNAVAILABLE',
  /** Opening or configuring a packet socket failed (not root, interface down, kernel refused an option). */
  SOCKET_SETUP: 'NVLB_ERR_SOCKET_SETUP',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** An error with a stable code and, where it applies, the JSON path of the field at fault. */
export class NvlbError extends Error {
  readonly code: ErrorCode
  readonly field: string | undefined
  readonly statusCode: number

  constructor(code: ErrorCode, message: string, field?: string, statusCode = 400) {
    super(field === undefined ? message : `${field}: ${message}`)
    this.name = 'NvlbError'
    this.code = code
    this.field = field
    this.statusCode = statusCode
  }
}
