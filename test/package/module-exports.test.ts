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
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'

const root = join(__dirname, '..', '..')

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (name !== 'web') out.push(...sources(path)) // the console's browser code is not CommonJS
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
      out.push(path)
    }
  }
  return out
}

t.test('tsc emits no exports accessor for any module of lib/', async (t) => {
  const options = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')).compilerOptions as Record<string, unknown>
  const { options: compilerOptions } = ts.convertCompilerOptionsFromJson(options, root)
  const files = sources(join(root, 'lib'))
  t.ok(files.length > 50, `${files.length} modules checked`)
  const offenders: string[] = []
  for (const file of files) {
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file })
    const accessors = [...outputText.matchAll(/Object\.defineProperty\(exports, "([^"]+)", \{ enumerable: true, get:/g)].map((m) => m[1])
    if (accessors.length > 0) offenders.push(`${relative(root, file)}: ${accessors.join(', ')}`)
  }
  t.same(offenders, [], 'import each binding from the module that defines it instead of re-exporting it')
})

t.test('the check sees a re-export when there is one', async (t) => {
  const { outputText } = ts.transpileModule("import { a } from './a'\nexport { a }\nexport const b = 1\n", { compilerOptions: { module: ts.ModuleKind.CommonJS } })
  t.match(outputText, /Object\.defineProperty\(exports, "a", \{ enumerable: true, get:/)
})
