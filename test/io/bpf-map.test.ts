import t from 'tap'
import { BpfMap, BPF_F_NO_PREALLOC, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LPM_TRIE } from '../../lib/io/bpf-map'
import { SKIP_NOT_ROOT } from './helpers/veth'

t.test('a map element is written, read, deleted (a delete once failed with EINVAL: its attr carried the value pointer)', { skip: SKIP_NOT_ROOT }, async (t) => {
  for (const [type, flags, key] of [
    [BPF_MAP_TYPE_HASH, 0, Buffer.from([10, 0, 0, 1])],
    [BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC, Buffer.from([32, 0, 0, 0, 10, 0, 0, 1])],
  ] as const) {
    const map = new BpfMap(type, key.length, 4, 16, 'nvlb_test', flags)
    t.teardown(() => map.close())
    const value = Buffer.from([1, 2, 3, 4])
    map.set(key, value)
    t.same(map.get(key), value, `type ${type}: read back`)
    t.equal(map.delete(key), true, `type ${type}: deleted`)
    t.equal(map.get(key), null, `type ${type}: gone`)
    t.equal(map.delete(key), false, `type ${type}: a second delete finds nothing`)
  }
})
