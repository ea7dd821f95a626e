import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Compiler } from '../../lib/control/compiler'
import { validateConfig } from '../../lib/control/config-validate'
import type { NvlbConfig } from '../../lib/control/config-types'
import { Engine, HEADROOM, Verdict } from '../../lib/dataplane/engine'
import { DROP_REASON_NAMES } from '../../lib/dataplane/drop-reasons'
import { DROPS_BASE } from '../../lib/dataplane/counters'

export const REFERENCE_CONFIG_PATH = join(__dirname, '..', '..', 'examples', 'blue-red', 'config.json')

/** The reference deployment's configuration (DESIGN §7), validated. */
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

  constructor(config: NvlbConfig = referenceConfig(), maxFlows?: number) {
    this.engine = new Engine(maxFlows === undefined ? {} : { maxFlows })
    this.load(config)
    this.engine.tick(this.now)
  }

  load(config: NvlbConfig): void {
    this.engine.adopt(this.compiler.compile(config, ++this.generation))
  }

  send(frame: Uint8Array): Result {
    const buf = Buffer.alloc(HEADROOM + frame.length + 64)
    buf.set(frame, HEADROOM)
    const before = Array.from(this.engine.counters.values.subarray(DROPS_BASE, DROPS_BASE + DROP_REASON_NAMES.length))
    const verdict = this.engine.process(buf, HEADROOM, frame.length)
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
