/**
 * A cloud's worth of VIPs (issue 11: 10,000 VIPs beside a million lookup records): every rule gets
 * an id, and the ids above the first few thousand work wherever the packet path packs a rule id —
 * the flow record (the flow's later packets and the backend's reply name the rule), the index of
 * flowless public dnat replies (backend id and rule id in one value) and the per-rule counters.
 */
import t from 'tap'
import { Verdict } from '../../lib/dataplane/engine'
import { MAX_BACKEND_IDS, MAX_RULE_IDS } from '../../lib/dataplane/snapshot'
import { dnatReplyBackend, dnatReplyRule, DNAT_REPLY_RULE_BITS } from '../../lib/dataplane/dnat-reply-index'
import type { NvlbConfig } from '../../lib/control/config-types'
import { validateConfig } from '../../lib/control/config-validate'
import { formatIPv4 } from '../../lib/packet/address'
import { parseFrame } from '../../lib/packet/frame'
import { fromClient, Harness, referenceConfig, replyTo } from '../helpers/engine-harness'

const VIPS = 10_000
const ROUTER_MAC = '02:00:c0:a8:06:01'

/** The reference configuration with VIPS more public dnat VIPs, each with its own backend port (so no backend is ambiguous). */
function cloud(): NvlbConfig {
  const config = referenceConfig()
  config.node.maglevTableSize = 7
  for (let i = 0; i < VIPS; i++) {
    config.vips.push({
      name: `cloud-${i}`,
      address: formatIPv4((100 << 24) | (64 << 16) | (i + 1)),
      virtualSubnetId: 0,
      natMode: 'dnat',
      rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 10000 + i, pool: 'red-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
    })
  }
  return validateConfig(config)
}

t.test('packed rule ids have room for every rule id', async (t) => {
  t.ok(MAX_RULE_IDS >= 2 * VIPS, `${MAX_RULE_IDS} rule ids: ${VIPS} VIPs with two rules each fit`)
  // The flow record keeps rule id << 16 | NAT port in an int32 word read back with >>> 16.
  t.ok(MAX_RULE_IDS <= 1 << 15, 'rule id << 16 stays a non-negative int32')
  t.equal(1 << DNAT_REPLY_RULE_BITS, MAX_RULE_IDS, 'the dnat reply index keeps every rule id')
  const top = ((MAX_BACKEND_IDS - 1) << DNAT_REPLY_RULE_BITS) | (MAX_RULE_IDS - 1)
  t.ok(top >= 0, 'the largest backend id and rule id pack into a non-negative key-table value')
  t.equal(dnatReplyRule(top), MAX_RULE_IDS - 1)
  t.equal(dnatReplyBackend(top), MAX_BACKEND_IDS - 1)
})

t.test(`${VIPS} VIPs compile, and the last one carries a flow and its replies`, async (t) => {
  const config = cloud()
  const h = new Harness(config)
  const last = config.vips[config.vips.length - 1]!
  const snapshot = h.compiler.compile(config, 99)
  const rule = snapshot.ruleList.find((r) => r !== null && r.vipName === last.name)!
  t.ok(rule.id >= 4096, `the last VIP's rule has id ${rule.id}, beyond the 4096 ids there were`)

  const syn = h.send(fromClient({ sport: 40000, vip: last.address }))
  t.equal(syn.verdict, Verdict.TX, syn.drops.join(','))
  const toBackend = parseFrame(syn.out[0]!.frame)!
  t.equal(toBackend.inner!.tcp!.dstPort, 10000 + VIPS - 1, "to the last VIP's backend port")

  const reply = h.send(replyTo(syn.out[0]!.frame))
  t.equal(reply.verdict, Verdict.TX, reply.drops.join(','))
  const back = parseFrame(reply.out[0]!.frame)!
  t.equal(back.ipv4!.src, last.address, 'the reply leaves from the VIP the flow record names')
  t.equal(back.tcp!.srcPort, 80)

  const ack = h.send(fromClient({ sport: 40000, vip: last.address, flags: ['ack'] }))
  t.equal(ack.verdict, Verdict.TX, ack.drops.join(','))
  t.equal(parseFrame(ack.out[0]!.frame)!.inner!.ipv4!.dst, toBackend.inner!.ipv4!.dst, 'the next packet stays on the flow')
  const stats = h.engine.statsReport()
  t.equal(stats.flowsCreated, 1, 'one flow')
  t.equal(stats.vips.find((v) => v.vip === last.name)?.flowsCreated, 1, "counted on the last VIP's rule")

  // Another instance with the same configuration (a restart, say) translates the reply without the flow.
  const other = new Harness(config)
  other.send(fromClient({ sport: 40001, srcMac: ROUTER_MAC }))
  const flowless = other.send(replyTo(syn.out[0]!.frame, { flags: ['ack'] }))
  t.equal(flowless.verdict, Verdict.TX, flowless.drops.join(','))
  t.equal(parseFrame(flowless.out[0]!.frame)!.ipv4!.src, last.address, 'a flowless reply is translated from the last VIP')
  t.equal(other.engine.statsReport().repliesWithoutFlow, 1)
})
