import { Worker, isMainThread, workerData } from 'node:worker_threads'
import { writeFileSync } from 'node:fs'
const RING = 96 * 1024 * 1024
if (isMainThread) {
  const shared = new SharedArrayBuffer(16 + RING)
  const meta = new Int32Array(shared, 0, 4)
  const bytes = new Uint8Array(shared, 16)
  const w = new Worker(__filename, { workerData: { shared, seed: Number(process.argv[2] ?? 7) }, execArgv: ['--require', require.resolve('tsx/cjs')] })
  let last = -1, same = 0
  const timer = setInterval(() => {
    const beat = Atomics.load(meta, 0)
    if (beat === last && beat > 0) same++
    else { same = 0; last = beat }
    if (same >= 15) {
      const end = Atomics.load(meta, 1)
      writeFileSync('/tmp/fz-hang-session.bin', bytes.slice(0, end))
      console.log('HANG at input', beat, 'session bytes', end)
      void w.terminate(); clearInterval(timer)
    }
  }, 1000)
  w.on('exit', () => clearInterval(timer))
} else {
  const { shared, seed } = workerData as { shared: SharedArrayBuffer; seed: number }
  const meta = new Int32Array(shared, 0, 4)
  const bytes = new Uint8Array(shared, 16)
  const { makeTargets, runAll } = require('./run')
  const targets = makeTargets(['engine'])
  const t = targets[0]
  const run = t.run.bind(t)
  let p = 0
  t.run = (input: Uint8Array) => {
    if (t.inputsInSession + 1 > 2000) p = 0
    if (p + input.length + 4 < RING) { new DataView(shared, 16).setUint32(p, input.length); bytes.set(input, p + 4); p += input.length + 4 }
    Atomics.store(meta, 1, p); Atomics.add(meta, 0, 1)
    return run(input)
  }
  const reports = runAll(targets, { milliseconds: 90000 }, { seed, onProgress: (r: any) => console.log(r.executions, r.units) })
  console.log('done', reports[0].executions, reports[0].findings.map((f: any) => f.finding))
}
