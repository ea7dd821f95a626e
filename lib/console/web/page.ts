/** What every page gives the router: it draws into `main` and returns how to stop its updates. */
export type Page = (main: HTMLElement, param: string | undefined) => Stop | Promise<Stop>
export type Stop = () => void

/** The banner under the header: the configuration changed under a page holding an ETag. */
export function showBanner(text: string | undefined, action?: { label: string; run: () => void }): void {
  const banner = document.getElementById('banner')!
  banner.textContent = ''
  banner.hidden = text === undefined
  if (text === undefined) return
  const p = document.createElement('span')
  p.textContent = text
  banner.appendChild(p)
  if (action !== undefined) {
    const b = document.createElement('button')
    b.type = 'button'
    b.textContent = action.label
    b.addEventListener('click', action.run)
    banner.appendChild(b)
  }
}
