import t from 'tap'
import { IdAllocator } from '../../lib/control/id-allocator'

function compile(a: IdAllocator, epoch: number, swept: number, keys: string[]): number[] {
  a.begin(epoch, swept)
  const ids = keys.map((k) => a.id(k))
  a.commit()
  return ids
}

t.test('ids are stable while their key stays, and come back with it while quarantined', async (t) => {
  const a = new IdAllocator(8, 'things')
  t.same(compile(a, 1, 0, ['a', 'b', 'c']), [0, 1, 2])
  t.same(compile(a, 2, 0, ['c', 'a']), [2, 0])
  t.equal(a.quarantined, 1, 'b freed at 2')
  t.same(compile(a, 3, 0, ['b', 'd']), [1, 3], 'b gets its id back; d a fresh one')
  t.equal(a.quarantined, 2, 'a and c freed at 3')
})

t.test('a freed id goes to another key only once every engine has swept past the epoch it was freed at', async (t) => {
  const a = new IdAllocator(8, 'things')
  compile(a, 1, 0, ['a', 'b'])
  compile(a, 2, 0, ['a']) // b freed at 2
  t.same(compile(a, 3, 1, ['a', 'x']), [0, 2], 'swept 1 < 2: x gets a fresh id')
  compile(a, 4, 2, ['a']) // x freed at 4
  t.same(compile(a, 5, 3, ['a', 'y']), [0, 1], "swept 3 >= 2: y takes b's id")
  t.same(compile(a, 6, 3, ['a', 'y', 'b']), [0, 1, 3], 'b, reused away, gets a new id')
  t.equal(a.since(1), 5, 'the epoch the id got its current key')
})

t.test('a key that comes back in the same compile keeps its id even when another key could take it', async (t) => {
  const a = new IdAllocator(8, 'things')
  compile(a, 1, 0, ['a', 'b'])
  compile(a, 2, 0, ['a'])
  // 'new' is asked for first; b's id is reclaimable, but b is in the document: 'new' must not take it.
  a.begin(3, 10)
  const fresh = a.id('new')
  const b = a.id('b')
  a.commit()
  t.not(fresh, b)
  t.ok(b === 1 || fresh === 1)
})

t.test('a failed compile leaves the allocator as it was', async (t) => {
  const a = new IdAllocator(4, 'things')
  compile(a, 1, 0, ['a', 'b'])
  compile(a, 2, 0, ['a']) // b freed at 2
  a.begin(3, 5)
  a.id('x') // reclaims b's id
  a.id('y') // fresh
  a.rollback()
  t.equal(a.count, 2, 'the fresh id is returned')
  t.equal(a.quarantined, 1, "b's id is back in quarantine")
  t.same(compile(a, 4, 0, ['a', 'b']), [0, 1], 'b still has its id')
})

t.test('the limit counts live and quarantined ids; the error says so', async (t) => {
  const a = new IdAllocator(2, 'things')
  compile(a, 1, 0, ['a', 'b'])
  a.begin(2, 0)
  t.throws(() => a.id('c'), { message: /more than 2 things in use/ })
  a.rollback()
  compile(a, 3, 0, ['a']) // b freed at 3
  t.same(compile(a, 4, 3, ['a', 'c']), [0, 1])
})
