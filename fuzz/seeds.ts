/**
 * Seeds from the packet-case table (test/dataplane/packet-cases.test.ts) and the other engine
 * tests that drive a Harness: each file is loaded with a stand-in for tap that runs every test
 * without asserting, while every frame a Harness sends (and every clock step) is recorded, one
 * sequence per Harness (its first SEQUENCE_MAX frames). The seeds so follow the table as cases
 * are added to it.
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

/** Test files whose Harness traffic seeds the engine corpus. */
export const SEED_TEST_FILES = [
  'test/dataplane/packet-cases.test.ts',
  'test/dataplane/icmp-fragments.test.ts',
  'test/dataplane/ca-vip.test.ts',
  'test/dataplane/public-vip.test.ts',
  'test/dataplane/flow-lifecycle.test.ts',
]
const SEQUENCE_MAX = 64

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
    if (list.length >= SEQUENCE_MAX) return originalSend.call(this as never, frame)
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
  const previousTap = require.cache[tapPath]
  try {
    for (const file of SEED_TEST_FILES) {
      const path = join(REPO_ROOT, file)
      const collected: Fn[] = []
      require.cache[tapPath] = { id: tapPath, filename: tapPath, loaded: true, exports: quietTap(collected) } as unknown as NodeJS.Module
      try {
        delete require.cache[require.resolve(path)]
        require(path)
      } catch {
        continue
      } finally {
        delete require.cache[require.resolve(path)]
      }
      const t = quietTap([])
      for (const fn of collected) {
        try {
          const p = fn(t) as Promise<unknown> | undefined
          // the part after an await is not recorded, and its failures do not matter
          if (p !== undefined && typeof p.catch === 'function') p.catch(() => undefined)
        } catch {
          // a test that needs real assertions to proceed is cut short
        }
      }
    }
  } finally {
    if (previousTap === undefined) delete require.cache[tapPath]
    else require.cache[tapPath] = previousTap
    proto.send = originalSend
    proto.advance = originalAdvance
  }
  cached = [...recorded.values()].filter((s) => s.length > 0)
  return cached
}
