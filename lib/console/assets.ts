/**
 * Where the built console is: `dist/lib/console/web` (the browser code
 * compiled from lib/console/web by `npm run build`, with its HTML and CSS).
 * Running from the sources (tsx), that is the build output of the same checkout.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export function consoleAssetsDir(): string {
  const here = join(__dirname, 'web')
  if (existsSync(join(here, 'app.js'))) return here
  return join(__dirname, '..', '..', 'dist', 'lib', 'console', 'web')
}
