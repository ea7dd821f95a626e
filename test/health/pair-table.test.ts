import t from 'tap'
import { PairTable } from '../../lib/health/pair-table'

t.test('a pair table answers as a Map of the same keys, through growth, deletes and re-inserts', async (t) => {
  const table = new PairTable()
  const map = new Map<string, number>()
  let seed = 7
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32)
  let mismatches = 0
  for (let i = 0; i < 20000; i++) {
    // Addresses above 2^31 and small ports, as the tunnel's keys are.
    const hi = (0x64400000 + Math.floor(random() * 300)) >>> 0
    const lo = Math.floor(random() * 4)
    const key = `${hi}/${lo}`
    const op = random()
    if (op < 0.5) {
      table.set(hi, lo, i)
      map.set(key, i)
    } else if (op < 0.8) {
      if (table.delete(hi, lo) !== (map.get(key) ?? -1)) mismatches++
      map.delete(key)
    } else if (table.get(hi, lo) !== (map.get(key) ?? -1)) mismatches++
    if (table.size !== map.size) mismatches++
  }
  t.equal(mismatches, 0)
  const values: number[] = []
  table.forEachValue((v) => values.push(v))
  t.same(values.sort((a, b) => a - b), [...map.values()].sort((a, b) => a - b))
  table.clear()
  t.equal(table.size, 0)
  t.equal(table.get(0x64400001, 0), -1)
})
