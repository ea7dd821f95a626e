import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Compiler } from '../../lib/control/compiler'
import { validateConfig } from '../../lib/control/config-validate'
import type { NvlbConfig } from '../../lib/control/config-types'
import { Engine, HEADROOM, Verdict } from '../../lib/dataplane/engine'
import { buildFrame, parseFrame } from '../../lib/packet/frame'
import { DROP_REASON_NAMES } from '../../lib/dataplane/drop-reasons'
import { DROPS_BASE, G_SWEPT_EPOCH } from '../../lib/dataplane/counters'

export const REFERENCE_CONFIG_PATH = join(__dirname, '..', '..', 'examples', 'blue-red', 'config.json')

/** The reference deployment's configuration, validated. */
export function referenceConfig(): NvlbConfig {
  return validateConfig(JSON.parse(readFileSync(REFERENCE_CONFIG_PATH, 'utf8')))
}

export interface Emitted {
  frame: Buffer
  side: number
}

export interface Result {
  verdict: number
  /** The frame sent in place (TX) followed by the extra frames, in order. */
  out: Emitted[]
  /** Drop reasons counted while processing this frame. */
  drops: string[]
}

/** One engine fed frame by frame the way a port does it. */
export class Harness {
  readonly engine: Engine
  readonly compiler = new Compiler()
  private generation = 0
  now = 1000

  /** Run every frame through Engine.prefetch() first, the way a port's batch loop does. */
  readonly prefetch: boolean

  constructor(config: NvlbConfig = referenceConfig(), options: { maxFlows?: number; extraSlots?: number; unconfigured?: boolean; prefetch?: boolean; workerCount?: number } = {}) {
    this.prefetch = options.prefetch === true
    // A small table keeps tests fast; the bench and the flow-table tests size it themselves.
    this.engine = new Engine({
      maxFlows: options.maxFlows ?? 65536,
      ...(options.extraSlots === undefined ? {} : { extraSlots: options.extraSlots }),
      ...(options.workerCount === undefined ? {} : { workerCount: options.workerCount }),
    })
    if (options.unconfigured !== true) this.load(config)
    this.engine.tick(this.now)
  }

  load(config: NvlbConfig): void {
    // Ids the engine has let go of may be reused, as the control plane does it.
    this.engine.adopt(this.compiler.compile(config, ++this.generation, undefined, this.engine.counters.values[G_SWEPT_EPOCH]))
  }

  /** `side`: the interface the frame arrives on (engine SIDE_ANY, the default, when one carries both). */
  send(frame: Uint8Array, side?: number): Result {
    const buf = Buffer.alloc(HEADROOM + frame.length + 64)
    buf.set(frame, HEADROOM)
    const before = Array.from(this.engine.counters.values.subarray(DROPS_BASE, DROPS_BASE + DROP_REASON_NAMES.length))
    if (this.prefetch) this.engine.prefetch(buf, Int32Array.of(HEADROOM), Int32Array.of(frame.length), 1)
    const verdict = this.engine.process(buf, HEADROOM, frame.length, side)
    const out: Emitted[] = []
    if (verdict === Verdict.TX) {
      out.push({ frame: Buffer.from(buf.subarray(this.engine.outOffset, this.engine.outOffset + this.engine.outLength)), side: this.engine.outSide })
    }
    const q = this.engine.extra
    for (let i = 0; i < q.count; i++) {
      out.push({ frame: Buffer.from(q.buffer.subarray(q.offsets[i]!, q.offsets[i]! + q.lengths[i]!)), side: q.sides[i]! })
    }
    q.clear()
    const drops: string[] = []
    DROP_REASON_NAMES.forEach((name, r) => {
      const n = this.engine.counters.values[DROPS_BASE + r]! - before[r]!
      for (let k = 0; k < n; k++) drops.push(name)
    })
    return { verdict, out, drops }
  }

  advance(seconds: number): void {
    this.now += seconds
    this.engine.tick(this.now)
  }
}

export const MAC = {
  client: '02:00:c6:33:64:0a',
  external: '02:00:c6:33:64:01',
  provider: '02:00:c0:a8:06:02',
  gateway: '02:00:00:00:00:01',
  host4: '02:00:c0:a8:06:07',
} as const

type Flag = 'syn' | 'ack' | 'fin' | 'rst' | 'psh'

/** A client on the Internet → a public VIP. */
export function fromClient(opts: { vip?: string; sport: number; dport?: number; flags?: Flag[]; payload?: string; client?: string; df?: boolean; udp?: boolean; mss?: number; srcMac?: string; seq?: number; ack?: number }): Buffer {
  const l4 = { srcPort: opts.sport, dstPort: opts.dport ?? 80 }
  return buildFrame({
    eth: { src: opts.srcMac ?? MAC.client, dst: MAC.external },
    ipv4: { src: opts.client ?? '198.51.100.10', dst: opts.vip ?? '203.0.113.10', df: opts.df ?? true },
    ...(opts.udp === true ? { udp: l4 } : { tcp: { ...l4, seq: opts.seq ?? 1000, ...(opts.ack === undefined ? {} : { ack: opts.ack }), flags: opts.flags ?? ['syn'], ...(opts.mss === undefined ? {} : { mss: opts.mss }) } }),
    ...(opts.payload === undefined ? {} : { payload: opts.payload }),
  })
}

/** A tenant VM on host4 (blue-vm11 / red-vm11, CA 10.1.5.20) → a CA VIP, as its host encapsulates it. */
export function fromAppTier(opts: { vsid: number; sport: number; vip?: string; dport?: number; flags?: Flag[]; src?: string; vmMac?: string; udp?: boolean; payload?: string; seq?: number; ack?: number }): Buffer {
  const l4 = { srcPort: opts.sport, dstPort: opts.dport ?? 80 }
  return buildFrame({
    eth: { src: MAC.host4, dst: MAC.provider },
    ipv4: { src: '192.168.6.7', dst: '192.168.6.2' },
    nvgre: {
      vsid: opts.vsid,
      inner: {
        eth: { src: opts.vmMac ?? '00:15:5d:01:05:20', dst: MAC.gateway },
        ipv4: { src: opts.src ?? '10.1.5.20', dst: opts.vip ?? '10.1.5.100', df: true },
        ...(opts.udp === true ? { udp: l4 } : { tcp: { ...l4, seq: opts.seq ?? 500, ...(opts.ack === undefined ? {} : { ack: opts.ack }), flags: opts.flags ?? ['syn'] } }),
        ...(opts.payload === undefined ? {} : { payload: opts.payload }),
      },
    },
  })
}

/**
 * The backend's answer to an NVGRE frame nvlb sent it: inner addresses and
 * ports swapped, from the backend's host, with `vsid` in the key (default:
 * the key nvlb used).
 */
export function replyTo(sent: Buffer, opts: { vsid?: number; flags?: Flag[]; payload?: string; src?: string; seq?: number; ack?: number } = {}): Buffer {
  const f = parseFrame(sent)!
  const inner = f.inner!
  const udp = inner.udp
  return buildFrame({
    eth: { src: f.eth.dst, dst: MAC.provider },
    ipv4: { src: f.ipv4!.dst, dst: '192.168.6.2' },
    nvgre: {
      vsid: opts.vsid ?? f.gre!.vsid,
      inner: {
        eth: { src: inner.eth.dst, dst: MAC.gateway },
        ipv4: { src: opts.src ?? inner.ipv4!.dst, dst: inner.ipv4!.src, df: true },
        ...(udp !== null
          ? { udp: { srcPort: udp.dstPort, dstPort: udp.srcPort } }
          : { tcp: { srcPort: inner.tcp!.dstPort, dstPort: inner.tcp!.srcPort, seq: opts.seq ?? 9000, ack: opts.ack ?? inner.tcp!.seq + 1, flags: opts.flags ?? ['syn', 'ack'] } }),
        ...(opts.payload === undefined ? {} : { payload: opts.payload }),
      },
    },
  })
}
