/** "Which backend gets this flow?": POST /v1/simulate as a form; nothing is sent, no flow is created. */
import { ApiError, describeError, request } from './api.js'
import { h, notice, replace } from './dom.js'
import { clearErrors, field, showFieldError } from './fields.js'
import type { Page } from './page.js'

interface Result {
  matched: boolean
  reason: string
  vip?: { name: string; address: string; virtualSubnetId: number; natMode: string }
  rule?: { protocol: string; frontendPort: number; backendPort: number; pool: string; distribution: string }
  backend?: { name: string; virtualSubnetId: number; address: string; port: number; providerAddress: string; macAddress: string }
  hash?: number
  slot?: number
}

export const simulatePage: Page = (main) => {
  const protocol = h('select', {}, h('option', { value: 'tcp' }, 'tcp'), h('option', { value: 'udp' }, 'udp'))
  const fields = [
    field('virtualSubnetId', 'VSID', h('input', { type: 'number', value: 0 }), '0 for a client on the Internet'),
    field('protocol', 'protocol', protocol),
    field('source', 'source address', h('input', { type: 'text', value: '198.51.100.10' })),
    field('sourcePort', 'source port', h('input', { type: 'number', value: 40000 })),
    field('destination', 'destination (VIP)', h('input', { type: 'text', value: '203.0.113.10' })),
    field('destinationPort', 'destination port', h('input', { type: 'number', value: 80 })),
  ]
  const result = h('div', { id: 'simulate-result' })
  const form = h('form', { class: 'card', id: 'simulate-form' }, fields.map((f) => f.row), h('button', { type: 'submit' }, 'Which backend?'), result)
  replace(main, h('h1', {}, 'Simulate'), h('p', { class: 'muted' }, 'Which VIP rule and backend would take this flow, and why.'), form)

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    clearErrors(fields)
    const v = (name: string) => fields.find((f) => f.name === name)!.input.value.trim()
    const flow = {
      virtualSubnetId: Number(v('virtualSubnetId')),
      protocol: v('protocol'),
      source: v('source'),
      sourcePort: Number(v('sourcePort')),
      destination: v('destination'),
      destinationPort: Number(v('destinationPort')),
    }
    try {
      const { body: r } = await request<Result>('POST', '/v1/simulate', { body: flow })
      if (!r.matched || r.backend === undefined) {
        replace(result, notice('info', `No backend: ${r.reason}`))
        return
      }
      replace(
        result,
        h(
          'dl',
          { class: 'result' },
          h('dt', {}, 'VIP'),
          h('dd', {}, `${r.vip?.name} (${r.vip?.address}, VSID ${r.vip?.virtualSubnetId}, ${r.vip?.natMode})`),
          h('dt', {}, 'rule'),
          h('dd', {}, `${r.rule?.protocol} ${r.rule?.frontendPort} → ${r.rule?.backendPort}, pool ${r.rule?.pool}, ${r.rule?.distribution}`),
          h('dt', {}, 'backend'),
          h('dd', { id: 'simulated-backend' }, `${r.backend.virtualSubnetId}/${r.backend.address}:${r.backend.port}`),
          h('dt', {}, 'its host'),
          h('dd', {}, `${r.backend.providerAddress} (VM MAC ${r.backend.macAddress})`),
          r.hash === undefined ? null : h('dt', {}, 'flow hash, table slot'),
          r.hash === undefined ? null : h('dd', {}, `${r.hash >>> 0}, ${r.slot}`),
          h('dt', {}, 'why'),
          h('dd', {}, r.reason),
        ),
      )
    } catch (err) {
      const placed = err instanceof ApiError && showFieldError(fields, err.field, err.message)
      replace(result, notice('error', placed ? 'See the field marked above.' : describeError(err)))
    }
  })
  return () => undefined
}
