import t from 'tap'
import { readFileSync } from 'node:fs'
import koffi from 'koffi'
import { adviseHugePages, HUGE_PAGE_BYTES } from '../../lib/dataplane/huge-pages'
import { FlowTable } from '../../lib/dataplane/flow-table'

/** transparent_hugepage is "always" or "madvise" (a huge page is given when asked). */
function hugePagesOffered(): boolean {
  try {
    return /\[(always|madvise)\]/.test(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))
  } catch {
    return false
  }
}

/** AnonHugePages (kB) of the mapping that holds `address`, from /proc/self/smaps. */
function hugeKbAt(address: number): number {
  let inside = false
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line)
    if (range !== null) inside = parseInt(range[1]!, 16) <= address && address < parseInt(range[2]!, 16)
    else if (inside && line.startsWith('AnonHugePages:')) return Number(line.split(/\s+/)[1])
  }
  return 0
}

/** A counter of /proc/vmstat (0 where it is missing). */
function vmstat(name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(readFileSync('/proc/vmstat', 'utf8'))
  return m === null ? 0 : Number(m[1])
}

t.test('an array smaller than a huge page is left alone', async (t) => {
  t.equal(adviseHugePages(new Int32Array(1024)), false)
  t.equal(adviseHugePages(new Int32Array(HUGE_PAGE_BYTES / 4 - 1)), false)
})

t.test('a large array asked for huge pages gets them once written, its contents unchanged', { skip: hugePagesOffered() ? false : 'transparent huge pages are not offered here' }, async (t) => {
  // Larger than glibc's largest mmap threshold (32 MB): fresh, untouched pages, not a reused heap chunk
  // that calloc has already written (pages touched before the advice stay small).
  const array = new Int32Array((20 * HUGE_PAGE_BYTES) / 4)
  t.equal(adviseHugePages(array), true)
  const fallbacks = vmstat('thp_fault_fallback')
  array.fill(7)
  t.equal(array[0], 7)
  t.equal(array[array.length - 1], 7)
  const huge = hugeKbAt(Number(koffi.address(array)) + HUGE_PAGE_BYTES)
  // A kernel with no free huge page at that moment (memory fragmented by the rest of the suite)
  // falls back to small pages and counts it: the advice was still taken.
  if (huge === 0 && vmstat('thp_fault_fallback') > fallbacks) t.pass('no free huge page: the kernel tried one and fell back (thp_fault_fallback grew)')
  else t.ok(huge >= HUGE_PAGE_BYTES / 1024, 'the mapping holds at least one huge page')
})

t.test('a flow table is the same with or without huge pages', async (t) => {
  const ft = new FlowTable(1 << 17)
  t.ok(ft.bytesPerFlow <= 64)
  t.equal(ft.count, 0)
  const heads = new Int32Array(1)
  ft.headsOf(new Uint8Array(1), new Int32Array([12345]), heads, 1)
  t.equal(heads[0], -1, 'buckets start empty')
})
