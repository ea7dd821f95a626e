/**
 * The build blanks tsc's `exports.a = … = void 0;` statements (scripts/strip-export-prelude.ts):
 * each module of lib/ is transpiled here as tsc builds it; what the step changes is exactly
 * those statements, every one of them, and the line count stays (source maps).
 */
import t from 'tap'
import { relative } from 'node:path'
import ts from 'typescript'
import { stripExportPrelude } from '../../scripts/strip-export-prelude'
import { emittedLibModules, ROOT } from '../helpers/lib-modules'

t.test('every export prelude of lib/ is blanked, and nothing else changes', async (t) => {
  const modules = emittedLibModules()
  let blanked = 0
  const offenders: string[] = []
  for (const { file, code: outputText } of modules) {
    const before = outputText.split('\n')
    const after = stripExportPrelude(outputText).split('\n')
    if (after.length !== before.length) {
      offenders.push(`${relative(ROOT, file)}: ${before.length} lines became ${after.length}`)
      continue
    }
    for (let i = 0; i < before.length; i++) {
      if (after[i] === before[i]) {
        if (/= void 0;$/.test(before[i]!) && /^exports\./.test(before[i]!)) offenders.push(`${relative(ROOT, file)}:${i + 1}: left ${before[i]}`)
        continue
      }
      if (after[i] !== '' || !/^exports\.\S+ = (?:exports\.\S+ = )*void 0;$/.test(before[i]!)) offenders.push(`${relative(ROOT, file)}:${i + 1}: ${before[i]} -> ${after[i]}`)
      else blanked++
    }
  }
  t.same(offenders, [])
  t.ok(blanked > 50, `${blanked} preludes blanked in ${modules.length} modules`)
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
