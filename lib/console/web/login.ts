/** The login page: the API token in, a session cookie out (set by the server, invisible to this code). */
import { ApiError, describeError, request, setCsrfToken } from './api.js'
import { h, notice, replace } from './dom.js'

export interface SessionInfo {
  authenticated: boolean
  via: 'session' | 'bearer'
  expires?: string
  csrfToken?: string
}

export function renderLogin(main: HTMLElement, onLoggedIn: (s: SessionInfo) => void, message?: string): void {
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, autofocus: true })
  const status = h('div', { id: 'login-status' }, message === undefined ? null : notice('info', message))
  const button = h('button', { type: 'submit', id: 'login-button' }, 'Log in')
  const form = h(
    'form',
    { id: 'login', class: 'card narrow' },
    h('h1', {}, 'nvlb console'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { class: 'muted small' }, 'The token nvlb prints at start-up (NVLB_TOKEN, or the file "token" in its state directory).'),
    button,
    status,
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    button.disabled = true
    replace(status)
    try {
      const { body } = await request<SessionInfo>('POST', '/v1/session', { body: { token: input.value }, quiet401: true })
      setCsrfToken(body.csrfToken)
      onLoggedIn(body)
    } catch (err) {
      const text =
        err instanceof ApiError && err.status === 401 ? `${err.message[0]!.toUpperCase()}${err.message.slice(1)}.` : describeError(err)
      replace(status, notice('error', text))
      input.select()
    } finally {
      button.disabled = false
    }
  })
  replace(main, form)
  input.focus()
}
