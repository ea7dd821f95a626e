/**
 * The build blanks tsc's `exports.a = … = void 0;` statements (scripts/strip-export-prelude.ts):
 * each module of lib/ is transpiled here as tsc builds it; what the step changes is exactly
 * those statements, every one of them, and the line count stays (source maps).
 */
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { stripExportPrelude } from '../../scripts/strip-export-prelude'

const root = join(__dirname, '..', '..')

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (name !== 'web') out.push(...sources(path))
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
      out.push(path)
    }
  }
  return out
}

t.test('every export prelude of lib/ is blanked, and nothing else changes', async (t) => {
  const options = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')).compilerOptions as Record<string, unknown>
  const { options: compilerOptions } = ts.convertCompilerOptionsFromJson(options, root)
  const files = sources(join(root, 'lib'))
  let blanked = 0
  const offenders: string[] = []
  for (const file of files) {
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file })
    const before = outputText.split('\n')
    const after = stripExportPrelude(outputText).split('\n')
    if (after.length !== before.length) {
      offenders.push(`${relative(root, file)}: ${before.length} lines became ${after.length}`)
      continue
    }
    for (let i = 0; i < before.length; i++) {
      if (after[i] === before[i]) {
        if (/= void 0;$/.test(before[i]!) && /^exports\./.test(before[i]!)) offenders.push(`${relative(root, file)}:${i + 1}: left ${before[i]}`)
        continue
      }
      if (after[i] !== '' || !/^exports\.\S+ = (?:exports\.\S+ = )*void 0;$/.test(before[i]!)) offenders.push(`${relative(root, file)}:${i + 1}: ${before[i]} -> ${after[i]}`)
      else blanked++
    }
  }
  t.same(offenders, [])
  t.ok(blanked > 50, `${blanked} preludes blanked in ${files.length} modules`)
})

t.test('a module without its prelude exports the same values', async (t) => {
  const source = 'export const A = 14\nexport let b = A + 1\nexport function f() { return b }\nexport class K {}\nexport const C = { x: 1 }\n'
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } })
  t.match(outputText, /^exports\.\S+ = .*void 0;$/m, 'tsc writes a prelude')
  const load = (code: string): Record<string, unknown> => {
    const exports: Record<string, unknown> = {}
    new Function('exports', code)(exports)
    return exports
  }
  const plain = load(outputText)
  const stripped = load(stripExportPrelude(outputText))
  t.same(Object.keys(stripped).sort(), Object.keys(plain).sort())
  t.equal(stripped.A, 14)
  t.equal(stripped.b, 15)
  t.equal((stripped.f as () => number)(), 15)
  t.same(stripped.C, { x: 1 })
})
