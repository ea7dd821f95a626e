/** Form fields with their error shown next to them (the API names the field at fault). */
import { h, replace } from './dom.js'

export interface Field {
  name: string
  input: HTMLInputElement | HTMLSelectElement
  error: HTMLElement
  row: HTMLElement
}

export function field(name: string, label: string, input: HTMLInputElement | HTMLSelectElement, hint?: string): Field {
  input.id = `f-${name}`
  input.name = name
  const error = h('span', { class: 'field-error', id: `e-${name}`, role: 'alert' })
  const row = h('div', { class: 'field', 'data-field': name }, h('label', { for: input.id }, label), input, hint === undefined ? null : h('span', { class: 'muted small' }, hint), error)
  return { name, input, error, row }
}

export function clearErrors(fields: Field[]): void {
  for (const f of fields) {
    replace(f.error)
    f.row.classList.remove('invalid')
  }
}

/** Puts `message` next to the field the API named (`node.providerAddress` → providerAddress); false when none matches. */
export function showFieldError(fields: Field[], apiField: string | undefined, message: string): boolean {
  if (apiField === undefined) return false
  const last = apiField.split('.').pop()!.replace(/\[\d+\]$/, '')
  const f = fields.find((x) => x.name === last || apiField === x.name)
  if (f === undefined) return false
  f.row.classList.add('invalid')
  // The API's message starts with the field's path; next to the field that is said already.
  replace(f.error, message.startsWith(`${apiField}: `) ? message.slice(apiField.length + 2) : message)
  return true
}
