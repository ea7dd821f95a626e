/**
 * The string formats of the configuration schema (config-schema.ts), as ajv formats,
 * with the error code and plain-words reason for a value that does not fit.
 */
import { ErrorCodes, type ErrorCode } from '../errors'
import { parseIPv4, parseMacInto, parsePrefix } from '../packet/address'

export interface FormatProblem {
  code: ErrorCode
  message: string
}

/** Why `text` is not a unicast host address, or undefined. */
function hostProblem(text: string): FormatProblem | undefined {
  const value = parseIPv4(text)
  if (value < 0) return { code: ErrorCodes.BAD_ADDRESS, message: `'${text}' is not an IPv4 address (dotted quad such as 10.1.6.21)` }
  if (value === 0) return { code: ErrorCodes.BAD_ADDRESS, message: `'${text}' is the unspecified address, not a host address` }
  if (value >= 0xe0000000) {
    return { code: ErrorCodes.BAD_ADDRESS, message: `'${text}' is a multicast, reserved or broadcast address, not a host address` }
  }
  return undefined
}

function anyProblem(text: string): FormatProblem | undefined {
  if (parseIPv4(text) < 0) return { code: ErrorCodes.BAD_ADDRESS, message: `'${text}' is not an IPv4 address (dotted quad such as 10.1.6.1)` }
  return undefined
}

function prefixProblem(text: string): FormatProblem | undefined {
  const prefix = parsePrefix(text)
  if (prefix === null) return { code: ErrorCodes.BAD_ADDRESS, message: `'${text}' is not an IPv4 prefix (such as 10.1.6.0/24)` }
  if (parseIPv4(text.slice(0, text.indexOf('/'))) !== prefix.address) {
    return {
      code: ErrorCodes.BAD_ADDRESS,
      message: `'${text}' has host bits set; the network is written as a /${prefix.length} prefix of its first address`,
    }
  }
  return undefined
}

const scratchMac = new Uint8Array(6)

function macProblem(text: string): FormatProblem | undefined {
  const mac = scratchMac
  if (!parseMacInto(text, mac, 0)) {
    return { code: ErrorCodes.BAD_MAC, message: `'${text}' is not a MAC address (write 00-15-5D-01-06-21, 00:15:5d:01:06:21 or 00155D010621)` }
  }
  if ((mac[0]! & 1) !== 0) return { code: ErrorCodes.BAD_MAC, message: `'${text}' is a multicast MAC address, not one of a single interface` }
  return undefined
}

/** Format name → why a string does not fit it (undefined: it fits). */
export const FORMAT_PROBLEMS: Record<string, (text: string) => FormatProblem | undefined> = {
  ipv4: anyProblem,
  'ipv4-host': hostProblem,
  'ipv4-prefix': prefixProblem,
  mac: macProblem,
}

/** The same formats as ajv `addFormat` definitions. */
export const AJV_FORMATS: Record<string, { type: 'string'; validate: (text: string) => boolean }> = Object.fromEntries(
  Object.entries(FORMAT_PROBLEMS).map(([name, problem]) => [name, { type: 'string', validate: (text: string) => problem(text) === undefined }]),
)
