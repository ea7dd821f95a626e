/**
 * The repository's documentation stands on its own and stays true:
 * - the generated parts of docs/ (configuration reference from the schema, OpenAPI
 *   document, route table, CLI reference) match the code;
 * - nothing a user reads refers to design notes outside the repository;
 * - every relative link in README.md and docs/ resolves to a file inside the repository.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { generatedFiles, ROOT } from '../../scripts/gen-docs'

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) filesUnder(path, out)
    else out.push(path)
  }
  return out
}

t.test('the generated parts of docs/ are current (npx tsx scripts/gen-docs.ts rewrites them)', async (t) => {
  for (const [path, expected] of await generatedFiles()) {
    const current = existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), 'utf8') : ''
    t.ok(current === expected, `${path} matches what scripts/gen-docs.ts generates`)
  }
})

t.test('nothing a user reads refers to DESIGN.md or its sections', async (t) => {
  const places = ['lib', 'bin', 'bench', 'examples', 'docs', 'scripts'].flatMap((d) => filesUnder(join(ROOT, d)))
  places.push(join(ROOT, 'README.md'))
  const hits: string[] = []
  for (const file of places) {
    if (!/\.(ts|md|json|service|txt)$/.test(file)) continue
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/DESIGN/.test(line)) hits.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`)
      })
  }
  t.same(hits, [], 'no line mentions DESIGN')
})

t.test('every relative link in README.md and docs/ resolves inside the repository', async (t) => {
  const pages = [join(ROOT, 'README.md'), ...filesUnder(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'))]
  let links = 0
  for (const page of pages) {
    const text = readFileSync(page, 'utf8').replace(/```[\s\S]*?```/g, '')
    for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue
      links++
      const path = resolve(dirname(page), decodeURIComponent(target.split('#')[0]!))
      const where = `${relative(ROOT, page)} → ${target}`
      t.ok(path === ROOT || path.startsWith(ROOT + '/'), `${where} stays inside the repository`)
      t.ok(existsSync(path), `${where} exists`)
    }
  }
  t.ok(links >= 10, `${links} relative links checked`)
})

t.test('the configuration examples in docs/ are valid documents', async (t) => {
  const { validateConfig } = await import('../../lib/control/config-validate')
  let documents = 0
  for (const page of ['docs/configuration.md', 'docs/deployment.md']) {
    const text = readFileSync(join(ROOT, page), 'utf8')
    for (const m of text.matchAll(/```json\n([\s\S]*?)\n```/g)) {
      const doc = JSON.parse(m[1]!) as Record<string, unknown>
      if (doc.node === undefined) continue
      documents++
      t.doesNotThrow(() => validateConfig(doc), `${page}: the example document is valid`)
    }
  }
  t.ok(documents >= 1, `${documents} example documents checked`)
  t.doesNotThrow(() => validateConfig(JSON.parse(readFileSync(join(ROOT, 'examples/blue-red/config.json'), 'utf8'))))
})
