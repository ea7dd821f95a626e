/**
 * Seeds from the packet-case table (test/dataplane/packet-cases.test.ts): the table is
 * loaded with a stand-in for tap that runs every case without asserting, while every frame a
 * Harness sends (and every clock step) is recorded, one sequence per Harness. The seeds so
 * follow the table as cases are added to it.
 */
import { join } from 'node:path'
import { REPO_ROOT } from './instrument'
import type { FrameRecord } from './engine-session'

type Fn = (...args: unknown[]) => unknown

/** A tap look-alike whose assertions do nothing and whose t.test() only collects the callbacks. */
function quietTap(collected: Fn[]): unknown {
  const test = (_name: unknown, a: unknown, b: unknown): void => void collected.push((typeof a === 'function' ? a : b) as Fn)
  // Own properties, so that an ES-module interop copy (esbuild's __toESM) sees them too.
  const t: Record<string | symbol, unknown> = { test, default: null, __esModule: true }
  const proxy: unknown = new Proxy(t, {
    get(target, key) {
      if (key in target) return target[key]
      if (key === 'then') return undefined
      return () => undefined
    },
  })
  t.default = proxy
  return proxy
}

let cached: FrameRecord[][] | null = null

export function packetCaseSequences(): FrameRecord[][] {
  if (cached !== null) return cached
  const harness = require('../test/helpers/engine-harness') as typeof import('../test/helpers/engine-harness')
  const proto = harness.Harness.prototype
  const originalSend = proto.send
  const originalAdvance = proto.advance
  const recorded = new Map<object, FrameRecord[]>()
  const pendingStep = new Map<object, number>()
  proto.send = function (this: object, frame: Uint8Array) {
    const list = recorded.get(this) ?? []
    const step = Math.min(127, Math.round((pendingStep.get(this) ?? 0) / 2))
    pendingStep.delete(this)
    list.push({ control: step > 0 ? 0x80 | step : 0, frame: Uint8Array.from(frame) })
    recorded.set(this, list)
    return originalSend.call(this as never, frame)
  } as typeof proto.send
  proto.advance = function (this: object, seconds: number) {
    pendingStep.set(this, (pendingStep.get(this) ?? 0) + seconds)
    return originalAdvance.call(this as never, seconds)
  } as typeof proto.advance
  const tapPath = require.resolve('tap')
  const casesPath = join(REPO_ROOT, 'test/dataplane/packet-cases.test.ts')
  const previousTap = require.cache[tapPath]
  const collected: Fn[] = []
  try {
    const fake = quietTap(collected)
    require.cache[tapPath] = { id: tapPath, filename: tapPath, loaded: true, exports: fake } as unknown as NodeJS.Module
    delete require.cache[require.resolve(casesPath)]
    require(casesPath)
    const t = quietTap([])
    for (const fn of collected) {
      try {
        void fn(t)
      } catch {
        // a case that needs real assertions to proceed is skipped
      }
    }
  } finally {
    if (previousTap === undefined) delete require.cache[tapPath]
    else require.cache[tapPath] = previousTap
    delete require.cache[require.resolve(casesPath)]
    proto.send = originalSend
    proto.advance = originalAdvance
  }
  cached = [...recorded.values()].filter((s) => s.length > 0)
  return cached
}
