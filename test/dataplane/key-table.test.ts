import t from 'tap'
import { createKeyTable, KEY_TABLE_MISSING, keyTableGet, keyTableSet } from '../../lib/dataplane/key-table'

t.test('values are kept per key; overwrite keeps the size', async (t) => {
  const table = createKeyTable(4)
  t.ok(keyTableSet(table, 1, 2, 3, 7))
  t.ok(keyTableSet(table, 1, 2, 4, 0))
  t.ok(keyTableSet(table, 1, 2, 3, 0x7fffffff))
  t.equal(keyTableGet(table, 1, 2, 3), 0x7fffffff)
  t.equal(keyTableGet(table, 1, 2, 4), 0)
  t.equal(keyTableGet(table, 9, 9, 9), KEY_TABLE_MISSING)
  t.equal(table.size, 2)
})

t.test('a negative value is refused: it would read as an empty slot', async (t) => {
  const table = createKeyTable(4)
  t.notOk(keyTableSet(table, 1, 2, 3, -2))
  t.equal(keyTableGet(table, 1, 2, 3), KEY_TABLE_MISSING)
  t.equal(table.size, 0)
  t.ok(keyTableSet(table, 1, 2, 3, 5))
  t.notOk(keyTableSet(table, 1, 2, 3, -2), 'nor overwrites a value')
  t.equal(keyTableGet(table, 1, 2, 3), 5)
})

t.test('a full table refuses new keys and keeps the old ones', async (t) => {
  const table = createKeyTable(4) // 8 slots, at most 4 keys
  for (let i = 0; i < 4; i++) t.ok(keyTableSet(table, i, 0, 0, i))
  t.notOk(keyTableSet(table, 99, 0, 0, 1))
  for (let i = 0; i < 4; i++) t.equal(keyTableGet(table, i, 0, 0), i)
})
