/**
 * Writes examples/replay/blue-red.pcap: a short conversation through the
 * reference deployment as nvlb sees it on its interfaces —
 * clients to the Blue and Red public VIPs and the backends' replies, the Blue
 * and Red app tiers to their CA VIPs and the replies, ARP, and a few frames
 * nvlb must drop. Backend replies need to know which backend took a flow, so
 * the script asks an engine with the same configuration.
 *
 *   node --import tsx examples/replay/make-capture.ts [OUT.pcap]
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Compiler } from '../../lib/control/compiler'
import { loadConfigFile } from '../../lib/control/config-file'
import { Engine, HEADROOM, Verdict } from '../../lib/dataplane/engine'
import { buildFrame, parseFrame, type FrameSpec } from '../../lib/packet/frame'
import { PcapWriter } from '../../lib/packet/pcap'

const CONFIG = join(__dirname, '..', 'blue-red', 'config.json')
const CLIENT = '198.51.100.10'
const CLIENT_MAC = '02:00:c6:33:64:0a'
const EXT_MAC = '02:00:c6:33:64:01'
const PA = '192.168.6.2'
const PA_MAC = '02:00:c0:a8:06:02'
const GW_MAC = '02:00:00:00:00:01'
const HOST4 = '192.168.6.7'
const HOST4_MAC = '02:00:c0:a8:06:07'

export function makeCapture(): Buffer {
  const engine = new Engine()
  engine.adopt(new Compiler().compile(loadConfigFile(CONFIG), 1))
  const pcap = new PcapWriter()
  let clock = 1_700_000_000
  const emit = (frame: Buffer): Buffer | null => {
    pcap.add(frame, clock, 0)
    engine.tick(clock++)
    const buf = Buffer.alloc(HEADROOM + frame.length)
    buf.set(frame, HEADROOM)
    const verdict = engine.process(buf, HEADROOM, frame.length)
    engine.extra.clear()
    return verdict === Verdict.TX ? Buffer.from(buf.subarray(engine.outOffset, engine.outOffset + engine.outLength)) : null
  }
  const tcp = (srcPort: number, dstPort: number, flags: ('syn' | 'ack' | 'fin' | 'psh')[], seq: number, ack: number) => ({ srcPort, dstPort, flags, seq, ack, ...(flags.includes('syn') ? { mss: 1460 } : {}) })

  /** A backend's answer to the NVGRE frame `toBackend`, swapped inner addresses and ports. */
  const replyTo = (toBackend: Buffer, flags: ('syn' | 'ack' | 'fin' | 'psh')[], payload?: string): Buffer => {
    const f = parseFrame(toBackend)!
    const inner = f.inner!
    const spec: FrameSpec = {
      eth: { src: f.eth.dst, dst: PA_MAC },
      ipv4: { src: f.ipv4!.dst, dst: PA },
      nvgre: {
        vsid: f.gre!.vsid,
        flowId: 0x42,
        inner: {
          eth: { src: inner.eth.dst, dst: GW_MAC },
          ipv4: { src: inner.ipv4!.dst, dst: inner.ipv4!.src, df: true },
          tcp: tcp(inner.tcp!.dstPort, inner.tcp!.srcPort, flags, 9000, inner.tcp!.seq + 1),
          ...(payload === undefined ? {} : { payload }),
        },
      },
    }
    return buildFrame(spec)
  }

  emit(buildFrame({ eth: { src: CLIENT_MAC, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 'request', senderMac: CLIENT_MAC, senderIp: CLIENT, targetIp: '203.0.113.10' } }))

  // Public VIPs: a client connects to Blue and to Red, each backend answers.
  for (const [vip, sport] of [['203.0.113.10', 40001], ['203.0.113.20', 40002]] as const) {
    const syn = buildFrame({ eth: { src: CLIENT_MAC, dst: EXT_MAC }, ipv4: { src: CLIENT, dst: vip, df: true }, tcp: tcp(sport, 80, ['syn'], 1000, 0) })
    const toBackend = emit(syn)!
    emit(replyTo(toBackend, ['syn', 'ack']))
    emit(buildFrame({ eth: { src: CLIENT_MAC, dst: EXT_MAC }, ipv4: { src: CLIENT, dst: vip, df: true }, tcp: tcp(sport, 80, ['ack', 'psh'], 1001, 9001), payload: 'GET / HTTP/1.1\r\nHost: vip\r\n\r\n' }))
    emit(replyTo(toBackend, ['ack', 'psh'], 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nbackend\r\n'))
  }

  // CA VIPs: blue-vm11 (VSID 5002) and red-vm11 (VSID 6002), same CA 10.1.5.20, same VIP 10.1.5.100.
  for (const [vsid, vmMac] of [[5002, '00:15:5d:01:05:20'], [6002, '00:15:5d:02:05:20']] as const) {
    const syn = buildFrame({
      eth: { src: HOST4_MAC, dst: PA_MAC },
      ipv4: { src: HOST4, dst: PA },
      nvgre: { vsid, flowId: 7, inner: { eth: { src: vmMac, dst: GW_MAC }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100', df: true }, tcp: tcp(33000, 80, ['syn'], 500, 0) } },
    })
    const toBackend = emit(syn)!
    // The backend's host writes the VIP's VSID into the key of the reply.
    const reply = parseFrame(replyTo(toBackend, ['syn', 'ack']))!
    emit(buildFrame({
      eth: { src: reply.eth.src, dst: PA_MAC },
      ipv4: { src: reply.ipv4!.src, dst: PA },
      nvgre: { vsid, flowId: 9, inner: { eth: { src: reply.inner!.eth.src, dst: GW_MAC }, ipv4: { src: reply.inner!.ipv4!.src, dst: reply.inner!.ipv4!.dst, df: true }, tcp: tcp(reply.inner!.tcp!.srcPort, reply.inner!.tcp!.dstPort, ['syn', 'ack'], 9000, 501) } },
    }))
  }

  // Frames nvlb must drop and count.
  const vm = { eth: { src: '00:15:5d:01:05:20', dst: GW_MAC }, ipv4: { src: '10.1.5.20', dst: '10.1.5.100' }, tcp: tcp(33001, 80, ['syn'], 1, 0) }
  emit(buildFrame({ eth: { src: HOST4_MAC, dst: PA_MAC }, ipv4: { src: HOST4, dst: PA }, nvgre: { vsid: 5002, flagsVersion: 0xa000, inner: vm } }))
  emit(buildFrame({ eth: { src: HOST4_MAC, dst: PA_MAC }, ipv4: { src: HOST4, dst: PA }, nvgre: { vsid: 0xffffff, inner: vm } }))
  emit(buildFrame({ eth: { src: CLIENT_MAC, dst: EXT_MAC }, ipv4: { src: CLIENT, dst: '203.0.113.10' }, tcp: tcp(40003, 443, ['syn'], 1, 0) }))
  emit(buildFrame({ eth: { src: CLIENT_MAC, dst: EXT_MAC }, ipv4: { src: CLIENT, dst: '203.0.113.10' }, tcp: tcp(40004, 80, ['syn'], 1, 0) }).subarray(0, 30) as Buffer)
  return pcap.toBuffer()
}

if (require.main === module) {
  const out = process.argv[2] ?? join(__dirname, 'blue-red.pcap')
  writeFileSync(out, makeCapture())
  process.stdout.write(`wrote ${out}\n`)
}
