/**
 * The engine a benchmark measures: this build's, or another build's
 * (`--engine-from DIR`, DIR a built nvlb checkout or its dist/), so that two
 * versions run on one harness (bench pipeline-compare). Only the engine, the
 * compiler and the validator are taken from the other build: the frames,
 * the checks and the clock stay this build's.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Compiler } from '../lib/control/compiler'
import { validateConfig } from '../lib/control/config-validate'
import { Engine } from '../lib/dataplane/engine'
import { forwardHashOfKey } from '../lib/dataplane/flow-hash'

export interface EngineBuild {
  /** Where it was loaded from ("this build" for ours). */
  readonly from: string
  readonly Engine: typeof Engine
  readonly Compiler: typeof Compiler
  readonly validateConfig: typeof validateConfig
  readonly forwardHashOfKey: typeof forwardHashOfKey
}

export const THIS_BUILD: EngineBuild = { from: 'this build', Engine, Compiler, validateConfig, forwardHashOfKey }

/** The dist/ directory of a built checkout (or DIR itself when it is one). */
export function distOf(dir: string): string {
  const root = resolve(dir)
  for (const candidate of [join(root, 'dist'), root]) {
    if (existsSync(join(candidate, 'lib', 'dataplane', 'engine.js'))) return candidate
  }
  throw new Error(`${dir}: no built nvlb there (expected dist/lib/dataplane/engine.js or lib/dataplane/engine.js; run npm run build in it)`)
}

export function loadEngineBuild(dir: string | undefined): EngineBuild {
  if (dir === undefined) return THIS_BUILD
  const dist = distOf(dir)
  const load = <T>(module: string, name: string): T => {
    const value = (require(join(dist, 'lib', module)) as Record<string, unknown>)[name]
    if (typeof value !== 'function') throw new Error(`${dist}: lib/${module} has no ${name}`)
    return value as T
  }
  return {
    from: dist,
    Engine: load('dataplane/engine', 'Engine'),
    Compiler: load('control/compiler', 'Compiler'),
    validateConfig: load('control/config-validate', 'validateConfig'),
    forwardHashOfKey: load('dataplane/flow-hash', 'forwardHashOfKey'),
  }
}
