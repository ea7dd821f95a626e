/**
 * HNV policy: lookup records and customer routes, filtered by tenant, and the
 * import of a PowerShell `Get-NetVirtualizationLookupRecord | ConvertTo-Json`
 * export chosen as a file.
 */
import { describeError, get, request } from './api.js'
import { fmt, h, notice, replace } from './dom.js'
import type { Page } from './page.js'
import { tenantsByVsid } from './tenants.js'
import type { CustomerRoute, LookupRecord } from './types.js'

interface ImportResult {
  added: number
  updated: number
  unchanged: number
  removed?: number
  skipped?: Array<{ index: number; reason: string }>
  total: number
  generation: number
}

const ALL = ''

export const policyPage: Page = (main) => {
  let records: LookupRecord[] = []
  let routes: CustomerRoute[] = []
  let tenants = new Map<number, string>()
  const tenantSelect = h('select', { id: 'tenant-filter', 'aria-label': 'tenant' })
  const textFilter = h('input', { type: 'search', id: 'text-filter', placeholder: 'VSID or address', 'aria-label': 'filter' })
  const status = h('div', {})
  const recordsBox = h('div', { id: 'lookup-records' })
  const routesBox = h('div', { id: 'customer-routes' })
  const file = h('input', { type: 'file', id: 'import-file', accept: '.json,application/json' })
  const mode = h('select', { id: 'import-mode' }, h('option', { value: 'merge' }, 'merge (add and replace by VSID and CA)'), h('option', { value: 'replace' }, 'replace all lookup records'))
  const skip = h('input', { type: 'checkbox', id: 'import-skip' })
  const importButton = h('button', { type: 'submit', id: 'import-button' }, 'Import')
  const importResult = h('div', { id: 'import-result' })
  const importForm = h(
    'form',
    { class: 'card', id: 'import' },
    h('h2', {}, 'Import from PowerShell'),
    h('p', { class: 'muted small' }, 'On the Hyper-V host: Get-NetVirtualizationLookupRecord | ConvertTo-Json > records.json'),
    h('label', { for: 'import-file' }, 'export file'),
    file,
    h('label', { for: 'import-mode' }, 'mode'),
    mode,
    h('label', { class: 'check' }, skip, ' leave out records nvlb cannot use (IPv6, wildcard, TranslationMethodNone) instead of refusing the file'),
    importButton,
    importResult,
  )
  replace(
    main,
    h('h1', {}, 'HNV policy'),
    status,
    h('div', { class: 'filters' }, h('label', { for: 'tenant-filter' }, 'tenant '), tenantSelect, ' ', textFilter),
    h('section', { class: 'card' }, h('h2', {}, 'Lookup records'), recordsBox),
    h('section', { class: 'card' }, h('h2', {}, 'Customer routes'), routesBox),
    importForm,
  )

  const tenantOf = (vsid: number, customerId?: string) => customerId || tenants.get(vsid) || ''

  const draw = () => {
    const want = tenantSelect.value
    const text = textFilter.value.trim()
    const match = (vsid: number, customerId: string | undefined, ...fields: string[]) =>
      (want === ALL || tenantOf(vsid, customerId) === want) &&
      (text === '' || String(vsid).includes(text) || fields.some((f) => f.includes(text)))
    const rs = records.filter((r) => match(r.virtualSubnetId, r.customerId, r.customerAddress, r.providerAddress, r.macAddress))
    replace(
      recordsBox,
      h('p', { class: 'muted small count' }, `${fmt(rs.length)} of ${fmt(records.length)} records`),
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, ...['tenant', 'VSID', 'customer address', 'provider address', 'MAC', 'rule'].map((c) => h('th', {}, c)))),
        h(
          'tbody',
          {},
          rs.slice(0, 1000).map((r) =>
            h(
              'tr',
              { 'data-record': `${r.virtualSubnetId}/${r.customerAddress}` },
              h('td', {}, tenantOf(r.virtualSubnetId, r.customerId) || '–'),
              h('td', {}, String(r.virtualSubnetId)),
              h('td', {}, r.customerAddress),
              h('td', {}, r.providerAddress),
              h('td', {}, r.macAddress),
              h('td', {}, r.rule ?? 'TranslationMethodEncap'),
            ),
          ),
        ),
      ),
      rs.length > 1000 ? h('p', { class: 'muted small' }, 'The first 1000 are shown; narrow the filter to see others.') : null,
    )
    const cs = routes.filter((r) => match(r.virtualSubnetId, r.customerId, r.destinationPrefix, r.nextHop))
    replace(
      routesBox,
      h('p', { class: 'muted small count' }, `${fmt(cs.length)} of ${fmt(routes.length)} routes`),
      h(
        'table',
        { class: 'grid' },
        h('thead', {}, h('tr', {}, ...['tenant', 'VSID', 'destination', 'next hop', 'metric'].map((c) => h('th', {}, c)))),
        h(
          'tbody',
          {},
          cs.map((r) =>
            h('tr', {}, h('td', {}, r.customerId), h('td', {}, String(r.virtualSubnetId)), h('td', {}, r.destinationPrefix), h('td', {}, r.nextHop), h('td', {}, String(r.metric ?? 0))),
          ),
        ),
      ),
    )
  }

  const load = async () => {
    try {
      const [r, c] = await Promise.all([get<LookupRecord[]>('/v1/policy/lookup-records'), get<CustomerRoute[]>('/v1/policy/customer-routes')])
      records = r.body
      routes = c.body
      tenants = tenantsByVsid(records, routes)
      const names = [...new Set([...records.map((x) => tenantOf(x.virtualSubnetId, x.customerId)), ...routes.map((x) => x.customerId)])].filter((x) => x !== '').sort()
      const keep = tenantSelect.value
      replace(tenantSelect, h('option', { value: ALL }, 'all tenants'), names.map((n) => h('option', { value: n }, n)))
      tenantSelect.value = names.includes(keep) ? keep : ALL
      replace(status)
    } catch (err) {
      replace(status, notice('error', describeError(err)))
    }
    draw()
  }

  tenantSelect.addEventListener('change', draw)
  textFilter.addEventListener('input', draw)
  importForm.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const chosen = file.files?.[0]
    if (chosen === undefined) {
      replace(importResult, notice('error', 'Choose the JSON file PowerShell wrote first.'))
      return
    }
    importButton.disabled = true
    replace(importResult, notice('info', `Importing ${chosen.name}…`))
    try {
      const text = await chosen.text()
      const query = `mode=${mode.value}${skip.checked ? '&skipUnsupported=true' : ''}`
      const { body: r } = await request<ImportResult>('POST', `/v1/policy/import?${query}`, { rawBody: text })
      const skipped = r.skipped ?? []
      replace(
        importResult,
        notice(
          'ok',
          `Imported ${chosen.name}: ${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged` +
            (mode.value === 'replace' ? `, ${r.removed ?? 0} removed` : '') +
            `; ${r.total} lookup records now (configuration generation ${r.generation}).`,
        ),
        skipped.length === 0 ? null : h('ul', { class: 'skipped' }, skipped.map((s) => h('li', {}, `record ${s.index} left out: ${s.reason}`))),
      )
      await load()
    } catch (err) {
      replace(importResult, notice('error', `${chosen.name} was not imported, nothing changed: ${describeError(err)}`))
    } finally {
      importButton.disabled = false
    }
  })

  void load()
  return () => undefined
}
