/**
 * Build step (`npm run build`, after tsc): blanks the `exports.a = exports.b = void 0;`
 * statements tsc writes at the top of every CommonJS module, in every .js file under the
 * given directory (default: dist/).
 *
 * V8 treats a property that has been stored once as a constant: optimized code that reads
 * `ipv4_1.IPPROTO_TCP` or the flow table's own `exports.NO_ENTRY` embeds the value. tsc
 * stores `undefined` into every exported variable first, so every exported constant is
 * stored twice and each of its uses on the packet path is a load, a type check and
 * sometimes a conversion instead (bench pipeline-compare, 3 runs each: known flow best 4.26 -> 4.76 Mpps, return 3.81 -> 4.54).
 * The statement only makes the names exist while the module is loading; a module that
 * reads one of them then (an import cycle) gets undefined either way. The line is kept,
 * empty, so that the source maps still point at the right lines.
 *
 *   node dist/scripts/strip-export-prelude.js [DIR]
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const PRELUDE = /^exports\.[A-Za-z_$][\w$]*(?: = exports\.[A-Za-z_$][\w$]*)* = void 0;$/gm

/** The module's code without its export prelude (each such line left empty). */
export function stripExportPrelude(code: string): string {
  return code.replace(PRELUDE, '')
}

function walk(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith('.js')) {
      const code = readFileSync(path, 'utf8')
      const stripped = stripExportPrelude(code)
      if (stripped !== code) writeFileSync(path, stripped)
    }
  }
}

if (require.main === module) {
  const dir = process.argv[2] ?? join(__dirname, '..')
  walk(dir)
}
