/**
 * Fuzz targets: every codec's decode in lib/packet (ethernet, arp, ipv4, tcp, udp, icmp,
 * nvgre), the frame parser (parseFrame) and the pcap reader. An input is [offset byte][bytes]:
 * decode runs at (offset & 7) inside the bytes. Checked on every input:
 *
 * - no exception (the pcap reader may throw NvlbError PCAP_FORMAT, and nothing else);
 * - decode returns a failure (< 0) or a length that lies inside the buffer;
 * - what decode read encodes back: encode(decoded) returns the same length, and decoding
 *   that again gives the same value once more (decode ∘ encode is stable).
 */
import { isDeepStrictEqual } from 'node:util'
import { join } from 'node:path'
import { readFileSync, readdirSync } from 'node:fs'
import { REPO_ROOT, loadInstrumented } from './instrument'
import type { Finding, Target } from './fuzzer'
import { mutateBytes, type Rng } from './mutate'
import { packetCaseSequences } from './seeds'
import { configDictionary } from './dictionary'
import { referenceConfig } from '../test/helpers/engine-harness'

interface Codec {
  decode(buf: Uint8Array, off: number, out: unknown): number
  encode(v: unknown, buf: Uint8Array, off: number): number
  create(): unknown
}

function codecOf(file: string, create: string): Codec {
  const m = loadInstrumented<Record<string, (...a: unknown[]) => unknown>>(join(REPO_ROOT, 'lib/packet', file))
  return { decode: m.decode as Codec['decode'], encode: m.encode as Codec['encode'], create: m[create] as Codec['create'] }
}

/** Where each codec's header starts in the seed frames (plain and NVGRE). */
const LAYER_OFFSETS = [0, 14, 18, 34, 38, 42, 54, 56, 62, 76]

function exceptionFinding(err: unknown): Finding {
  const e = err as Error
  const at = (e.stack ?? '').split('\n').find((l) => l.includes('/lib/'))?.trim() ?? ''
  return { kind: 'exception', detail: `${e.name}: ${e.message} ${at.replace(/\(.*\/(lib\/[^)]*)\)/, '($1)')}` }
}

abstract class BytesTarget implements Target {
  abstract readonly name: string
  abstract readonly coverage: readonly string[]
  unitsOfLastRun = 1
  private readonly dictionary = configDictionary(referenceConfig())

  abstract check(buf: Uint8Array, off: number): Finding | null

  protected frameSeeds(): Uint8Array[] {
    const frames: Uint8Array[] = []
    for (const seq of packetCaseSequences()) for (const r of seq) frames.push(r.frame)
    return frames
  }

  seeds(): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const f of this.frameSeeds()) {
      for (const at of LAYER_OFFSETS) {
        if (at >= f.length) continue
        const input = new Uint8Array(1 + f.length - at)
        input[0] = 0
        input.set(f.subarray(at), 1)
        out.push(input)
      }
    }
    return out
  }

  run(input: Uint8Array): Finding | null {
    if (input.length === 0) return null
    try {
      return this.check(input.subarray(1), input[0]! & 7)
    } catch (err) {
      return exceptionFinding(err)
    }
  }

  replay(input: Uint8Array): Finding | null {
    return this.run(input)
  }

  minimise(input: Uint8Array, finding: Finding): Uint8Array | null {
    const fails = (x: Uint8Array): boolean => {
      const f = this.run(x)
      return f !== null && f.kind === finding.kind
    }
    if (!fails(input)) return null
    let best = input
    for (let chunk = best.length >> 1; chunk >= 1; chunk >>= 1) {
      for (let at = 1; at < best.length; ) {
        const candidate = new Uint8Array(best.length - Math.min(chunk, best.length - at))
        candidate.set(best.subarray(0, at))
        candidate.set(best.subarray(at + chunk), at)
        if (fails(candidate)) best = candidate
        else at += chunk
      }
    }
    return best.slice()
  }

  mutate(rng: Rng, input: Uint8Array, other: Uint8Array): Uint8Array {
    const out = mutateBytes(rng, input, this.dictionary, other, 2048)
    return out.length === 0 ? Uint8Array.of(0) : out
  }

  describe(input: Uint8Array): string {
    return `  offset ${input[0]! & 7}: ${Buffer.from(input.subarray(1)).toString('hex')}`
  }
}

export class CodecTarget extends BytesTarget {
  readonly coverage: readonly string[]
  private readonly codec: Codec

  constructor(readonly name: string, file: string, create: string) {
    super()
    this.codec = codecOf(file, create)
    this.coverage = [`lib/packet/${file}`]
  }

  check(buf: Uint8Array, off: number): Finding | null {
    const c = this.codec
    const first = c.create()
    const n = c.decode(buf, off, first)
    if (n < 0) return null
    if (n === 0 || off + n > buf.length) return { kind: 'decode_length', detail: `decode at ${off} of ${buf.length} bytes returned ${n}` }
    const copy = Uint8Array.from(buf)
    const written = c.encode(first, copy, off)
    if (written !== n) return { kind: 'round_trip', detail: `decode read ${n} bytes, encode of that wrote ${written}` }
    const second = c.create()
    if (c.decode(copy, off, second) !== n) return { kind: 'round_trip', detail: 're-encoded header does not decode' }
    const again = Uint8Array.from(copy)
    c.encode(second, again, off)
    const third = c.create()
    c.decode(again, off, third)
    if (!isDeepStrictEqual(second, third)) return { kind: 'round_trip', detail: `decode ∘ encode not stable: ${JSON.stringify(second)} vs ${JSON.stringify(third)}` }
    return null
  }
}

export class FrameParserTarget extends BytesTarget {
  readonly name = 'frame'
  readonly coverage = ['lib/packet/frame.ts']
  private readonly parseFrame = loadInstrumented<{ parseFrame: (b: Uint8Array) => unknown }>(join(REPO_ROOT, 'lib/packet/frame.ts')).parseFrame

  check(buf: Uint8Array, off: number): Finding | null {
    this.parseFrame(buf.subarray(off))
    return null
  }
}

export class PcapTarget extends BytesTarget {
  readonly name = 'pcap'
  readonly coverage = ['lib/packet/pcap.ts']
  private readonly readPcap = loadInstrumented<{ readPcap: (b: Buffer) => unknown }>(join(REPO_ROOT, 'lib/packet/pcap.ts')).readPcap

  check(buf: Uint8Array, off: number): Finding | null {
    try {
      const at = Math.min(off, buf.length)
      this.readPcap(Buffer.from(buf.buffer, buf.byteOffset + at, buf.length - at))
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code !== 'NVLB_ERR_PCAP_FORMAT') return exceptionFinding(err)
    }
    return null
  }

  override seeds(): Uint8Array[] {
    const dir = join(REPO_ROOT, 'examples/replay')
    return readdirSync(dir)
      .filter((n) => n.endsWith('.pcap'))
      .sort()
      .map((n) => {
        const file = readFileSync(join(dir, n))
        const input = new Uint8Array(1 + file.length)
        input.set(file, 1)
        return input
      })
  }
}

export function codecTargets(): BytesTarget[] {
  return [
    new CodecTarget('ethernet', 'ethernet.ts', 'createEthernetHeader'),
    new CodecTarget('arp', 'arp.ts', 'createArpPacket'),
    new CodecTarget('ipv4', 'ipv4.ts', 'createIpv4Header'),
    new CodecTarget('tcp', 'tcp.ts', 'createTcpHeader'),
    new CodecTarget('udp', 'udp.ts', 'createUdpHeader'),
    new CodecTarget('icmp', 'icmp.ts', 'createIcmpHeader'),
    new CodecTarget('nvgre', 'nvgre.ts', 'createNvgreHeader'),
    new FrameParserTarget(),
    new PcapTarget(),
  ]
}
