/**
 * An independent opinion on nvlb's output: frames the engine emits for mutated seed inputs
 * (lengths and checksums made consistent, as the fuzzer's custom mutator does) are written to
 * a pcap and dissected by tshark with checksum validation on; none may be called bad.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Compiler } from '../lib/control/compiler'
import { Engine } from '../lib/dataplane/engine'
import { writePcap } from '../lib/packet/pcap'
import { referenceConfig } from '../test/helpers/engine-harness'
import { EngineSession } from './engine-session'
import { Invariants } from './invariants'
import { Rng, mutateBytes } from './mutate'
import { fixupFrame } from './packet-fixup'
import { packetCaseSequences } from './seeds'
import { configDictionary } from './dictionary'

export interface TsharkResult {
  frames: number
  bad: number
  note: string
}

/** Emitted frames (copies) for mutated seed frames, until `count` are collected. */
export function sampleOutputs(count: number, seed: number): Uint8Array[] {
  const config = referenceConfig()
  const invariants = new Invariants(config)
  const snapshot = new Compiler().compile(config, 1)
  const session = new EngineSession(Engine, snapshot, invariants)
  session.collect = true
  session.emitted()
  const rng = new Rng(seed)
  const dictionary = configDictionary(config)
  const seeds = packetCaseSequences().flat()
  const out: Uint8Array[] = []
  for (let i = 0; out.length < count && i < count * 50; i++) {
    let frame = seeds[rng.below(seeds.length)]!.frame
    if (!rng.chance(4)) {
      frame = mutateBytes(rng, frame, dictionary, null)
      // consistent input checksums: whatever nvlb then emits must have good ones
      fixupFrame(frame, rng.chance(2))
    }
    session.feed(0, frame)
    for (const f of session.emitted()) out.push(f)
  }
  return out.slice(0, count)
}

export function tsharkCheck(count: number, seed: number): TsharkResult {
  if (spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status !== 0) return { frames: 0, bad: 0, note: 'tshark is not installed' }
  const frames = sampleOutputs(count, seed)
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-fuzz-tshark-'))
  try {
    const file = join(dir, 'emitted.pcap')
    writeFileSync(file, writePcap(frames))
    const args = ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.defragment:FALSE', '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=,']
    for (const f of ['gre.proto', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status']) args.push('-e', f)
    const run = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 << 20 })
    if (run.status !== 0) return { frames: 0, bad: 0, note: `tshark failed: ${run.stderr.trim()}` }
    // Status 0 is "Bad" (1 good, 2 unverified). Counted: nvlb's own headers (the outer IPv4, the
    // inner one of NVGRE) and the first TCP/UDP/ICMP header; not the headers an ICMP error quotes.
    const lines = run.stdout.trimEnd().split('\n')
    let bad = 0
    for (const line of lines) {
      const [gre, ip, tcp, udp, icmp] = line.split('|').map((v) => (v ?? '').split(','))
      const ownIp = ip!.slice(0, gre![0] === '' ? 1 : 2)
      if (ownIp.includes('0') || tcp![0] === '0' || udp![0] === '0' || icmp![0] === '0') bad++
    }
    return { frames: frames.length, bad, note: '' }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
