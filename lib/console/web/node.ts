/**
 * Node: nvlb's PA assignment (provider address, MAC, MTU) and external
 * address, changed through PUT /v1/config with If-Match. A refused change
 * keeps what was typed and shows the reason next to the field.
 */
import { ApiError, describeError, request } from './api.js'
import { h, notice, replace } from './dom.js'
import { clearErrors, field, showFieldError, type Field } from './fields.js'
import type { Page } from './page.js'
import type { Config } from './types.js'

const FIELDS: Array<{ name: string; label: string; numeric?: boolean; hint?: string }> = [
  { name: 'providerAddress', label: 'provider address (PA)', hint: 'nvlb’s address on the provider network' },
  { name: 'providerMac', label: 'provider MAC' },
  { name: 'providerMtu', label: 'provider MTU', numeric: true, hint: 'inner packets up to MTU − 42 bytes' },
  { name: 'externalAddress', label: 'external address', hint: 'the public side; needed for public VIPs' },
  { name: 'externalMac', label: 'external MAC' },
  { name: 'gatewayMac', label: 'gateway MAC', hint: 'the MAC tenant VMs see for their gateway' },
]

export const nodePage: Page = (main) => {
  let config: Config | undefined
  let etag: string | undefined
  /** The values as loaded, to tell the operator's edits from the server's values on reload. */
  let loaded: Record<string, string> = {}
  const fields: Field[] = FIELDS.map((f) =>
    field(f.name, f.label, h('input', { type: f.numeric ? 'number' : 'text', autocomplete: 'off', spellcheck: 'false' }), f.hint),
  )
  const status = h('div', { id: 'node-status' })
  const save = h('button', { type: 'submit', id: 'node-save' }, 'Save')
  const form = h('form', { class: 'card', id: 'node-form' }, fields.map((f) => f.row), save, status)
  replace(main, h('h1', {}, 'Node'), h('p', { class: 'muted' }, 'Provider address assignment and the external side of this instance.'), form)

  const load = async (keepEdits: boolean) => {
    try {
      const res = await request<Config>('GET', '/v1/config')
      config = res.body
      etag = res.etag
      const fresh: Record<string, string> = {}
      for (const f of fields) {
        const v = config.node[f.name]
        fresh[f.name] = v === undefined || v === null ? '' : String(v)
        const edited = keepEdits && f.input.value !== loaded[f.name]
        if (!edited) f.input.value = fresh[f.name]!
      }
      loaded = fresh
    } catch (err) {
      replace(status, notice('error', describeError(err)))
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    if (config === undefined) return
    clearErrors(fields)
    const node: Record<string, unknown> = { ...config.node }
    for (const f of FIELDS) {
      const input = fields.find((x) => x.name === f.name)!.input
      const text = input.value.trim()
      if (text === '') delete node[f.name]
      else node[f.name] = f.numeric ? Number(text) : text
    }
    save.disabled = true
    replace(status, notice('info', 'Saving…'))
    try {
      const res = await request<Config>('PUT', '/v1/config', { body: { ...config, node }, ifMatch: etag })
      config = res.body
      etag = res.etag
      replace(status, notice('ok', `Saved (configuration generation ${(etag ?? '').replace(/\D/g, '')}).`))
      await load(false)
    } catch (err) {
      if (err instanceof ApiError && err.changedMeanwhile) {
        replace(
          status,
          notice('error', `Changed meanwhile, reload: ${describeError(err)} Your entries are kept.`),
          h('button', { type: 'button', id: 'node-reload', onclick: () => void load(true).then(() => replace(status, notice('info', 'Reloaded; your entries are kept. Save again.'))) }, 'Reload'),
        )
      } else {
        const text = describeError(err)
        const placed = err instanceof ApiError && showFieldError(fields, err.field, err.message)
        replace(status, notice('error', placed ? 'Not saved: see the field marked below. Nothing changed.' : `Not saved, nothing changed: ${text}`))
      }
    } finally {
      save.disabled = false
    }
  })

  void load(false)
  return () => undefined
}
