import t from 'tap'
import { parseFrame } from '../../lib/packet/frame'
import { Verdict } from '../../lib/dataplane/engine'
import { Harness, fromAppTier, fromClient } from '../helpers/engine-harness'

// Blue and Red share the CA VIP address 10.1.5.100 and backend CAs 10.1.6.21/.22.
const BLUE_WEB = new Set(['5001/10.1.6.20', '5001/10.1.6.21', '5001/10.1.6.22', '5001/10.1.6.23'])
const RED_WEB = new Set(['6001/10.1.6.21', '6001/10.1.6.22'])
const HOST_OF: Record<string, string> = {
  '5001/10.1.6.20': '192.168.6.4', '5001/10.1.6.21': '192.168.6.4', '5001/10.1.6.22': '192.168.6.5', '5001/10.1.6.23': '192.168.6.6',
  '6001/10.1.6.21': '192.168.6.5', '6001/10.1.6.22': '192.168.6.6',
}

function backendOf(frame: Buffer): string {
  const f = parseFrame(frame)!
  return `${f.gre!.vsid}/${f.inner!.ipv4!.dst}`
}

t.test('each tenant reaches only its own backends, and all of them', async (t) => {
  const h = new Harness()
  const seen = { blueCa: new Set<string>(), redCa: new Set<string>(), bluePublic: new Set<string>(), redPublic: new Set<string>() }
  for (let i = 0; i < 400; i++) {
    for (const [vsid, set] of [[5002, seen.blueCa], [6002, seen.redCa]] as const) {
      const r = h.send(fromAppTier({ vsid, sport: 20000 + i, vmMac: vsid === 5002 ? '00:15:5d:01:05:20' : '00:15:5d:02:05:20' }))
      t.equal(r.verdict, Verdict.TX)
      const b = backendOf(r.out[0]!.frame)
      set.add(b)
      t.equal(parseFrame(r.out[0]!.frame)!.ipv4!.dst, HOST_OF[b], 'to the host of that backend')
    }
    for (const [vip, set] of [['203.0.113.10', seen.bluePublic], ['203.0.113.20', seen.redPublic]] as const) {
      const r = h.send(fromClient({ vip, sport: 20000 + i }))
      set.add(backendOf(r.out[0]!.frame))
    }
  }
  t.same([...seen.blueCa].sort(), [...BLUE_WEB].sort(), 'Blue CA VIP: exactly the Blue web tier')
  t.same([...seen.bluePublic].sort(), [...BLUE_WEB].sort(), 'Blue public VIP: exactly the Blue web tier')
  t.same([...seen.redCa].sort(), [...RED_WEB].sort(), 'Red CA VIP: exactly the Red web tier')
  t.same([...seen.redPublic].sort(), [...RED_WEB].sort(), 'Red public VIP: exactly the Red web tier')
})
