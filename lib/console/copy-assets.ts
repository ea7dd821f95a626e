/**
 * Build step (`npm run build`): copies the console's HTML and CSS next to the
 * browser code that tsc compiled into dist/lib/console/web.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const source = join(__dirname, '..', '..', '..', 'lib', 'console', 'web')
const target = join(__dirname, 'web')
mkdirSync(target, { recursive: true })
for (const name of readdirSync(source)) {
  if (/\.(html|css|svg|png)$/.test(name)) copyFileSync(join(source, name), join(target, name))
}
