import { Engine, HEADROOM, Verdict } from '../dataplane/engine'
import { PcapWriter, type PcapFile } from '../packet/pcap'

export interface ReplayResult {
  output: PcapWriter
  framesIn: number
  framesOut: number
}

/**
 * Feed every frame of a capture through one engine in order and collect
 * every frame it emits, in order, with the input frame's timestamp. The side
 * of each input frame is taken from the frame itself.
 */
export function replayCapture(engine: Engine, capture: PcapFile): ReplayResult {
  const output = new PcapWriter()
  const divisor = capture.nanosecond ? 1e9 : 1e6
  let framesOut = 0
  for (const record of capture.records) {
    engine.tick(record.seconds + record.fraction / divisor)
    const buf = Buffer.alloc(HEADROOM + record.data.length)
    buf.set(record.data, HEADROOM)
    const verdict = engine.process(buf, HEADROOM, record.data.length)
    const micros = capture.nanosecond ? Math.floor(record.fraction / 1000) : record.fraction
    if (verdict === Verdict.TX) {
      output.add(buf.subarray(engine.outOffset, engine.outOffset + engine.outLength), record.seconds, micros)
      framesOut++
    }
    const q = engine.extra
    for (let i = 0; i < q.count; i++) {
      output.add(q.buffer.subarray(q.offsets[i]!, q.offsets[i]! + q.lengths[i]!), record.seconds, micros)
      framesOut++
    }
    q.clear()
  }
  return { output, framesIn: capture.records.length, framesOut }
}
