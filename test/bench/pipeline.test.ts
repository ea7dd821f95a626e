import t from 'tap'
import { main, run, Clock, type Batch } from '../../bench/pipeline'
import { Engine, HEADROOM } from '../../lib/dataplane/engine'
import { Compiler } from '../../lib/control/compiler'
import { fromClient, referenceConfig } from '../helpers/engine-harness'

async function captureStdout(f: () => Promise<unknown>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout)
  let out = ''
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  }) as typeof process.stdout.write
  try {
    await f()
  } finally {
    process.stdout.write = write
  }
  return out
}

t.test('bench pipeline --json: one metric per line, every path, the flood keeps every established flow', async (t) => {
  const out = await captureStdout(() => main(['--json', '--flows', '300', '--rounds', '3', '--packets', '3000']))
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  for (const m of lines) t.same(Object.keys(m), ['name', 'value', 'unit', 'target', 'better'], `${String(m.name)}: the metric line format`)
  const byName = new Map(lines.map((m) => [m.name as string, m]))
  for (const name of ['engine.known_flow.mpps', 'engine.return.mpps', 'engine.ca_vip.mpps', 'engine.new_flow.mpps', 'flood.established.mpps', 'flow.bytes_per_flow', 'maglev.build_ms']) {
    t.ok(byName.has(name), name)
  }
  for (const name of ['engine.known_flow', 'engine.return', 'engine.ca_vip', 'flood.established']) {
    const median = byName.get(`${name}.mpps`)!.value as number
    const best = byName.get(`${name}.best_mpps`)!.value as number
    t.ok(median > 0 && best >= median, `${name}: best ${best} ≥ median ${median} > 0`)
  }
  t.same(byName.get('flood.established_kept_pct'), { name: 'flood.established_kept_pct', value: 100, unit: '%', target: 100, better: 'higher' })
  t.ok((byName.get('flow.bytes_per_flow')!.value as number) <= 64)
})

function engineWithReference(): Engine {
  const engine = new Engine({ maxFlows: 1024 })
  engine.adopt(new Compiler().compile(referenceConfig(), 1))
  return engine
}

const fillFrom = (frame: Buffer) => (b: Batch, at: number): number => {
  frame.copy(b.buf, at)
  return frame.length
}

t.test('a timed run fails when a frame is dropped or its output is wrong, and the clock advances', async (t) => {
  const engine = engineWithReference()
  const clock = new Clock(1000)
  const good = fromClient({ sport: 40000 })
  t.ok(run(engine, clock, 0, 5000, fillFrom(good), () => null) > 0)
  t.ok(clock.now > 1000, 'the clock moved with the CPU time spent')
  const dropped = fromClient({ sport: 40001, vip: '203.0.113.99' })
  t.throws(() => run(engine, clock, 0, 10, fillFrom(dropped), () => null), /verdict/)
  t.throws(() => run(engine, clock, 0, 10, fillFrom(good), (_b, _i, k) => (k === 7 ? 'wrong backend' : null)), /packet 7: wrong backend/)
  t.ok(HEADROOM > 0)
})
