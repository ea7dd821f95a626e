/**
 * Import of HNV lookup records exported on Windows with
 *
 *   Get-NetVirtualizationLookupRecord | ConvertTo-Json
 *
 * The export is one object or an array of objects (Windows PowerShell 5.1 sometimes
 * wraps an array as `{ "value": [...], "Count": n }`) with the PascalCase properties
 * of MSFT_NetVirtualizationLookupRecordSettingData: CustomerAddress, VirtualSubnetID,
 * ProviderAddress, MACAddress, CustomerID, Rule, plus properties nvlb ignores
 * (Context, VMName, UseVmMACAddress, Type, Unusable, Unsynchronized, CimClass,
 * CimInstanceProperties, CimSystemProperties, PSComputerName, …). Property names match
 * case-insensitively, as in PowerShell, so nvlb's own camelCase records import too.
 *
 * `Rule` comes as a name (`TranslationMethodEncap`, `TranslationMethodNat`, any case)
 * or as a number. The cmdlets' RuleType enum lists Nat, Encap, None in that order
 * (0, 1, 2); the WMI class reference prints the same three as 35, 36, 37. Both
 * numberings are accepted. Only TranslationMethodEncap records can carry nvlb's
 * traffic; TranslationMethodNat (address rewrite without NVGRE) and
 * TranslationMethodNone records are refused with the reason (lookup-rules.ts), or
 * skipped with `skipUnsupported`, like IPv6 records and the wildcard records
 * (CustomerAddress 0.0.0.0, Type GatewayWildcard or L2Only).
 *
 * The input may also be the raw text or bytes of such an export (UTF-8 or the UTF-16
 * that Windows PowerShell's Out-File writes, with or without a byte-order mark).
 */
import { ErrorCodes, NvlbError } from '../errors'
import { canonicalMac, parseIPv4 } from '../packet/address'
import type { LookupRecord, LookupRule, NvlbConfig } from './config-types'
import { vsidAddressKey } from './config-cross-check'
import { ConfigLimits } from './config-schema'
import { unsupportedRuleReason } from './lookup-rules'
import { isObject, type Json } from './json-value'

export interface ImportOptions {
  /** Skip records nvlb cannot use (IPv6, wildcard, TranslationMethodNone) instead of refusing the import. */
  skipUnsupported?: boolean
}

export interface SkippedRecord {
  index: number
  reason: string
}

export interface ImportReport {
  records: LookupRecord[]
  skipped: SkippedRecord[]
}

type HnvRule = 'TranslationMethodEncap' | 'TranslationMethodNat' | 'TranslationMethodNone'

const RULE_BY_NAME: Record<string, HnvRule> = {
  translationmethodnat: 'TranslationMethodNat',
  translationmethodencap: 'TranslationMethodEncap',
  translationmethodnone: 'TranslationMethodNone',
}

const RULE_BY_NUMBER: Record<number, HnvRule> = {
  0: 'TranslationMethodNat',
  1: 'TranslationMethodEncap',
  2: 'TranslationMethodNone',
  35: 'TranslationMethodNat',
  36: 'TranslationMethodEncap',
  37: 'TranslationMethodNone',
}

/** Type values of wildcard and layer-2-only records, by name and by both numberings. */
const UNUSABLE_TYPES = new Set<string>(['gatewaywildcard', 'l2only', '2', '3', '37', '41'])


/** Signals a record nvlb cannot use; refused, or skipped with `skipUnsupported`. */
class Unsupported extends Error {}

function decodeText(input: string | Uint8Array): string {
  if (typeof input === 'string') return input.replace(/^\uFEFF/, '')
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le')
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2))
    swapped.swap16()
    return swapped.toString('utf16le')
  }
  // UTF-16 LE without a byte-order mark: every second byte of ASCII JSON is 0.
  if (bytes.length >= 4 && bytes[1] === 0 && bytes[3] === 0) return bytes.toString('utf16le')
  return bytes.toString('utf8').replace(/^\uFEFF/, '')
}

function parseInput(input: unknown): unknown {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) return input
  const text = decodeText(input)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new NvlbError(
      ErrorCodes.BAD_REQUEST,
      `the import is not JSON (${(err as Error).message}); expected the output of Get-NetVirtualizationLookupRecord | ConvertTo-Json`,
    )
  }
}

/** The records of an export: an array, one object, or PowerShell 5.1's `{ value: [...], Count }`. */
function recordList(doc: unknown): { items: unknown[]; pathOf: (i: number) => string } {
  if (Array.isArray(doc)) return { items: doc, pathOf: (i) => `[${i}]` }
  if (isObject(doc)) {
    const keys = Object.keys(doc)
    if (Array.isArray(doc.value) && keys.every((k) => k === 'value' || k === 'Count')) {
      const list = doc.value
      return { items: list, pathOf: (i) => `value[${i}]` }
    }
    return { items: [doc], pathOf: () => '' }
  }
  throw new NvlbError(
    ErrorCodes.BAD_REQUEST,
    'the import must be one lookup record object or an array of them (Get-NetVirtualizationLookupRecord | ConvertTo-Json)',
  )
}

/** Case-insensitive property access, returning the name as spelled in the input. */
function property(record: Json, name: string): { key: string; value: unknown } {
  const lower = name.toLowerCase()
  for (const key of Object.keys(record)) if (key.toLowerCase() === lower) return { key, value: record[key] }
  return { key: name, value: undefined }
}

function fieldPath(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`
}

function convertRecord(record: unknown, base: string, label: string): LookupRecord {
  if (!isObject(record)) throw new NvlbError(ErrorCodes.BAD_REQUEST, `${label} is not an object`, base || undefined)
  const bad = (code: typeof ErrorCodes[keyof typeof ErrorCodes], key: string, message: string): never => {
    throw new NvlbError(code, `${label}: ${message}`, fieldPath(base, key))
  }
  const required = (name: string): { key: string; value: string } => {
    const { key, value } = property(record, name)
    if (value === undefined || value === null || value === '') bad(ErrorCodes.INVALID_FIELD, key, `${name} is missing`)
    if (typeof value !== 'string') bad(ErrorCodes.INVALID_FIELD, key, `${name} must be a string, not ${JSON.stringify(value)}`)
    return { key, value: (value as string).trim() }
  }

  const type = property(record, 'Type').value
  if (type !== undefined && type !== null && UNUSABLE_TYPES.has(String(type).toLowerCase())) {
    throw new Unsupported(`${label} is a wildcard or layer-2-only record (Type ${String(type)})`)
  }

  const ca = required('CustomerAddress')
  if (ca.value.includes(':')) throw new Unsupported(`${label} has an IPv6 customer address ${ca.value}; nvlb balances IPv4`)
  if (ca.value === '0.0.0.0') throw new Unsupported(`${label} is a wildcard record (CustomerAddress 0.0.0.0)`)
  if (parseIPv4(ca.value) < 0) bad(ErrorCodes.BAD_ADDRESS, ca.key, `CustomerAddress '${ca.value}' is not an IPv4 address`)

  const pa = required('ProviderAddress')
  if (pa.value.includes(':')) throw new Unsupported(`${label} has an IPv6 provider address ${pa.value}; nvlb's outer header is IPv4`)
  if (parseIPv4(pa.value) < 0) bad(ErrorCodes.BAD_ADDRESS, pa.key, `ProviderAddress '${pa.value}' is not an IPv4 address`)

  const vsidProp = property(record, 'VirtualSubnetID')
  let vsid = vsidProp.value
  if (typeof vsid === 'string' && /^\d+$/.test(vsid.trim())) vsid = Number(vsid.trim())
  if (vsid === undefined || vsid === null) bad(ErrorCodes.INVALID_FIELD, vsidProp.key, 'VirtualSubnetID is missing')
  if (typeof vsid !== 'number' || !Number.isInteger(vsid)) {
    bad(ErrorCodes.INVALID_FIELD, vsidProp.key, `VirtualSubnetID must be an integer, not ${JSON.stringify(vsid)}`)
  }
  const vsidNumber = vsid as number
  if (vsidNumber < ConfigLimits.VSID_MIN || vsidNumber > ConfigLimits.VSID_MAX) {
    bad(
      ErrorCodes.VSID_RANGE,
      vsidProp.key,
      `VirtualSubnetID ${vsidNumber} is outside the valid virtual subnet IDs ${ConfigLimits.VSID_MIN}..${ConfigLimits.VSID_MAX}`,
    )
  }

  const mac = required('MACAddress')
  const canonical = canonicalMac(mac.value)
  if (canonical === null) {
    bad(ErrorCodes.BAD_MAC, mac.key, `MACAddress '${mac.value}' is not a MAC address (00155D010621, 00-15-5D-01-06-21 or 00:15:5d:01:06:21)`)
  }

  const ruleProp = property(record, 'Rule')
  let rule: HnvRule | undefined = 'TranslationMethodEncap'
  if (ruleProp.value !== undefined && ruleProp.value !== null) {
    const raw = ruleProp.value
    if (typeof raw === 'number') rule = (Object.hasOwn(RULE_BY_NUMBER, raw) ? RULE_BY_NUMBER[raw] : undefined)
    else if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) rule = RULE_BY_NUMBER[Number(raw.trim())]
    else if (typeof raw === 'string') rule = RULE_BY_NAME[raw.trim().toLowerCase()]
    else rule = undefined
    if (rule === undefined) {
      bad(
        ErrorCodes.INVALID_FIELD,
        ruleProp.key,
        `Rule ${JSON.stringify(raw)} is not TranslationMethodEncap, TranslationMethodNat or TranslationMethodNone (or their numbers)`,
      )
    }
    const why = unsupportedRuleReason(rule)
    if (why !== undefined) throw new Unsupported(`${label} has Rule ${rule}: ${why}`)
  }

  const result: LookupRecord = {
    customerAddress: ca.value,
    virtualSubnetId: vsidNumber,
    providerAddress: pa.value,
    macAddress: canonical!,
  }
  const customer = property(record, 'CustomerID')
  if (customer.value !== undefined && customer.value !== null && customer.value !== '') {
    if (typeof customer.value !== 'string') {
      bad(ErrorCodes.INVALID_FIELD, customer.key, `CustomerID must be a string, not ${JSON.stringify(customer.value)}`)
    }
    result.customerId = (customer.value as string).trim()
  }
  result.rule = rule as LookupRule
  return result
}

/** Lookup records of an export and the records that were skipped (only with `skipUnsupported`). */
export function importLookupRecordsReport(input: unknown, options: ImportOptions = {}): ImportReport {
  const { items, pathOf } = recordList(parseInput(input))
  const records: LookupRecord[] = []
  const skipped: SkippedRecord[] = []
  items.forEach((item, i) => {
    const label = items.length === 1 && pathOf(i) === '' ? 'the record' : `record ${i}`
    try {
      records.push(convertRecord(item, pathOf(i), label))
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err
      if (!options.skipUnsupported) {
        throw new NvlbError(
          ErrorCodes.INVALID_FIELD,
          `${err.message}; nvlb cannot use it (import with skipUnsupported to leave such records out)`,
          pathOf(i) || undefined,
        )
      }
      skipped.push({ index: i, reason: err.message })
    }
  })
  return { records, skipped }
}

/**
 * Lookup records from `Get-NetVirtualizationLookupRecord | ConvertTo-Json` output.
 * Throws NvlbError naming the record index and the PowerShell property at fault.
 */
export function importLookupRecords(input: unknown, options: ImportOptions = {}): LookupRecord[] {
  return importLookupRecordsReport(input, options).records
}

/**
 * Merges imported records into a configuration draft: a record with the same
 * (VSID, customer address) as an existing one replaces it in place, others are appended.
 */
export function mergeLookupRecords(draft: NvlbConfig, records: readonly LookupRecord[]): { added: number; replaced: number } {
  const index = new Map<string, number>()
  draft.lookupRecords.forEach((r, i) => index.set(vsidAddressKey(r.virtualSubnetId, r.customerAddress), i))
  let added = 0
  let replaced = 0
  for (const record of records) {
    const key = vsidAddressKey(record.virtualSubnetId, record.customerAddress)
    const at = index.get(key)
    if (at === undefined) {
      index.set(key, draft.lookupRecords.length)
      draft.lookupRecords.push({ ...record })
      added++
    } else {
      draft.lookupRecords[at] = { ...record }
      replaced++
    }
  }
  return { added, replaced }
}
