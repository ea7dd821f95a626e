import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { importLookupRecords, importLookupRecordsReport, mergeLookupRecords } from '../../lib/control/powershell-import'
import { validateConfig } from '../../lib/control/config-validate'
import { referenceConfig } from './reference-config'

const FIXTURES = join(__dirname, '..', 'fixtures', 'powershell')
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8')
const BLUE = '{8F0E6B1C-3A5D-4C2E-9B7A-1D2C3E4F5A01}'
const RED = '{C7A2D9E4-6B1F-4E8A-A3C5-7F9E0D1B2C02}'

/** The reference deployment's records as the import must produce them: GUID customer IDs, canonical MACs. */
function expectedRecords(): any[] {
  return referenceConfig().lookupRecords.map((r: any) => ({
    customerAddress: r.customerAddress,
    virtualSubnetId: r.virtualSubnetId,
    providerAddress: r.providerAddress,
    macAddress: r.customerAddress.endsWith('.1') || r.customerAddress.endsWith('.100') ? '02:00:00:00:00:01' : undefined,
    customerId: r.customerId === 'blue' ? BLUE : RED,
    rule: 'TranslationMethodEncap',
  }))
}

function importError(fn: () => unknown): NvlbError {
  try {
    fn()
  } catch (err) {
    if (err instanceof NvlbError) return err
    throw err
  }
  throw new Error('expected an NvlbError')
}

t.test('the Blue/Red export of Windows PowerShell 5.1 imports as the reference lookup records', async (t) => {
  const records = importLookupRecords(JSON.parse(fixture('blue-red-lookup-records.ps51.json')))
  t.equal(records.length, 14)
  const expected = expectedRecords()
  records.forEach((r, i) => {
    t.equal(r.customerAddress, expected[i].customerAddress, `record ${i} CA`)
    t.equal(r.virtualSubnetId, expected[i].virtualSubnetId, `record ${i} VSID`)
    t.equal(r.providerAddress, expected[i].providerAddress, `record ${i} PA`)
    t.equal(r.customerId, expected[i].customerId, `record ${i} customer`)
    t.equal(r.rule, 'TranslationMethodEncap', `record ${i} rule (number 1 and the name alike)`)
    t.match(r.macAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, `record ${i} MAC canonical`)
    if (expected[i].macAddress !== undefined) t.equal(r.macAddress, expected[i].macAddress)
    t.same(Object.keys(r).sort(), ['customerAddress', 'customerId', 'macAddress', 'providerAddress', 'rule', 'virtualSubnetId'], 'no PowerShell noise')
  })
  t.equal(records[2]!.macAddress, '00:15:5d:01:06:21', 'bare 00155D010621')
  t.equal(records[3]!.macAddress, '00:15:5d:01:06:22', 'dashed 00-15-5D-01-06-22')

  // The imported policy drives a whole configuration.
  const doc = referenceConfig()
  doc.lookupRecords = records
  for (const route of doc.customerRoutes) route.customerId = route.customerId === 'blue' ? BLUE : RED
  const config = validateConfig(doc)
  t.equal(config.lookupRecords.length, 14)
})

t.test('raw text and bytes of the export: UTF-8, UTF-8 with BOM, UTF-16 LE with and without BOM, UTF-16 BE', async (t) => {
  const text = fixture('blue-red-lookup-records.ps51.json')
  const expected = importLookupRecords(JSON.parse(text))
  t.same(importLookupRecords(text), expected, 'string with CRLF line ends')
  t.same(importLookupRecords(Buffer.from(text, 'utf8')), expected, 'UTF-8 bytes')
  t.same(importLookupRecords('\uFEFF' + text), expected, 'string with BOM')
  t.same(importLookupRecords(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])), expected, 'UTF-8 with BOM')
  const utf16 = Buffer.from(text, 'utf16le')
  t.same(importLookupRecords(Buffer.concat([Buffer.from([0xff, 0xfe]), utf16])), expected, 'UTF-16 LE with BOM (Out-File)')
  t.same(importLookupRecords(utf16), expected, 'UTF-16 LE without BOM')
  const be = Buffer.from(utf16)
  be.swap16()
  t.same(importLookupRecords(Buffer.concat([Buffer.from([0xfe, 0xff]), be])), expected, 'UTF-16 BE with BOM')
  t.same(importLookupRecords(new Uint8Array(Buffer.from(text))), expected, 'a plain Uint8Array')
})

t.test('PowerShell 7 layout with Rule and Type as names and dashed MACs', async (t) => {
  const records = importLookupRecords(fixture('red-lookup-records.ps7.json'))
  t.equal(records.length, 6)
  t.same(records[1], {
    customerAddress: '10.1.6.21',
    virtualSubnetId: 6001,
    providerAddress: '192.168.6.5',
    macAddress: '00:15:5d:02:06:21',
    customerId: RED,
    rule: 'TranslationMethodEncap',
  })
})

t.test('one object instead of an array', async (t) => {
  const records = importLookupRecords(fixture('blue-vm2-lookup-record.ps51.json'))
  t.same(records, [
    {
      customerAddress: '10.1.6.21',
      virtualSubnetId: 5001,
      providerAddress: '192.168.6.4',
      macAddress: '00:15:5d:01:06:21',
      customerId: BLUE,
      rule: 'TranslationMethodEncap',
    },
  ])
  const broken = JSON.parse(fixture('blue-vm2-lookup-record.ps51.json'))
  broken.MACAddress = '00-15-5D-01-06'
  const err = importError(() => importLookupRecords(broken))
  t.equal(err.code, ErrorCodes.BAD_MAC)
  t.equal(err.field, 'MACAddress', 'a single record has no index')
  t.match(err.message, 'the record')
})

t.test("Windows PowerShell 5.1's { value: [...], Count } wrapper", async (t) => {
  const records = importLookupRecords(fixture('blue-host1-value-count.ps51.json'))
  t.same(
    records.map((r) => r.customerAddress),
    ['10.1.6.20', '10.1.6.21'],
  )
  const doc = JSON.parse(fixture('blue-host1-value-count.ps51.json'))
  doc.value[1].ProviderAddress = '192.168.6'
  const err = importError(() => importLookupRecords(doc))
  t.equal(err.field, 'value[1].ProviderAddress')
})

t.test('records nvlb cannot use: refused by default, skipped on request', async (t) => {
  const text = fixture('blue-with-unsupported.ps51.json')
  const err = importError(() => importLookupRecords(text))
  t.equal(err.code, ErrorCodes.INVALID_FIELD)
  t.equal(err.field, '[1]')
  t.match(err.message, /record 1 has an IPv6 customer address/)
  t.match(err.message, 'skipUnsupported')

  const report = importLookupRecordsReport(text, { skipUnsupported: true })
  t.same(
    report.records.map((r) => r.customerAddress),
    ['10.1.6.20', '10.1.6.21'],
  )
  t.same(
    report.skipped.map((s) => s.index),
    [1, 2, 3],
  )
  t.match(report.skipped[0]!.reason, 'IPv6')
  t.match(report.skipped[1]!.reason, 'wildcard')
  t.match(report.skipped[2]!.reason, 'TranslationMethodNone')
})

t.test('Rule by name (any case) or number, in both numberings', async (t) => {
  const base = { CustomerAddress: '10.1.6.21', VirtualSubnetID: 5001, ProviderAddress: '192.168.6.4', MACAddress: '00155D010621' }
  const cases: Array<[unknown, string]> = [
    [1, 'TranslationMethodEncap'],
    [36, 'TranslationMethodEncap'],
    ['1', 'TranslationMethodEncap'],
    ['translationmethodencap', 'TranslationMethodEncap'],
    [undefined, 'TranslationMethodEncap'],
    [null, 'TranslationMethodEncap'],
  ]
  for (const [rule, expected] of cases) {
    t.equal(importLookupRecords({ ...base, Rule: rule })[0]!.rule, expected, `Rule ${JSON.stringify(rule)}`)
  }
  // HNV's Nat rule rewrites the CA to the PA without NVGRE and None translates nothing: neither tells nvlb how
  // to reach the VM through NVGRE, so both are refused with the reason (or skipped on request), never imported.
  const unsupported: Array<[unknown, string, RegExp]> = [
    [0, 'TranslationMethodNat', /address rewrite.*without NVGRE/],
    [35, 'TranslationMethodNat', /address rewrite.*without NVGRE/],
    ['TranslationMethodNat', 'TranslationMethodNat', /address rewrite.*without NVGRE/],
    ['translationmethodnat', 'TranslationMethodNat', /address rewrite.*without NVGRE/],
    [2, 'TranslationMethodNone', /no translation/],
    [37, 'TranslationMethodNone', /no translation/],
    ['TranslationMethodNone', 'TranslationMethodNone', /no translation/],
  ]
  for (const [rule, named, why] of unsupported) {
    const err = importError(() => importLookupRecords({ ...base, Rule: rule }))
    t.equal(err.code, ErrorCodes.INVALID_FIELD, `Rule ${rule} refused`)
    t.match(err.message, named, `Rule ${rule}: the message names the rule`)
    t.match(err.message, why, `Rule ${rule}: the message says why`)
    const report = importLookupRecordsReport({ ...base, Rule: rule }, { skipUnsupported: true })
    t.same(report.records, [], `Rule ${rule} skipped`)
    t.match(report.skipped[0]!.reason, why)
  }
  for (const bad of [5, 'Encap', true, {}]) {
    const err = importError(() => importLookupRecords([base, { ...base, Rule: bad }]))
    t.equal(err.code, ErrorCodes.INVALID_FIELD)
    t.equal(err.field, '[1].Rule', `Rule ${JSON.stringify(bad)} names its field`)
  }
})

t.test('bad records name the record index and the PowerShell property', async (t) => {
  const good = { CustomerAddress: '10.1.6.21', VirtualSubnetID: 5001, ProviderAddress: '192.168.6.4', MACAddress: '00-15-5D-01-06-21' }
  const cases: Array<[string, unknown, string, string | undefined]> = [
    ['CA missing', [good, { ...good, CustomerAddress: undefined }], ErrorCodes.INVALID_FIELD, '[1].CustomerAddress'],
    ['CA empty', [good, { ...good, CustomerAddress: '' }], ErrorCodes.INVALID_FIELD, '[1].CustomerAddress'],
    ['CA not IPv4', [{ ...good, CustomerAddress: '10.1.6.256' }], ErrorCodes.BAD_ADDRESS, '[0].CustomerAddress'],
    ['PA not IPv4', [good, good, { ...good, ProviderAddress: 'host1' }], ErrorCodes.BAD_ADDRESS, '[2].ProviderAddress'],
    ['VSID missing', [{ ...good, VirtualSubnetID: undefined }], ErrorCodes.INVALID_FIELD, '[0].VirtualSubnetID'],
    ['VSID below range', [{ ...good, VirtualSubnetID: 100 }], ErrorCodes.VSID_RANGE, '[0].VirtualSubnetID'],
    ['VSID 16777215', [{ ...good, VirtualSubnetID: 16777215 }], ErrorCodes.VSID_RANGE, '[0].VirtualSubnetID'],
    ['VSID fractional', [{ ...good, VirtualSubnetID: 5001.5 }], ErrorCodes.INVALID_FIELD, '[0].VirtualSubnetID'],
    ['MAC bad', [good, good, good, { ...good, MACAddress: '00155D0106' }], ErrorCodes.BAD_MAC, '[3].MACAddress'],
    ['MAC a number', [{ ...good, MACAddress: 155 }], ErrorCodes.INVALID_FIELD, '[0].MACAddress'],
    ['CustomerID a number', [{ ...good, CustomerID: 7 }], ErrorCodes.INVALID_FIELD, '[0].CustomerID'],
    ['record a string', [good, 'record'], ErrorCodes.BAD_REQUEST, '[1]'],
    ['not JSON', '{"CustomerAddress": ', ErrorCodes.BAD_REQUEST, undefined],
    ['a number', 42, ErrorCodes.BAD_REQUEST, undefined],
  ]
  for (const [name, input, code, field] of cases) {
    const err = importError(() => importLookupRecords(input))
    t.equal(err.code, code, `${name}: code`)
    t.equal(err.field, field, `${name}: field`)
  }
  t.match(importError(() => importLookupRecords([good, { ...good, MACAddress: 'x' }])).message, /record 1: MACAddress 'x'/)
})

t.test('numeric strings for VirtualSubnetID, spaces around values, property names in any case', async (t) => {
  const records = importLookupRecords({
    customeraddress: ' 10.1.6.21 ',
    virtualSubnetId: '5001',
    PROVIDERADDRESS: '192.168.6.4',
    macAddress: '00:15:5D:01:06:21',
    customerId: 'blue',
    rule: 'TranslationMethodEncap',
  })
  t.same(records, [
    {
      customerAddress: '10.1.6.21',
      virtualSubnetId: 5001,
      providerAddress: '192.168.6.4',
      macAddress: '00:15:5d:01:06:21',
      customerId: 'blue',
      rule: 'TranslationMethodEncap',
    },
  ])
})

t.test("nvlb's own lookup records import unchanged", async (t) => {
  const own = validateConfig(referenceConfig()).lookupRecords
  t.same(importLookupRecords(JSON.parse(JSON.stringify(own))), own)
})

t.test('an empty CustomerID is left out', async (t) => {
  const [record] = importLookupRecords({ CustomerAddress: '10.1.6.21', VirtualSubnetID: 5001, ProviderAddress: '192.168.6.4', MACAddress: '00155D010621', CustomerID: '' })
  t.notOk('customerId' in record!)
})

t.test('mergeLookupRecords replaces records with the same (VSID, CA) and appends the rest', async (t) => {
  const draft = validateConfig(referenceConfig()) as any
  const imported = importLookupRecords(fixture('blue-host1-value-count.ps51.json'))
  imported.push({ customerAddress: '10.1.6.40', virtualSubnetId: 5001, providerAddress: '192.168.6.4', macAddress: '00:15:5d:01:06:40', customerId: 'blue' })
  imported[0]!.customerId = 'blue'
  imported[1]!.customerId = 'blue'
  imported[1]!.providerAddress = '192.168.6.7'
  const before = draft.lookupRecords.length
  const counts = mergeLookupRecords(draft, imported)
  t.same(counts, { added: 1, replaced: 2 })
  t.equal(draft.lookupRecords.length, before + 1)
  t.equal(draft.lookupRecords[2].providerAddress, '192.168.6.7', 'replaced in place')
  t.equal(draft.lookupRecords[before].customerAddress, '10.1.6.40')
  t.doesNotThrow(() => validateConfig(draft))
})

t.test('an import that duplicates itself fails whole-document validation with the record named', async (t) => {
  const records = importLookupRecords(fixture('blue-red-lookup-records.ps51.json'))
  const doc = referenceConfig()
  doc.lookupRecords = [...records, records[4]]
  for (const route of doc.customerRoutes) route.customerId = route.customerId === 'blue' ? BLUE : RED
  const err = importError(() => validateConfig(doc))
  t.equal(err.code, ErrorCodes.DUPLICATE_NAME)
  t.equal(err.field, 'lookupRecords[14].customerAddress')
})
