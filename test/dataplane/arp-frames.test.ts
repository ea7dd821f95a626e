import t from 'tap'
import { ARP_FRAME_LENGTH, writeArpReply, writeArpRequest } from '../../lib/dataplane/arp-frames'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { parseIPv4, parseMac } from '../../lib/packet/address'

t.test('a request for an address and the reply written over a request', async (t) => {
  const out = Buffer.alloc(ARP_FRAME_LENGTH)
  writeArpRequest(out, 0, parseMac('02:00:c0:a8:06:02')!, parseIPv4('192.168.6.2') | 0, parseIPv4('192.168.6.9') | 0)
  const req = parseFrame(out)!
  t.equal(req.eth.dst, 'ff:ff:ff:ff:ff:ff')
  t.equal(req.arp!.opName, 'request')
  t.equal(req.arp!.senderIp, '192.168.6.2')
  t.equal(req.arp!.targetIp, '192.168.6.9')

  const asked = buildFrame({ eth: { src: '02:00:c6:33:64:0a', dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: '02:00:c6:33:64:0a', senderIp: '198.51.100.10', targetIp: '203.0.113.10' } })
  writeArpReply(asked, 0, 14, parseMac('02:00:c6:33:64:01')!, parseIPv4('198.51.100.10') | 0, parseIPv4('203.0.113.10') | 0)
  const rep = parseFrame(asked)!
  t.equal(rep.eth.dst, '02:00:c6:33:64:0a')
  t.equal(rep.arp!.opName, 'reply')
  t.equal(rep.arp!.senderMac, '02:00:c6:33:64:01')
  t.equal(rep.arp!.senderIp, '203.0.113.10')
  t.equal(rep.arp!.targetIp, '198.51.100.10')
})
