import { Worker, isMainThread, workerData } from 'node:worker_threads'
import { readFileSync, writeFileSync } from 'node:fs'
if (isMainThread) {
  const shared = new SharedArrayBuffer(1 << 16)
  const cov = new Uint8Array(shared)
  const w = new Worker(__filename, { workerData: { shared, file: process.argv[2] }, execArgv: ['--require', require.resolve('tsx/cjs')] })
  let snap: Uint8Array | null = null
  let ticks = 0
  const timer = setInterval(() => {
    ticks++
    if (ticks === 40) snap = cov.slice()
    if (ticks === 41 && snap) {
      const sites = JSON.parse(readFileSync('/tmp/fz-sites.json', 'utf8'))
      const changed: string[] = []
      for (let i = 0; i < sites.length; i++) if (cov[i] !== snap[i]) changed.push(`${sites[i].file}:${sites[i].line}`)
      console.log('sites changing while stuck:', changed.join(' '))
      clearInterval(timer); void w.terminate()
    }
  }, 500)
} else {
  const { shared, file } = workerData
  ;(globalThis as any).__nvlbFuzzCoverage = new Uint8Array(shared)
  const { EngineTarget } = require('./engine-target')
  const { sites } = require('./instrument')
  const { decodeFrames } = require('./engine-session')
  const t = new EngineTarget()
  writeFileSync('/tmp/fz-sites.json', JSON.stringify(sites))
  const s = t.fresh()
  const buf = readFileSync(file)
  for (let p = 0; p + 4 <= buf.length; ) { const n = buf.readUInt32BE(p); s.run(decodeFrames(buf.subarray(p + 4, p + 4 + n))); p += 4 + n }
  console.log('finished without hang')
}
