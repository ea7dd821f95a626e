/**
 * Validation and normalization of the configuration document.
 *
 * `validateConfig` checks the whole document and returns a new, normalized copy
 * (defaults filled in, MACs in canonical spelling, unknown extra fields kept), in
 * two passes:
 * 1. the JSON Schema of config-schema.ts, compiled with ajv: types, required fields,
 *    ranges, enums and formats; defaults are filled in on the way;
 * 2. the cross-checks of config-cross-check.ts: what a schema cannot say.
 * The first problem found throws an NvlbError whose `field` is the JSON path of the
 * offending value (`vips[0].rules[1].pool`), whose code is the most specific
 * NVLB_ERR_* code and whose message says why in plain words. Nothing of a rejected
 * document is kept.
 */
import type Ajv from 'ajv'
import type { ErrorObject, Options, ValidateFunction } from 'ajv'
import { ErrorCodes, NvlbError, type ErrorCode } from '../errors'
import { canonicalMac } from '../packet/address'
import { AJV_FORMATS, FORMAT_PROBLEMS } from './config-formats'
import { crossCheck } from './config-cross-check'
import { jsonEqual } from './config-diff'
import { ConfigLimits, configSchemas } from './config-schema'
import type { CustomerRoute, LookupRecord, Neighbor, NodeConfig, NvlbConfig, Pool, PoolBackend, Vip, VipRule } from './config-types'
import { unsupportedRuleReason } from './lookup-rules'
import { describe, isObject, type Json } from './json-value'


function fail(code: ErrorCode, field: string | undefined, message: string): never {
  throw new NvlbError(code, message, field)
}


/** An ajv instance that knows the configuration's formats, for the validator and the admin API. */
export function configAjv(options: Options = {}): Ajv {
  // Loaded on first use: a process that only validates documents runs the standalone
  // validator and never loads ajv itself.
  const AjvClass = (require('ajv') as { default: typeof Ajv }).default
  // The schemas are checked against the JSON Schema meta-schema by a test
  // (test/control/config-schema.test.ts), not at every start: that check costs more
  // than compiling them.
  const ajv = new AjvClass({ strict: true, strictTypes: false, allowUnionTypes: true, validateSchema: false, ...options })
  for (const [name, format] of Object.entries(AJV_FORMATS)) ajv.addFormat(name, format)
  return ajv
}

/** The options of the document validator (also those of its standalone copy, scripts/gen-validator.ts). */
export const VALIDATOR_OPTIONS = {
  strict: true,
  strictTypes: false,
  allowUnionTypes: true,
  validateSchema: false,
  allErrors: false,
  useDefaults: true,
  verbose: true,
} as const

let compiled: ValidateFunction | undefined

/**
 * The schema's validator: the standalone copy generated from the schema
 * (config-schema-validator.ts, no compile at start), or compiled here with the same
 * options when that copy is missing.
 */
function schemaValidator(): ValidateFunction {
  if (compiled === undefined) {
    try {
      compiled = (require('./config-schema-validator') as { validateConfigSchema: ValidateFunction }).validateConfigSchema
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err
      const ajv = configAjv(VALIDATOR_OPTIONS)
      for (const schema of configSchemas) ajv.addSchema(schema)
      compiled = ajv.getSchema('Config')!
    }
  }
  return compiled
}

/** `/vips/0/rules/1` and `pool` → `vips[0].rules[1].pool`. */
function fieldPath(instancePath: string, property?: string): string {
  const parts = instancePath === '' ? [] : instancePath.split('/').slice(1)
  if (property !== undefined) parts.push(property)
  let out = ''
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(part)) out += `[${part}]`
    else out += out === '' ? part : `.${part}`
  }
  return out
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
}

function isVsidField(field: string): boolean {
  return field === 'virtualSubnetId' || field.endsWith('.virtualSubnetId')
}

/** One ajv error → the NvlbError the validator throws. */
function toNvlbError(error: ErrorObject): NvlbError {
  const params = error.params as Record<string, unknown>
  const data = error.data
  const parent = (error.parentSchema ?? {}) as Json
  if (error.keyword === 'required') {
    return new NvlbError(ErrorCodes.INVALID_FIELD, 'is required', fieldPath(error.instancePath, params.missingProperty as string))
  }
  const field = fieldPath(error.instancePath)
  const at = field === '' ? undefined : field
  switch (error.keyword) {
    case 'type': {
      if (data === null) return new NvlbError(ErrorCodes.INVALID_FIELD, 'is required', at)
      const type = String(params.type)
      const what = isVsidField(field) ? 'an integer virtual subnet ID' : (TYPE_WORDS[type] ?? type)
      return new NvlbError(ErrorCodes.INVALID_FIELD, `must be ${what}, not ${describe(data)}`, at)
    }
    case 'minimum':
    case 'maximum':
    case 'not': {
      if (isVsidField(field)) {
        const publicToo = parent.minimum === 0
        return new NvlbError(
          ErrorCodes.VSID_RANGE,
          `${String(data)} is outside the valid virtual subnet IDs ${ConfigLimits.VSID_MIN}..${ConfigLimits.VSID_MAX}` +
            (publicToo ? ' (or 0 for a public VIP)' : ''),
          at,
        )
      }
      return new NvlbError(ErrorCodes.INVALID_FIELD, `must be between ${String(parent.minimum)} and ${String(parent.maximum)}, not ${String(data)}`, at)
    }
    case 'enum': {
      const choices = (params.allowedValues as unknown[]).map((c) => `'${String(c)}'`).join(', ')
      const why = field.endsWith('.rule') ? unsupportedRuleReason(data) : undefined
      if (why !== undefined) return new NvlbError(ErrorCodes.INVALID_FIELD, `${why}; must be one of ${choices}`, at)
      return new NvlbError(ErrorCodes.INVALID_FIELD, `must be one of ${choices}, not ${describe(data)}`, at)
    }
    case 'format': {
      const problem = FORMAT_PROBLEMS[String(params.format)]?.(String(data))
      if (problem !== undefined) return new NvlbError(problem.code, problem.message, at)
      return new NvlbError(ErrorCodes.INVALID_FIELD, `${describe(data)} is not a valid ${String(params.format)}`, at)
    }
    case 'pattern':
      if (parent.pattern === ConfigLimits.NAME_PATTERN.source) {
        return new NvlbError(
          ErrorCodes.INVALID_FIELD,
          `${describe(data)} is not a valid name (1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit)`,
          at,
        )
      }
      if (field.endsWith('.requestPath')) {
        return new NvlbError(
          ErrorCodes.INVALID_FIELD,
          `${describe(data)} is not a request path (it starts with '/' and has no spaces or control characters, e.g. '/health')`,
          at,
        )
      }
      return new NvlbError(ErrorCodes.INVALID_FIELD, `${describe(data)} must match ${String(parent.pattern)}`, at)
    case 'minLength':
      return new NvlbError(ErrorCodes.INVALID_FIELD, parent.minLength === 1 ? 'must not be empty (leave it out instead)' : `must be at least ${String(parent.minLength)} characters`, at)
    case 'maxItems':
      return new NvlbError(ErrorCodes.INVALID_FIELD, `must have at most ${String(parent.maxItems)} entries, not ${Array.isArray(data) ? data.length : describe(data)}`, at)
    case 'maxLength':
      return new NvlbError(ErrorCodes.INVALID_FIELD, `must be at most ${String(parent.maxLength)} characters, not ${describe(data)}`, at)
    default:
      return new NvlbError(ErrorCodes.INVALID_FIELD, error.message ?? 'is invalid', at)
  }
}

const NONE: ReadonlySet<string> = new Set()

/** MACs in canonical spelling (`00:15:5d:01:06:21`), wherever the schema says `format: mac`. */
function canonicalizeMacs(config: NvlbConfig, reused: ReadonlySet<string> = NONE): void {
  const canonical = (text: string | undefined): string | undefined => (text === undefined ? undefined : canonicalMac(text)!)
  const node = config.node
  node.providerMac = canonical(node.providerMac)!
  node.gatewayMac = canonical(node.gatewayMac)!
  if (node.externalMac !== undefined) node.externalMac = canonical(node.externalMac)
  if (!reused.has('neighbors')) for (const n of config.neighbors) n.mac = canonical(n.mac)!
  // Frozen records are a validated document's: already canonical.
  if (!reused.has('lookupRecords')) for (const r of config.lookupRecords) if (!Object.isFrozen(r)) r.macAddress = canonical(r.macAddress)!
}

/**
 * One string object per distinct value of the record fields that repeat (a cloud's
 * million records have some ten thousand hosts, a thousand tenants, each tenant's CAs
 * again in the others' VSIDs, and one `rule`): the parsed document holds a string per
 * record and field, some 40 bytes each, for as long as the records run. A record with
 * the schema's fields only is rebuilt as one object literal of a fixed shape (fields in
 * schema order): a parsed record got its defaulted `rule` as a seventh field outside the
 * object (a property array of its own), the literal holds all in the object itself.
 */
function shareRecordStrings(config: NvlbConfig, reused: ReadonlySet<string> = NONE): void {
  if (reused.has('lookupRecords')) return
  const seen = new Map<string, string>()
  const shared = (text: string): string => {
    const known = seen.get(text)
    if (known !== undefined) return known
    seen.set(text, text)
    return text
  }
  const records = config.lookupRecords
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    if (Object.isFrozen(r)) continue
    r.customerAddress = shared(r.customerAddress)
    r.providerAddress = shared(r.providerAddress)
    if (r.customerId !== undefined) r.customerId = shared(r.customerId)
    if (r.rule !== undefined) r.rule = shared(r.rule) as typeof r.rule
    const compact = compactRecord(r)
    if (compact !== r) records[i] = compact
  }
}

const RECORD_FIELDS = new Set(['customerAddress', 'virtualSubnetId', 'providerAddress', 'macAddress', 'customerId', 'rule'])

/** `r` as an object literal of a fixed shape when it has the schema's fields only (and its rule), else `r`. */
function compactRecord(r: LookupRecord): LookupRecord {
  let fields = 0
  for (const key in r) {
    if (!RECORD_FIELDS.has(key)) return r
    fields++
  }
  if (r.rule === undefined) return r
  if (r.customerId === undefined) {
    if (fields !== 5) return r
    return { customerAddress: r.customerAddress, virtualSubnetId: r.virtualSubnetId, providerAddress: r.providerAddress, macAddress: r.macAddress, rule: r.rule }
  }
  if (fields !== 6) return r
  return { customerAddress: r.customerAddress, virtualSubnetId: r.virtualSubnetId, providerAddress: r.providerAddress, macAddress: r.macAddress, customerId: r.customerId, rule: r.rule }
}

/** The defaults that depend on other fields: natMode on the VIP's side, backendPort = frontendPort. */
function fillDependentDefaults(config: NvlbConfig, reused: ReadonlySet<string> = NONE): void {
  if (reused.has('vips')) return
  for (const v of config.vips) {
    // A frozen VIP is a validated document's: its defaults are filled in.
    if (Object.isFrozen(v)) continue
    if (v.natMode === undefined) v.natMode = v.virtualSubnetId === 0 ? 'dnat' : 'fullnat'
    for (const r of v.rules) if (r.backendPort === undefined) r.backendPort = r.frontendPort
  }
}

/**
 * A deep copy with JSON semantics (what `JSON.parse(JSON.stringify(value))` gives, faster):
 * `toJSON` is honoured, undefined and function members are dropped, non-finite numbers
 * become null. Throws NvlbError for values JSON cannot hold (BigInt, cycles).
 */
export function jsonClone(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (typeof value === 'bigint') fail(ErrorCodes.INVALID_CONFIG, undefined, 'the configuration is not a JSON document (it holds a BigInt)')
  if (typeof value !== 'object') return undefined
  if (depth > 64) fail(ErrorCodes.INVALID_CONFIG, undefined, 'the configuration is not a JSON document (nested too deeply, or circular)')
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return jsonClone((value as { toJSON: () => unknown }).toJSON(), depth + 1)
  }
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) {
      const item = jsonClone(value[i], depth + 1)
      copy[i] = item === undefined ? null : item
    }
    return copy
  }
  const copy: Json = {}
  for (const key of Object.keys(value)) {
    const item = jsonClone((value as Json)[key], depth + 1)
    if (item !== undefined) copy[key] = item
  }
  return copy
}

/** Validate the whole configuration document; returns a new normalized copy or throws NvlbError. */
export function validateConfig(doc: unknown): NvlbConfig {
  return validateInPlace(jsonClone(doc))
}

/**
 * validateConfig for a document the caller owns and uses no further, such as one it has
 * just parsed (the state dir's base, a --config file): normalized where it is, without
 * a copy (a cloud's document is a million objects). A refused document is left
 * partly normalized.
 */
export function validateOwnedConfig(doc: unknown): NvlbConfig {
  return validateInPlace(doc)
}

function validateInPlace(root: unknown): NvlbConfig {
  if (!isObject(root)) fail(ErrorCodes.INVALID_CONFIG, undefined, `the configuration must be a JSON object, not ${describe(root)}`)
  if (root.node === undefined || root.node === null) fail(ErrorCodes.INVALID_FIELD, 'node', 'is required')
  const validate = schemaValidator()
  if (!validate(root)) throw toNvlbError(validate.errors![0]!)
  const config = root as unknown as NvlbConfig
  canonicalizeMacs(config)
  shareRecordStrings(config)
  fillDependentDefaults(config)
  crossCheck(config)
  return config
}

/** An object of Object's own prototype without toJSON: its copy has the same keys. */
function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function'
}

/**
 * A list whose items are plain objects and whose values are what JSON holds as they are
 * (strings, booleans, finite numbers, null, plain objects and arrays of them): its copy
 * equals it, so comparing it with jsonEqual says what comparing its copy would.
 */
function isPlainData(value: unknown, depth = 0): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (typeof value !== 'object' || depth > 64) return false
  // An item of a validated document (the control plane freezes only those) is plain data.
  if (depth > 0 && Object.isFrozen(value) && !Array.isArray(value) && isPlainObject(value)) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainData(value[i], depth + 1)) return false
    return true
  }
  if (!isPlainObject(value)) return false
  for (const key in value) {
    const item = (value as Json)[key]
    if (item !== undefined && !isPlainData(item, depth + 1)) return false
  }
  return true
}

/** The item lists a change may leave as they were (each validated once, as a whole). */
const REUSABLE_SECTIONS = ['neighbors', 'lookupRecords', 'customerRoutes', 'pools', 'vips'] as const

interface KeptItems {
  section: string
  /** The items to validate: those of the list that are not frozen, in order. */
  fresh: unknown[]
  /** The whole list again, the fresh items replaced by their validated copies. */
  merge(validated: unknown[]): unknown[]
  /** An error about fresh[k] made about the item's index in the whole list. */
  renumber(error: NvlbError): NvlbError
}

/** Sections whose frozen items a change keeps are not schema-checked again (keptItems). */
const KEPT_SECTIONS = ['lookupRecords', 'pools', 'vips'] as const

/**
 * A list that holds frozen items (those of a validated document: the control plane
 * freezes only what validated, e.g. the records a bulk change keeps, the pools an edit
 * left as they were): they passed the schema and are normalized, so only the others are
 * schema-checked. The cross-checks still see the whole list.
 */
function keptItems(section: string, list: unknown): KeptItems | undefined {
  if (!Array.isArray(list)) return undefined
  const at: number[] = []
  const fresh: unknown[] = []
  for (let i = 0; i < list.length; i++) {
    const item = list[i] as unknown
    if (typeof item === 'object' && item !== null && Object.isFrozen(item) && !Array.isArray(item)) continue
    at.push(i)
    fresh.push(item)
  }
  if (fresh.length === list.length) return undefined
  const pattern = new RegExp(`^${section}\\[(\\d+)\\]`)
  return {
    section,
    fresh,
    merge(validated) {
      const out = list.slice()
      for (let k = 0; k < at.length; k++) out[at[k]!] = validated[k]
      return out
    },
    renumber(error) {
      const m = error.field === undefined ? null : pattern.exec(error.field)
      if (m === null) return error
      const field = `${section}[${at[Number(m[1])]!}]${error.field!.slice(m[0].length)}`
      return new NvlbError(error.code, error.message.slice(error.field!.length + 2), field, error.statusCode)
    },
  }
}

/**
 * Validate a change of the running document `previous` (validated by validateConfig or
 * validateChange) into `doc`: the same verdict and the same normalized result as
 * validateConfig(doc), at the cost of what changed. A section (lookupRecords, pools, …)
 * equal to the running one is neither schema-checked nor normalized again: the running
 * one (frozen, already normalized) is kept in the result, and the cross-checks reuse what
 * they computed from it (cross-check.ts). Errors are the ones validateConfig reports:
 * an unchanged section holds none, and the schema reports the first problem of the others
 * in the same order.
 */
export function validateChange(previous: NvlbConfig, doc: unknown): NvlbConfig {
  const running = previous as unknown as Record<string, unknown>
  const reused = new Set<string>()
  let root: unknown
  const itemsKept: KeptItems[] = []
  if (isPlainObject(doc)) {
    // Sections equal to the running ones are not copied at all; the others are copied as validateConfig does.
    const raw = doc as Json
    for (const section of REUSABLE_SECTIONS) {
      const before = running[section]
      // A section left out is [] after validation; only an explicit equal list is reused.
      // The running (frozen) list itself, as an edit leaves the sections it did not touch, is reused without a look.
      if (Array.isArray(before) && (raw[section] === before || (Array.isArray(raw[section]) && isPlainData(raw[section]) && jsonEqual(raw[section], before)))) {
        reused.add(section)
      }
    }
    const shell: Json = {}
    for (const key of Object.keys(raw)) shell[key] = reused.has(key) ? [] : raw[key]
    for (const section of KEPT_SECTIONS) {
      if (reused.has(section)) continue
      const kept = keptItems(section, raw[section])
      if (kept === undefined) continue
      itemsKept.push(kept)
      shell[section] = kept.fresh
    }
    root = jsonClone(shell)
  } else {
    root = jsonClone(doc)
  }
  if (!isObject(root)) fail(ErrorCodes.INVALID_CONFIG, undefined, `the configuration must be a JSON object, not ${describe(root)}`)
  if (root.node === undefined || root.node === null) fail(ErrorCodes.INVALID_FIELD, 'node', 'is required')
  const validate = schemaValidator()
  if (!validate(root)) {
    let error = toNvlbError(validate.errors![0]!)
    for (const kept of itemsKept) error = kept.renumber(error)
    throw error
  }
  for (const section of reused) root[section] = running[section] as Json
  for (const kept of itemsKept) root[kept.section] = kept.merge(root[kept.section] as unknown[]) as unknown as Json
  const config = root as unknown as NvlbConfig
  canonicalizeMacs(config, reused)
  shareRecordStrings(config, reused)
  fillDependentDefaults(config, reused)
  crossCheck(config, previous)
  return config
}

/** Types re-exported for callers that only import the validator. */
export type { CustomerRoute, LookupRecord, Neighbor, NodeConfig, NvlbConfig, Pool, PoolBackend, Vip, VipRule }
