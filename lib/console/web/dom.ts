/** A few lines instead of a framework: build elements, replace a node's children. */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value)
    // Through the CSSOM: the console's Content-Security-Policy forbids style attributes.
    else if (key === 'style') el.style.cssText = String(value)
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  append(el, children)
  return el
}

function append(el: Node, children: Array<Child | Child[]>): void {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child)
    else if (child === null || child === undefined || child === false) continue
    else el.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child)
  }
}

export function replace(el: Element, ...children: Array<Child | Child[]>): void {
  el.textContent = ''
  append(el, children)
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '–'
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** A message box: 'error' messages stay until replaced. */
export function notice(kind: 'error' | 'ok' | 'info', text: string): HTMLElement {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text)
}
