/**
 * Coverage instrumentation for the fuzzer (libFuzzer's inline 8-bit counters, done on the
 * TypeScript source): every function body, both arms of every `if` (an `if` without `else`
 * gets an empty one, so the branch not taken is an edge too), both arms of `?:`, the right
 * operand of `&&`, `||` and `??`, every `case` and every loop body increments its own
 * counter in one shared Uint8Array.
 *
 * The instrumented modules are loaded by a private module loader (`loadInstrumented`) that
 * transpiles each lib/ file itself, so they never mix with the copies that tests or tsx load;
 * npm packages and node built-ins come from the ordinary `require`.
 */
import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { runInThisContext } from 'node:vm'
import Module from 'node:module'
import ts from 'typescript'

/** Maximum number of instrumented sites; far more than lib/ has. */
export const MAX_SITES = 1 << 16

const GLOBAL_NAME = '__nvlbFuzzCoverage'
/** The counters: one byte per site, reset by the fuzzer before each input. */
export const counters: Uint8Array = ((globalThis as Record<string, unknown>)[GLOBAL_NAME] as Uint8Array | undefined) ?? new Uint8Array(MAX_SITES)
;(globalThis as Record<string, unknown>)[GLOBAL_NAME] = counters

const STEPS_NAME = '__nvlbFuzzSteps'
/**
 * [0]: loop iterations since the harness last reset it (libFuzzer's -timeout, counted instead of
 * timed): every instrumented loop body adds one and, while the harness has set [1] to 1 (around
 * process(), tick(), prefetch()), throws when STEP_LIMIT is passed, so an endless loop in the packet
 * path becomes an exception the fuzzer reports and minimises like any other.
 */
export const steps: Int32Array = ((globalThis as Record<string, unknown>)[STEPS_NAME] as Int32Array | undefined) ?? new Int32Array(2)
;(globalThis as Record<string, unknown>)[STEPS_NAME] = steps
/** Far above what any frame needs (checksums and copies of a 9216-byte frame, NAT port tries, ageing). */
export const STEP_LIMIT = 2_000_000
export const HANG_MESSAGE = 'loop iteration limit exceeded (an endless loop?)'

export interface Site {
  file: string
  line: number
}

/** What each counter stands for (file relative to the repository, 1-based line). */
export const sites: Site[] = []

export const REPO_ROOT = resolve(__dirname, '..')

function counterStatement(f: ts.NodeFactory, id: number): ts.Statement {
  return f.createExpressionStatement(counterExpression(f, id))
}

function counterExpression(f: ts.NodeFactory, id: number): ts.Expression {
  return f.createPostfixIncrement(f.createElementAccessExpression(f.createIdentifier(GLOBAL_NAME), f.createNumericLiteral(id)))
}

/** `if (++__nvlbFuzzSteps[0] > STEP_LIMIT && __nvlbFuzzSteps[1] === 1) throw new Error(HANG_MESSAGE)` (armed by the harness) */
function stepGuard(f: ts.NodeFactory): ts.Statement {
  const bump = f.createPrefixIncrement(f.createElementAccessExpression(f.createIdentifier(STEPS_NAME), f.createNumericLiteral(0)))
  const armed = f.createBinaryExpression(f.createElementAccessExpression(f.createIdentifier(STEPS_NAME), f.createNumericLiteral(1)), ts.SyntaxKind.EqualsEqualsEqualsToken, f.createNumericLiteral(1))
  return f.createIfStatement(
    f.createBinaryExpression(f.createBinaryExpression(bump, ts.SyntaxKind.GreaterThanToken, f.createNumericLiteral(STEP_LIMIT)), ts.SyntaxKind.AmpersandAmpersandToken, armed),
    f.createThrowStatement(f.createNewExpression(f.createIdentifier('Error'), undefined, [f.createStringLiteral(HANG_MESSAGE)])),
  )
}

function instrumenter(file: string, source: ts.SourceFile): ts.TransformerFactory<ts.SourceFile> {
  const rel = relative(REPO_ROOT, file)
  const site = (node: ts.Node): number => {
    const id = sites.length
    if (id >= MAX_SITES) throw new Error('fuzz instrumentation: too many sites')
    const pos = node.pos >= 0 && node.pos <= source.text.length ? source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 : 0
    sites.push({ file: rel, line: pos })
    return id
  }
  return (context) => {
    const f = context.factory
    const block = (stmt: ts.Statement | undefined, at: ts.Node, loop = false): ts.Block => {
      const id = site(at)
      const head = loop ? [counterStatement(f, id), stepGuard(f)] : [counterStatement(f, id)]
      if (stmt === undefined) return f.createBlock(head, true)
      const visited = ts.visitNode(stmt, visit) as ts.Statement
      if (ts.isBlock(visited)) return f.updateBlock(visited, [...head, ...visited.statements])
      return f.createBlock([...head, visited], true)
    }
    const withCounter = (expr: ts.Expression, at: ts.Node): ts.Expression => {
      const id = site(at)
      return f.createParenthesizedExpression(f.createComma(counterExpression(f, id), ts.visitNode(expr, visit) as ts.Expression))
    }
    const functionBody = (body: ts.ConciseBody | undefined, at: ts.Node): ts.ConciseBody | undefined => {
      if (body === undefined) return undefined
      if (ts.isBlock(body)) return block(body, at)
      return withCounter(body, at)
    }
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isIfStatement(node)) {
        return f.updateIfStatement(node, ts.visitNode(node.expression, visit) as ts.Expression, block(node.thenStatement, node.thenStatement), block(node.elseStatement, node.elseStatement ?? node))
      }
      if (ts.isConditionalExpression(node)) {
        return f.updateConditionalExpression(node, ts.visitNode(node.condition, visit) as ts.Expression, node.questionToken, withCounter(node.whenTrue, node.whenTrue), node.colonToken, withCounter(node.whenFalse, node.whenFalse))
      }
      if (ts.isBinaryExpression(node)) {
        const k = node.operatorToken.kind
        if (k === ts.SyntaxKind.AmpersandAmpersandToken || k === ts.SyntaxKind.BarBarToken || k === ts.SyntaxKind.QuestionQuestionToken) {
          return f.updateBinaryExpression(node, ts.visitNode(node.left, visit) as ts.Expression, node.operatorToken, withCounter(node.right, node.right))
        }
      }
      if (ts.isCaseClause(node)) {
        return f.updateCaseClause(node, ts.visitNode(node.expression, visit) as ts.Expression, [counterStatement(f, site(node)), ...ts.visitNodes(node.statements, visit, ts.isStatement)])
      }
      if (ts.isDefaultClause(node)) {
        return f.updateDefaultClause(node, [counterStatement(f, site(node)), ...ts.visitNodes(node.statements, visit, ts.isStatement)])
      }
      if (ts.isForStatement(node)) {
        return f.updateForStatement(node, ts.visitNode(node.initializer, visit) as ts.ForInitializer | undefined, ts.visitNode(node.condition, visit) as ts.Expression | undefined, ts.visitNode(node.incrementor, visit) as ts.Expression | undefined, block(node.statement, node.statement, true))
      }
      if (ts.isWhileStatement(node)) return f.updateWhileStatement(node, ts.visitNode(node.expression, visit) as ts.Expression, block(node.statement, node.statement, true))
      if (ts.isDoStatement(node)) return f.updateDoStatement(node, block(node.statement, node.statement, true), ts.visitNode(node.expression, visit) as ts.Expression)
      if (ts.isForOfStatement(node)) {
        return f.updateForOfStatement(node, node.awaitModifier, ts.visitNode(node.initializer, visit) as ts.ForInitializer, ts.visitNode(node.expression, visit) as ts.Expression, block(node.statement, node.statement))
      }
      if (ts.isForInStatement(node)) {
        return f.updateForInStatement(node, ts.visitNode(node.initializer, visit) as ts.ForInitializer, ts.visitNode(node.expression, visit) as ts.Expression, block(node.statement, node.statement))
      }
      if (ts.isCatchClause(node)) return f.updateCatchClause(node, node.variableDeclaration, block(node.block, node.block))
      if (ts.isFunctionDeclaration(node) && node.body !== undefined) {
        return f.updateFunctionDeclaration(node, node.modifiers, node.asteriskToken, node.name, node.typeParameters, node.parameters, node.type, block(node.body, node) as ts.Block)
      }
      if (ts.isMethodDeclaration(node) && node.body !== undefined) {
        return f.updateMethodDeclaration(node, node.modifiers, node.asteriskToken, node.name, node.questionToken, node.typeParameters, ts.visitNodes(node.parameters, visit, ts.isParameter), node.type, block(node.body, node) as ts.Block)
      }
      if (ts.isGetAccessorDeclaration(node) && node.body !== undefined) {
        return f.updateGetAccessorDeclaration(node, node.modifiers, node.name, node.parameters, node.type, block(node.body, node) as ts.Block)
      }
      if (ts.isFunctionExpression(node)) {
        return f.updateFunctionExpression(node, node.modifiers, node.asteriskToken, node.name, node.typeParameters, node.parameters, node.type, block(node.body, node) as ts.Block)
      }
      if (ts.isArrowFunction(node)) {
        return f.updateArrowFunction(node, node.modifiers, node.typeParameters, ts.visitNodes(node.parameters, visit, ts.isParameter), node.type, node.equalsGreaterThanToken, functionBody(node.body, node) as ts.ConciseBody)
      }
      return ts.visitEachChild(node, visit, context)
    }
    return (sf) => ts.visitEachChild(sf, visit, context) as ts.SourceFile
  }
}

/** Which files are instrumented: the packet path and the codecs (and what they import from lib/). */
function shouldInstrument(file: string): boolean {
  const rel = relative(REPO_ROOT, file)
  return rel.startsWith('lib/') && rel.endsWith('.ts')
}

const cache = new Map<string, Module>()

function resolveLocal(fromDir: string, spec: string): string | null {
  const base = resolve(fromDir, spec)
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate
  }
  return null
}

/** Loads a lib/ TypeScript module (and the lib/ modules it imports) with coverage counters in it. */
export function loadInstrumented<T = Record<string, unknown>>(file: string): T {
  const abs = resolve(file)
  const known = cache.get(abs)
  if (known !== undefined) return known.exports as T
  const text = readFileSync(abs, 'utf8')
  const source = ts.createSourceFile(abs, text, ts.ScriptTarget.ES2022, true)
  const out = ts.transpileModule(text, {
    fileName: abs,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
    transformers: shouldInstrument(abs) ? { before: [instrumenter(abs, source)] } : {},
  })
  const m = new Module(abs)
  m.filename = abs
  cache.set(abs, m)
  const ordinary = createRequire(abs)
  const localRequire = (spec: string): unknown => {
    if (spec.startsWith('.')) {
      const target = resolveLocal(dirname(abs), spec)
      if (target !== null) return loadInstrumented(target)
    }
    return ordinary(spec)
  }
  // What modules use of require besides calling it (require.resolve: lib/worker-thread.ts).
  localRequire.resolve = ordinary.resolve
  localRequire.cache = ordinary.cache
  const wrapper = runInThisContext(Module.wrap(out.outputText), { filename: abs }) as (exports: unknown, require: unknown, module: unknown, filename: string, dir: string) => void
  wrapper.call(m.exports, m.exports, localRequire, m, abs, dirname(abs))
  m.loaded = true
  return m.exports as T
}

/** Sites in files whose repository path starts with one of `prefixes`. */
export function siteIndexes(prefixes: readonly string[]): number[] {
  const out: number[] = []
  sites.forEach((s, i) => {
    if (prefixes.some((p) => s.file.startsWith(p))) out.push(i)
  })
  return out
}
