import t from 'tap'
import { FRAGMENT_TIMEOUT, FragmentTable } from '../../lib/dataplane/fragment-table'
import { NO_ENTRY } from '../../lib/dataplane/flow-table'

t.test('a datagram is recalled by its key, direction and IP id, within the timeout', async (t) => {
  const f = new FragmentTable()
  f.remember(5002, false, 17, 0x0a010514, 0x0a010564, 4242, 7, 100)
  t.equal(f.recall(5002, false, 17, 0x0a010514, 0x0a010564, 4242, 100 + FRAGMENT_TIMEOUT), 7)
  t.equal(f.recall(5002, true, 17, 0x0a010514, 0x0a010564, 4242, 100), NO_ENTRY, 'the other direction')
  t.equal(f.recall(6002, false, 17, 0x0a010514, 0x0a010564, 4242, 100), NO_ENTRY, 'another scope (tenant)')
  t.equal(f.recall(5002, false, 17, 0x0a010514, 0x0a010564, 4243, 100), NO_ENTRY, 'another IP id')
  t.equal(f.recall(5002, false, 6, 0x0a010514, 0x0a010564, 4242, 100), NO_ENTRY, 'another protocol')
  t.equal(f.recall(5002, false, 17, 0x0a010514, 0x0a010564, 4242, 101 + FRAGMENT_TIMEOUT), NO_ENTRY, 'too old')
})

t.test('a later datagram in the same slot replaces the earlier one; negative addresses work', async (t) => {
  const f = new FragmentTable()
  f.remember(0, false, 6, -1, -2, 1, 3, 0)
  t.equal(f.recall(0, false, 6, -1, -2, 1, 0), 3)
  f.remember(0, false, 6, -1, -2, 1, 9, 1)
  t.equal(f.recall(0, false, 6, -1, -2, 1, 1), 9)
})
