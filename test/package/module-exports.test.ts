/**
 * No module of lib/ re-exports a binding. tsc turns a re-export into an
 * accessor on the CommonJS exports object (`Object.defineProperty(exports,
 * "X", { get })`) after the `exports.X = void 0` it writes first, which puts
 * that object into V8's dictionary mode: every use of the module's own
 * exported consts (the engine's `Verdict.TX`, `Side.PROVIDER`) then becomes
 * a generic property load, which cost the packet path 5–8 % of its time.
 * Each module is transpiled here as tsc builds it, and the emitted code is
 * checked for such accessors.
 */
import t from 'tap'
import { relative } from 'node:path'
import ts from 'typescript'
import { emittedLibModules, ROOT } from '../helpers/lib-modules'

t.test('tsc emits no exports accessor for any module of lib/', async (t) => {
  const modules = emittedLibModules()
  t.ok(modules.length > 50, `${modules.length} modules checked`)
  const offenders: string[] = []
  for (const { file, code: outputText } of modules) {
    const accessors = [...outputText.matchAll(/Object\.defineProperty\(exports, "([^"]+)", \{ enumerable: true, get:/g)].map((m) => m[1])
    if (accessors.length > 0) offenders.push(`${relative(ROOT, file)}: ${accessors.join(', ')}`)
  }
  t.same(offenders, [], 'import each binding from the module that defines it instead of re-exporting it')
})

t.test('the check sees a re-export when there is one', async (t) => {
  const { outputText } = ts.transpileModule("import { a } from './a'\nexport { a }\nexport const b = 1\n", { compilerOptions: { module: ts.ModuleKind.CommonJS } })
  t.match(outputText, /Object\.defineProperty\(exports, "a", \{ enumerable: true, get:/)
})
