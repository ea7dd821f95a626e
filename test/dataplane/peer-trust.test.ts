/**
 * Peer instances' PAs are trusted senders: configured (node.peerProviderAddresses)
 * and registered in the shared store (Compiler.setRegisteredPeers).
 */
import t from 'tap'
import { Verdict } from '../../lib/dataplane/engine'
import { keyTableGet } from '../../lib/dataplane/key-table'
import { parseIPv4 } from '../../lib/packet/address'
import { buildFrame } from '../../lib/packet/frame'
import { Harness, MAC, referenceConfig } from '../helpers/engine-harness'

/** blue-vm11 (10.1.5.20, VSID 5002, on host4 192.168.6.7) → the blue CA VIP, sent from `pa`. */
function caRequest(pa: string, sport: number): Buffer {
  return buildFrame({
    eth: { src: MAC.host4, dst: MAC.provider },
    ipv4: { src: pa, dst: '192.168.6.2' },
    nvgre: {
      vsid: 5002,
      inner: { eth: { src: '00:15:5d:01:05:20', dst: MAC.gateway }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100' }, tcp: { srcPort: sport, dstPort: 80, flags: ['syn'] } },
    },
  })
}

t.test('registered peers are trusted after a compile, and no longer once they are gone', async (t) => {
  const h = new Harness()
  t.same(h.send(caRequest('192.168.6.3', 20001)).drops, ['spoofed_provider_address'], 'not a peer yet')
  t.equal(h.compiler.setRegisteredPeers(['192.168.6.3', '192.168.6.2', 'not an address', '0.0.0.0', '224.0.0.5', '192.168.6.3']), true)
  t.equal(h.compiler.setRegisteredPeers(['192.168.6.3', '192.168.6.2']), false, 'the same valid set again is no change')
  h.load(referenceConfig())
  const peers = h.engine.snapshot!.peerProviders
  t.equal(peers.size, 1, "only the valid PA that is not nvlb's own")
  t.ok(keyTableGet(peers, parseIPv4('192.168.6.3') | 0, 0, 0) >= 0)
  t.equal(h.send(caRequest('192.168.6.3', 20002)).verdict, Verdict.TX, "a registered peer's NVGRE is accepted")
  t.same(h.send(caRequest('192.168.6.2', 20003)).drops, ['spoofed_provider_address'], "nvlb's own PA is never a peer")
  t.same(h.send(caRequest('192.168.6.9', 20004)).drops, ['spoofed_provider_address'], 'anyone else still is spoofed')
  t.equal(h.compiler.setRegisteredPeers([]), true)
  h.load(referenceConfig())
  t.same(h.send(caRequest('192.168.6.3', 20005)).drops, ['spoofed_provider_address'], 'a peer that left is not trusted any more')
})

t.test('configured and registered peers add up', async (t) => {
  const c = referenceConfig()
  c.node.peerProviderAddresses = ['192.168.6.3']
  const h = new Harness(c)
  h.compiler.setRegisteredPeers(['192.168.6.8'])
  h.load(c)
  t.equal(h.engine.snapshot!.peerProviders.size, 2)
  t.equal(h.send(caRequest('192.168.6.3', 20101)).verdict, Verdict.TX)
  t.equal(h.send(caRequest('192.168.6.8', 20102)).verdict, Verdict.TX)
})

t.test('without peers the table is empty', async (t) => {
  t.equal(new Harness().engine.snapshot!.peerProviders.size, 0)
})
