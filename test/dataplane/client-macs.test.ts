import t from 'tap'
import { ClientMacs } from '../../lib/dataplane/client-macs'

t.test('a MAC is interned once; index 0 is reserved for unknown', async (t) => {
  const m = new ClientMacs()
  const frame = Buffer.from('0200c633640a02000000000102000000aabb', 'hex')
  const a = m.intern(frame, 0)
  const b = m.intern(frame, 6)
  t.ok(a > 0 && b > 0 && a !== b)
  t.equal(m.intern(frame, 0), a, 'the same MAC, the same index')
  t.same([...m.bytes.subarray(a * 6, a * 6 + 6)], [0x02, 0x00, 0xc6, 0x33, 0x64, 0x0a])
  t.same([...m.bytes.subarray(0, 6)], [0, 0, 0, 0, 0, 0])
})
