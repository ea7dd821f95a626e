/**
 * A change validated incrementally (validateChange, which reuses the running document's
 * unchanged sections and their cross-check context) gets exactly the verdict of
 * whole-document validation — accepted with the same normalized document, or rejected
 * with the same code and field — and a compiler that reuses its tables of unchanged
 * sections and its compiled pools of unchanged items gives the snapshot a fresh compile of
 * the same history gives.
 */
import t from 'tap'
import fc from 'fast-check'
import { NvlbError } from '../../lib/errors'
import { jsonClone, validateChange, validateConfig, type NvlbConfig } from '../../lib/control/config-validate'
import { Compiler } from '../../lib/control/compiler'
import { referenceConfig } from './reference-config'

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

type Verdict = { ok: true; config: unknown } | { ok: false; code: string; field: string | undefined }

function verdict(run: () => NvlbConfig): Verdict {
  try {
    return { ok: true, config: jsonClone(run()) }
  } catch (err) {
    if (!(err instanceof NvlbError)) throw err
    return { ok: false, code: err.code, field: err.field }
  }
}

/** One random edit of a document (valid or not): the kinds of change the API makes, and some bad ones. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('weight'), pick: fc.nat(), value: fc.integer({ min: -1, max: 300 }) }),
  fc.record({ kind: fc.constant('state'), pick: fc.nat(), value: fc.constantFrom('active', 'draining', 'disabled', 'bogus') }),
  fc.record({ kind: fc.constant('addRecord'), pick: fc.nat(), value: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ kind: fc.constant('removeRecord'), pick: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant('recordMac'), pick: fc.nat(), value: fc.constantFrom('00-15-5D-01-06-99', 'nope', '00155D0106AA') }),
  fc.record({ kind: fc.constant('recordCustomer'), pick: fc.nat(), value: fc.constantFrom('blue', 'red', 'green') }),
  fc.record({ kind: fc.constant('addBackend'), pick: fc.nat(), value: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ kind: fc.constant('rulePool'), pick: fc.nat(), value: fc.constantFrom('blue-web', 'red-web', 'missing') }),
  fc.record({ kind: fc.constant('removePool'), pick: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant('neighborMac'), pick: fc.nat(), value: fc.constantFrom('02:00:c0:a8:06:09', 'zz') }),
)
type Edit = { kind: string; pick: number; value: unknown }

function applyEdit(doc: any, e: Edit): void {
  const at = <T>(list: T[]): T | undefined => (list.length === 0 ? undefined : list[e.pick % list.length])
  const backends = doc.pools.flatMap((p: any) => p.backends)
  switch (e.kind) {
    case 'weight': { const b = at(backends) as any; if (b) b.weight = e.value; break }
    case 'state': { const b = at(backends) as any; if (b) b.state = e.value; break }
    case 'addRecord': {
      const r = at(doc.lookupRecords) as any
      if (r) doc.lookupRecords.push({ ...r, customerAddress: `10.9.${(e.value as number) >> 8}.${(e.value as number) & 255}` })
      break
    }
    case 'removeRecord': if (doc.lookupRecords.length > 0) doc.lookupRecords.splice(e.pick % doc.lookupRecords.length, 1); break
    case 'recordMac': { const r = at(doc.lookupRecords) as any; if (r) r.macAddress = e.value; break }
    case 'recordCustomer': { const r = at(doc.lookupRecords) as any; if (r) r.customerId = e.value; break }
    case 'addBackend': {
      const p = at(doc.pools) as any
      const r = at(doc.lookupRecords) as any
      if (p && r) p.backends.push({ virtualSubnetId: r.virtualSubnetId, address: r.customerAddress, weight: 1 + ((e.value as number) % 5) })
      break
    }
    case 'rulePool': { const rules = doc.vips.flatMap((v: any) => v.rules); const r = at(rules) as any; if (r) r.pool = e.value; break }
    case 'removePool': if (doc.pools.length > 0) doc.pools.splice(e.pick % doc.pools.length, 1); break
    case 'neighborMac': { const n = at(doc.neighbors) as any; if (n) n.mac = e.value; break }
  }
}

t.setTimeout(240_000)

t.test('incremental and whole-document validation agree; so do incremental and fresh compiles', async (t) => {
  let runs = 0
  let accepted = 0
  let rejected = 0
  let poolsKept = 0
  fc.assert(
    fc.property(fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }), (changes) => {
      let running = deepFreeze(validateConfig(referenceConfig()))
      const incremental = new Compiler()
      const history: NvlbConfig[] = [running]
      let snapshot = incremental.compile(running, 1)
      for (const change of changes) {
        const draft = jsonClone(running) as any
        for (const e of change) applyEdit(draft, e)
        const whole = verdict(() => validateConfig(draft))
        const part = verdict(() => validateChange(running, draft))
        if (JSON.stringify(whole) !== JSON.stringify(part)) {
          throw new Error(`verdicts differ: whole ${JSON.stringify(whole).slice(0, 300)} incremental ${JSON.stringify(part).slice(0, 300)}`)
        }
        if (!part.ok) {
          rejected++
          continue
        }
        accepted++
        // As the control plane hands it on: the items the edit left alone are the running ones, which the compiler keeps compiled.
        running = deepFreeze(validateChange(running, sharingUnchanged(draft, running)))
        history.push(running)
        snapshot = incremental.compile(running, history.length)
        poolsKept += incremental.lastBuild.poolsKept
      }
      // A compiler that never saw frozen, shared lists builds everything afresh.
      const fresh = new Compiler()
      let expected = fresh.compile(jsonClone(history[0]) as NvlbConfig, 1)
      for (let i = 1; i < history.length; i++) expected = fresh.compile(jsonClone(history[i]) as NvlbConfig, i + 1)
      t.same(snapshot, expected, 'the incremental compile equals the fresh compile')
      runs++
    }),
    { numRuns: 12, seed: 1105 },
  )
  t.equal(runs, 12)
  t.ok(accepted > 0 && rejected > 0, `both verdicts occur (${accepted} accepted, ${rejected} rejected)`)
  t.ok(poolsKept > 0, `compiled pools were kept across changes (${poolsKept} times)`)
})

/** The draft as the control plane hands it on: items an edit left equal to the running ones are the running (frozen) objects. */
function sharingUnchanged(draft: any, running: any): any {
  for (const section of ['neighbors', 'lookupRecords', 'customerRoutes', 'pools', 'vips']) {
    const list = draft[section]
    const before = running[section]
    if (!Array.isArray(list) || !Array.isArray(before)) continue
    for (let i = 0; i < Math.min(list.length, before.length); i++) if (JSON.stringify(list[i]) === JSON.stringify(before[i])) list[i] = before[i]
  }
  return draft
}

t.test('the same when the draft shares the running items an edit left alone (kept items are not schema-checked again)', async (t) => {
  let runs = 0
  let rejected = 0
  fc.assert(
    fc.property(fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }), (changes) => {
      let running = deepFreeze(validateConfig(referenceConfig()))
      for (const change of changes) {
        const draft = jsonClone(running) as any
        for (const e of change) applyEdit(draft, e)
        const whole = verdict(() => validateConfig(jsonClone(draft)))
        const shared = sharingUnchanged(draft, running)
        const part = verdict(() => validateChange(running, shared))
        if (JSON.stringify(whole) !== JSON.stringify(part)) {
          throw new Error(`verdicts differ: whole ${JSON.stringify(whole).slice(0, 300)} incremental ${JSON.stringify(part).slice(0, 300)}`)
        }
        if (!part.ok) {
          rejected++
          continue
        }
        running = deepFreeze(validateChange(running, shared))
      }
      runs++
    }),
    { numRuns: 40, seed: 2211 },
  )
  t.equal(runs, 40)
  t.ok(rejected > 0, `rejections occur (${rejected})`)
})
