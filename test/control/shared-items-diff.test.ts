/**
 * changesBetween for lists that share most items by reference (what a bulk change or
 * an edit of the running document produces): applying the change set to the old
 * document's resources gives exactly the new document, over random appends, removals,
 * replacements (equal and different) and reorders; and unchanged items are not written.
 */
import t from 'tap'
import { applyChangeSet, changesBetween, documentOf, resourcesOf } from '../../lib/control/store'

function record(i: number, pa = 4): Record<string, unknown> {
  return Object.freeze({ customerAddress: `10.0.${i >> 8}.${i & 255}`, virtualSubnetId: 5001 + (i % 3), providerAddress: `192.168.6.${pa}`, macAddress: '00:15:5d:00:00:01' })
}

/** A deterministic pseudo-random sequence (the test repeats exactly). */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

t.test('random edits of a shared list: the change set turns the old document into the new one', async (t) => {
  const random = rng(11)
  for (let round = 0; round < 200; round++) {
    const before = Array.from({ length: 40 }, (_, i) => record(i))
    let after = before.slice()
    const edits = 1 + Math.floor(random() * 6)
    let next = 1000
    for (let e = 0; e < edits; e++) {
      const what = random()
      const at = Math.floor(random() * after.length)
      if (what < 0.3) after.push(record(next++))
      else if (what < 0.5) after.splice(at, 1)
      else if (what < 0.7) after[at] = { ...after[at]!, providerAddress: '192.168.6.9' }
      else if (what < 0.8) after[at] = { ...after[at]! } // equal, another object
      else if (what < 0.9 && after.length > 1) {
        const [moved] = after.splice(at, 1)
        after.splice(Math.floor(random() * after.length), 0, moved!)
      } else after = after.filter((_, i) => i !== at)
    }
    const old = { node: {}, lookupRecords: before }
    const now = { node: {}, lookupRecords: after }
    const changes = changesBetween(old, now)
    const resources = new Map(resourcesOf(old))
    applyChangeSet(resources, changes)
    t.same(documentOf(resources), now, `round ${round}`)
    const shared = new Set(before)
    for (const [key, value] of changes.put) t.notOk(shared.has(value as never), `round ${round}: ${key} is unchanged and not written`)
  }
})

t.test('a bulk append writes only the new items', async (t) => {
  const before = Array.from({ length: 1000 }, (_, i) => record(i))
  const after = [...before, record(5000), record(5001)]
  const changes = changesBetween({ lookupRecords: before }, { lookupRecords: after })
  t.same(
    changes.put.map(([key]) => key),
    [`lookupRecords/${5001 + (5000 % 3)}/10.0.19.136`, `lookupRecords/${5001 + (5001 % 3)}/10.0.19.137`],
  )
  t.same(changes.remove, [])
  t.equal(changes.order, undefined)
})
