import t from 'tap'
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { trimNativeHeapAfterGc } from '../../lib/io/native-heap-trim'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function rss(): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024
}

const CHUNK = 32 * 1024
const COUNT = 4096 // 128 MB, of which every other chunk is freed: 64 MB in holes of the malloc heap

/** ArrayBuffers written (so resident), then every other one dropped: free chunks glibc cannot hand back by shrinking the heap's top. */
function fragmentedHeap(): ArrayBuffer[] {
  const all: ArrayBuffer[] = []
  for (let i = 0; i < COUNT; i++) {
    const buffer = new ArrayBuffer(CHUNK)
    new Uint8Array(buffer).fill(1)
    all.push(buffer)
  }
  return all.filter((_, i) => i % 2 === 1)
}

t.test('the free pages of collected ArrayBuffers go back to the kernel after a major GC', async (t) => {
  // Without the trimmer the freed chunks stay resident.
  const kept = fragmentedHeap()
  const before = rss()
  gc()
  const untrimmed = rss()
  t.ok(before - untrimmed < 16 * 1024 * 1024, `without the trimmer RSS fell by ${((before - untrimmed) / 1e6).toFixed(1)} MB only (64 MB freed)`)

  let released = false
  const trimmed = new Promise<void>((resolve) => {
    const stop = trimNativeHeapAfterGc(10, (r) => {
      released = r
      stop()
      resolve()
    })
  })
  const more = fragmentedHeap()
  const withMore = rss()
  gc()
  const timeout = setTimeout(() => t.fail('no trim within 10 s of a major GC'), 10_000)
  await trimmed
  clearTimeout(timeout)
  const after = rss()
  t.ok(released, 'malloc_trim released pages')
  t.ok(withMore - after > 48 * 1024 * 1024, `RSS fell by ${((withMore - after) / 1e6).toFixed(1)} MB (128 MB freed in two rounds)`)
  t.equal(kept.length + more.length, COUNT, 'the kept buffers are still alive')
})
