/**
 * Inputs the coverage-guided fuzzer (npm run fuzz) found breaking an invariant, minimised, replayed
 * from a fresh engine with the fuzzer's own checks (fuzz/invariants.ts): each must now pass.
 * Format of `input`: the fuzzer's frame sequence or session file (fuzz/engine-session.ts), in hex,
 * or the name of a file of it in test/dataplane/fuzz-regressions/ (the long ones).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Compiler } from '../../lib/control/compiler'
import { Engine } from '../../lib/dataplane/engine'
import { EngineSession, decodeSession, variantConfig } from '../../fuzz/engine-session'
import { Invariants } from '../../fuzz/invariants'
import { REPO_ROOT, loadInstrumented } from '../../fuzz/instrument'
import { referenceConfig } from '../helpers/engine-harness'

interface Regression {
  description: string
  input: string
  /** Drop reasons the last frame must be counted under. */
  drops?: Record<string, number>
  /**
   * Run on the fuzzer's instrumented engine, whose loops stop with an exception after far more
   * iterations than any frame needs (fuzz/instrument.ts): for endless-loop findings.
   */
  instrumented?: boolean
}

const regressions: Regression[] = [
  {
    description: 'plain IPv4 with a wrong header checksum was forwarded with the checksum still wrong (now dropped: bad_ip_checksum)',
    input: '00003a' + '0200c63364010200c633640a810000640800450000280000000040061488c6336402cb00710aa028005000000000000000005002ffffa9210000',
    drops: { bad_ip_checksum: 1 },
  },
  {
    description: 'NVGRE whose inner IPv4 header checksum is wrong was forwarded with the checksum still wrong (now dropped: bad_ip_checksum)',
    input:
      '000064' +
      '0200c0a806020200c0a8060708004500005600000000402fed1fc0a80607c0a806022000655800138a0702000000000100155d01052008004500002c0000400040061cd60a0105140a01056480e80050000001f4000000006002fffff6800000020405b4',
    drops: { bad_ip_checksum: 1 },
  },
  {
    description: 'an ICMP error quoting a public flow but addressed to no VIP was translated into the tenant (now dropped: icmp_no_flow)',
    input:
      '000036' +
      '0200c63364010200c633640a080045000028000040004006d487c633640acb00710aafc80050000003e8000000005002ffffe398b200' +
      '000046' +
      '0200c63364010200c633640a080045000038000000004001eab1c633fe64cb71000a03048636c0a80604450000280000000040061488cb00710ac633640a0050afc800000000',
    drops: { icmp_no_flow: 1 },
  },
  {
    description: 'NVGRE above the provider MTU (an ICMP error from a backend, 1586 bytes) was translated and sent out of the external side at 1544 bytes (now dropped: packet_too_big)',
    input: 'backend-icmp-error-above-provider-mtu.bin',
    drops: { packet_too_big: 1 },
  },
  {
    description: 'NVGRE above the provider MTU (an ICMP error from a tenant client to the CA VIP) was re-encapsulated above the provider MTU (now dropped: packet_too_big)',
    input: 'tenant-icmp-error-above-provider-mtu.bin',
    drops: { packet_too_big: 1 },
  },
  {
    description:
      'a later fragment whose first fragment\'s flow had been removed since was forwarded through the freed flow slot, after which the flow table\'s chains looped forever (now: fragment_no_state)',
    input: 'fragment-of-removed-flow-loops.bin',
    instrumented: true,
  },
  {
    description: 'an ICMP error from the Internet (1489 bytes) quoting a public flow was encapsulated to the backend above the provider MTU (now cut to what fits, as RFC 1812 allows)',
    input: 'internet-icmp-error-above-provider-mtu.bin',
  },
  {
    description:
      "a Blue backend's later reply fragment was sent into Red: its first fragment's flow had been removed and the slot reused by a Red CA VIP flow whose backend has the same CA (now: fragment_no_state)",
    input: 'fragment-slot-reused-by-other-tenant.bin',
    drops: { fragment_no_state: 1 },
  },
  {
    description:
      "a Blue VM's SYN to the Red public VIP (hairpin) was flagged cross_tenant: it is served like an Internet client, from nvlb's external address (the invariant now allows hairpin into the VIP's pools' domains, from a public address only)",
    input: 'hairpin-blue-vm-to-red-public-vip.bin',
  },
  {
    description: "a Red VM's SYN to the Blue public VIP (hairpin), the same",
    input: 'hairpin-red-vm-to-blue-public-vip.bin',
  },
  {
    description:
      'a public SYN whose MSS option sat at an odd offset (after a 3-byte option) left the MSS clamp with a wrong TCP checksum (now adjusted with the bytes swapped)',
    input: 'mss-clamp-option-at-odd-offset.bin',
  },
  {
    description:
      'an ARP request for the PA whose sender hardware address is 00:00:00:00:00:00 was answered to that address (and the zero MAC learnt for the sender); now ignored (arp_ignored)',
    input: '00002a0200c0a8060202666666666608060001080006040001000000000000c0a80604000000000000c0a80602',
    drops: { arp_ignored: 1 },
  },
]

function inputOf(r: Regression): Buffer {
  return r.input.endsWith('.bin') ? readFileSync(join(__dirname, 'fuzz-regressions', r.input)) : Buffer.from(r.input, 'hex')
}

const config = referenceConfig()
const compiler = new Compiler()
const snapshot = compiler.compile(config, 1)
const alternate = compiler.compile(variantConfig(config), 2)
const invariants = new Invariants(config)

for (const r of regressions) {
  t.test(r.description, async (t) => {
    const EngineClass = r.instrumented === true ? loadInstrumented<{ Engine: typeof Engine }>(join(REPO_ROOT, 'lib/dataplane/engine.ts')).Engine : Engine
    const session = new EngineSession(EngineClass, snapshot, invariants, alternate)
    const before = session.engine.statsReport().drops
    const inputs = decodeSession(inputOf(r))
    t.ok(inputs.length > 0 && inputs.every((i) => i.length > 0), 'the input holds frames')
    t.equal(session.replay(inputs), null, 'no invariant broken')
    const after = session.engine.statsReport().drops
    for (const [reason, n] of Object.entries(r.drops ?? {})) t.equal((after[reason] ?? 0) - (before[reason] ?? 0), n, `counted as ${reason}`)
  })
}
