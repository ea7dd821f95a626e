import t from 'tap'
import { describeContents, summarizeChanges } from '../../lib/control/config-diff'
import { validateConfig } from '../../lib/control/config-validate'
import type { NvlbConfig } from '../../lib/control/config-types'
import { referenceConfig } from './reference-config'

const base = (): NvlbConfig => validateConfig(referenceConfig())
function changed(edit: (d: any) => void): NvlbConfig {
  const doc = structuredClone(base()) as any
  edit(doc)
  return doc
}

t.test('identical documents: no change', async (t) => {
  t.equal(summarizeChanges(base(), base()), 'no change')
})

t.test('the first configuration is described by its contents', async (t) => {
  t.equal(
    summarizeChanges(undefined, base()),
    'initial configuration: 1 neighbor, 14 lookup records, 8 customer routes, 2 pools (6 backends), 4 VIPs (4 rules)',
  )
  t.equal(describeContents({ pools: [], vips: [] }), '0 neighbors, 0 lookup records, 0 customer routes, 0 pools (0 backends), 0 VIPs (0 rules)')
})

t.test('each section reports what was added, removed and changed', async (t) => {
  const cases: Array<[string, (d: any) => void, string]> = [
    ['node field', (d) => void (d.node.providerMtu = 9000), 'node: providerMtu 1500→9000'],
    ['node field added', (d) => void (d.node.mssClamp = true), 'node: mssClamp (none)→true'],
    ['neighbor added', (d) => void d.neighbors.push({ address: '192.168.6.5', mac: '02:00:c0:a8:06:05' }), 'neighbors: +192.168.6.5'],
    ['neighbor MAC', (d) => void (d.neighbors[0].mac = '02:00:c0:a8:06:44'), 'neighbors: 192.168.6.4 mac 02:00:c0:a8:06:04→02:00:c0:a8:06:44'],
    ['lookup record moved', (d) => void (d.lookupRecords[2].providerAddress = '192.168.6.7'), 'lookupRecords: 5001/10.1.6.21 providerAddress 192.168.6.4→192.168.6.7'],
    ['lookup record removed', (d) => void d.lookupRecords.splice(1, 1), 'lookupRecords: -5001/10.1.6.20'],
    ['route next hop', (d) => void (d.customerRoutes[1].nextHop = '10.1.6.2'), 'customerRoutes: 5001 0.0.0.0/0 nextHop 10.1.6.1→10.1.6.2'],
    ['backend state', (d) => void (d.pools[0].backends[1].state = 'draining'), 'pools: blue-web changed (backend 5001/10.1.6.21 state active→draining)'],
    [
      'backend weight and state',
      (d) => {
        d.pools[0].backends[1].state = 'disabled'
        d.pools[0].backends[1].weight = 3
      },
      'pools: blue-web changed (backend 5001/10.1.6.21 weight 1→3, state active→disabled)',
    ],
    ['backend removed', (d) => void d.pools[1].backends.pop(), 'pools: red-web changed (-backend 6001/10.1.6.22)'],
    ['pool added', (d) => void d.pools.push({ name: 'spare', backends: [] }), 'pools: +spare'],
    ['VIP removed', (d) => void d.vips.splice(3, 1), 'vips: -red-app'],
    ['VIP rule pool', (d) => void (d.vips[0].rules[0].pool = 'red-web'), 'vips: blue-public changed (rule tcp/80 pool blue-web→red-web)'],
    ['VIP rule added', (d) => void d.vips[0].rules.push({ ...d.vips[0].rules[0], frontendPort: 443 }), 'vips: blue-public changed (+rule tcp/443)'],
    ['VIP address', (d) => void (d.vips[1].address = '203.0.113.21'), 'vips: red-public changed (address 203.0.113.20→203.0.113.21)'],
    ['extra top-level field', (d) => void (d.comment = 'hi'), 'other: comment (none)→hi'],
    [
      'several sections',
      (d) => {
        d.node.providerMtu = 9000
        d.vips.pop()
      },
      'node: providerMtu 1500→9000; vips: -red-app',
    ],
  ]
  for (const [name, edit, expected] of cases) t.equal(summarizeChanges(base(), changed(edit)), expected, name)
})

t.test('reordering is reported as such', async (t) => {
  t.equal(summarizeChanges(base(), changed((d) => d.vips.reverse())), 'vips: reordered')
})

t.test('long lists are cut short', async (t) => {
  const after = changed((d) => {
    for (let i = 0; i < 20; i++) d.neighbors.push({ address: `192.168.7.${i + 1}`, mac: '02:00:00:00:07:01' })
  })
  const summary = summarizeChanges(base(), after)
  t.match(summary, /^neighbors: \+192\.168\.7\.1, .*… 12 more$/)
  t.ok(summary.length < 200)
})
