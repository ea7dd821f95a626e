/** Every CommonJS module of lib/ as tsc emits it (for tests of the emitted code). */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'

export const ROOT = join(__dirname, '..', '..')

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

/** Each module of lib/ (its path) with the code tsc emits for it under the project's tsconfig. */
export function emittedLibModules(): { file: string; code: string }[] {
  const options = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')).compilerOptions as Record<string, unknown>
  const { options: compilerOptions } = ts.convertCompilerOptionsFromJson(options, ROOT)
  return sources(join(ROOT, 'lib')).map((file) => ({ file, code: ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file }).outputText }))
}
