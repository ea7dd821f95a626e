/**
 * Fuzz target: Engine.process with the reference configuration (examples/blue-red), inputs
 * being short frame sequences (engine-session.ts). One session (engine) serves many inputs,
 * the way one engine serves a port: state carries over, and a fresh session is started every
 * RESET_EVERY inputs. A finding is reproduced from a fresh session, first with its input
 * alone, else with the inputs since the session started, then minimised frame by frame and
 * byte by byte.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Engine as EngineType } from '../lib/dataplane/engine'
import type { Compiler as CompilerType } from '../lib/control/compiler'
import type { Snapshot } from '../lib/dataplane/snapshot'
import { referenceConfig } from '../test/helpers/engine-harness'
import { readPcap } from '../lib/packet/pcap'
import { parseFrame } from '../lib/packet/frame'
import { REPO_ROOT, loadInstrumented } from './instrument'
import { Invariants } from './invariants'
import { EngineSession, MAX_FRAMES, decodeFrames, decodeSession, encodeFrames, encodeSession, variantConfig, type FrameRecord } from './engine-session'
import type { Finding, Target } from './fuzzer'
import { MAX_FRAME, mutateBytes, type Rng } from './mutate'
import { fixupFrame } from './packet-fixup'
import { packetCaseSequences } from './seeds'
import { configDictionary } from './dictionary'

const RESET_EVERY = 2000
const MINIMISE_MS = 20000

function sameFinding(a: Finding | null, b: Finding): boolean {
  return a !== null && a.kind === b.kind && a.detail.replace(/\d+/g, 'N') === b.detail.replace(/\d+/g, 'N')
}

export class EngineTarget implements Target {
  readonly name = 'engine'
  readonly coverage = ['lib/dataplane/']
  unitsOfLastRun = 0
  private readonly EngineCtor: new (o: { maxFlows?: number; extraSlots?: number }) => EngineType
  private readonly snapshot: Snapshot
  private readonly alternate: Snapshot
  private readonly invariants: Invariants
  private session: EngineSession
  private inputsInSession = 0
  private broken = false
  /** Inputs run on the current session, to reproduce what depends on state. */
  private history: Uint8Array[] = []
  private readonly dictionary: Uint8Array[]

  constructor() {
    const engineModule = loadInstrumented<{ Engine: new (o: { maxFlows?: number; extraSlots?: number }) => EngineType }>(join(REPO_ROOT, 'lib/dataplane/engine.ts'))
    const compilerModule = loadInstrumented<{ Compiler: new () => CompilerType }>(join(REPO_ROOT, 'lib/control/compiler.ts'))
    const config = referenceConfig()
    this.EngineCtor = engineModule.Engine
    const compiler = new compilerModule.Compiler()
    this.snapshot = compiler.compile(config, 1)
    this.alternate = compiler.compile(variantConfig(config), 2)
    this.invariants = new Invariants(config)
    // The variant's words are the reference's and its peer instance's PA.
    this.dictionary = configDictionary(variantConfig(config))
    this.session = this.fresh()
  }

  private fresh(): EngineSession {
    return new EngineSession(this.EngineCtor, this.snapshot, this.invariants, this.alternate)
  }

  seeds(): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const seq of packetCaseSequences()) {
      for (let i = 0; i < seq.length; i += MAX_FRAMES) out.push(encodeFrames(seq.slice(i, i + MAX_FRAMES)))
      // each frame alone too: it then meets the warm-up flows
      for (const r of seq) out.push(encodeFrames([{ control: 0, frame: r.frame }]))
    }
    const dir = join(REPO_ROOT, 'examples/replay')
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.pcap')).sort()) {
      const records = readPcap(readFileSync(join(dir, name))).records
      let previous = records[0]?.seconds ?? 0
      const seq: FrameRecord[] = records.map((r) => {
        const advance = Math.min(127, Math.max(0, Math.round((r.seconds - previous) / 2)))
        previous = r.seconds
        return { control: advance > 0 ? 0x80 | advance : 0, frame: r.data }
      })
      for (let i = 0; i < seq.length; i += MAX_FRAMES) out.push(encodeFrames(seq.slice(i, i + MAX_FRAMES)))
      for (const r of seq) out.push(encodeFrames([{ control: 0, frame: r.frame }]))
    }
    return out
  }

  run(input: Uint8Array): Finding | null {
    // after a finding the state may be broken (an endless loop cut short): start again
    if (++this.inputsInSession > RESET_EVERY || this.broken) {
      this.broken = false
      this.session = this.fresh()
      this.inputsInSession = 1
      this.history = []
    }
    this.history.push(input)
    const records = decodeFrames(input)
    this.unitsOfLastRun = records.length
    const finding = this.session.run(records)
    if (finding !== null) this.broken = true
    return finding
  }

  replay(input: Uint8Array): Finding | null {
    return this.fresh().replay(decodeSession(input))
  }

  minimise(input: Uint8Array, finding: Finding): Uint8Array | null {
    // Bounded effort: a finding is worth some seconds, not the rest of the run.
    const deadline = Date.now() + MINIMISE_MS
    const fails = (inputs: Uint8Array[]): boolean => sameFinding(this.fresh().replay(inputs), finding)
    let inputs = [input]
    if (!fails(inputs)) {
      // It depends on state: the inputs this session has run, then the shortest tail of them that reproduces it.
      const all = this.history.slice()
      if (!fails(all)) return null
      let lo = 0
      let hi = all.length - 1
      while (lo < hi && Date.now() < deadline) {
        const mid = (lo + hi + 1) >> 1
        if (fails(all.slice(mid))) lo = mid
        else hi = mid - 1
      }
      inputs = all.slice(lo)
      // ddmin over inputs
      for (let chunk = Math.max(1, inputs.length >> 1); chunk >= 1 && Date.now() < deadline; chunk = chunk === 1 ? 0 : chunk >> 1) {
        for (let at = 0; at < inputs.length && Date.now() < deadline; ) {
          const candidate = [...inputs.slice(0, at), ...inputs.slice(at + chunk)]
          if (candidate.length > 0 && fails(candidate)) inputs = candidate
          else at += chunk
        }
      }
    }
    // Within each input: frames, then control bits, then bytes at the end of frames.
    const edit = (k: number, records: FrameRecord[]): Uint8Array[] => inputs.map((x, j) => (j === k ? encodeFrames(records) : x))
    for (let k = 0; k < inputs.length && Date.now() < deadline; k++) {
      let records = decodeFrames(inputs[k]!)
      for (let at = 0; at < records.length && Date.now() < deadline; ) {
        const candidate = [...records.slice(0, at), ...records.slice(at + 1)]
        if (candidate.length > 0 && fails(edit(k, candidate))) records = candidate
        else at++
      }
      for (let i = 0; i < records.length && Date.now() < deadline; i++) {
        if (records[i]!.control === 0) continue
        const candidate = records.map((r, j) => (j === i ? { control: 0, frame: r.frame } : r))
        if (fails(edit(k, candidate))) records = candidate
      }
      for (let i = 0; i < records.length && Date.now() < deadline; i++) {
        for (let cut = records[i]!.frame.length >> 1; cut >= 1 && Date.now() < deadline; cut >>= 1) {
          while (records[i]!.frame.length > cut && Date.now() < deadline) {
            const candidate = records.map((r, j) => (j === i ? { control: r.control, frame: r.frame.subarray(0, r.frame.length - cut) } : r))
            if (fails(edit(k, candidate))) records = candidate
            else break
          }
        }
      }
      inputs = edit(k, records.map((r) => ({ control: r.control, frame: r.frame.slice() })))
    }
    return inputs.length === 1 ? inputs[0]! : encodeSession(inputs)
  }

  mutate(rng: Rng, input: Uint8Array, other: Uint8Array): Uint8Array {
    if (rng.chance(16)) return mutateBytes(rng, input, this.dictionary, other, MAX_FRAMES * (MAX_FRAME + 3))
    const records = decodeFrames(input)
    const others = decodeFrames(other)
    if (records.length === 0) return others.length > 0 ? other : input
    const op = rng.below(12)
    if (op <= 6) {
      const i = rng.below(records.length)
      const donor = others.length > 0 ? others[rng.below(others.length)]!.frame : null
      const frame = mutateBytes(rng, records[i]!.frame, this.dictionary, donor)
      const how = rng.below(4)
      if (how === 0) fixupFrame(frame, false)
      else if (how === 1) fixupFrame(frame, true)
      records[i] = { control: records[i]!.control, frame }
    } else if (op === 7 && records.length < MAX_FRAMES && others.length > 0) {
      records.splice(rng.below(records.length + 1), 0, others[rng.below(others.length)]!)
    } else if (op === 8 && records.length > 1) {
      records.splice(rng.below(records.length), 1)
    } else if (op === 9 && records.length < MAX_FRAMES) {
      const i = rng.below(records.length)
      records.splice(i, 0, records[i]!)
    } else if (op === 10 && records.length > 1) {
      const i = rng.below(records.length)
      const j = rng.below(records.length)
      const tmp = records[i]!
      records[i] = records[j]!
      records[j] = tmp
    } else {
      const i = rng.below(records.length)
      // time steps, batch mode (bit 6 of the first frame), a configuration switch (bit 6 of another)
      records[i] = { control: rng.chance(2) ? rng.below(2) << 6 : 0x80 | rng.below(128), frame: records[i]!.frame }
    }
    return encodeFrames(records)
  }

  describe(input: Uint8Array): string {
    const inputs = decodeSession(input)
    const head = inputs.length > 1 ? `  (a session of ${inputs.length} inputs; the last one:)\n` : ''
    return head + decodeFrames(inputs[inputs.length - 1]!)
      .map((r) => {
        const f = parseFrame(r.frame)
        const what = f === null ? 'unparsed' : f.gre !== null ? `NVGRE vsid ${f.gre.vsid} ${f.inner?.ipv4?.src ?? '?'} → ${f.inner?.ipv4?.dst ?? '?'}` : f.ipv4 !== null ? `IPv4 ${f.ipv4.src} → ${f.ipv4.dst} proto ${f.ipv4.protocol}` : f.arp !== null ? 'ARP' : `ethertype ${f.eth.ethertype}`
        return `  control ${r.control}: ${what}\n    ${Buffer.from(r.frame).toString('hex')}`
      })
      .join('\n')
  }
}
