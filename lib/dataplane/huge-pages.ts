/**
 * Transparent huge pages for the flow table's arrays. With a million flows a
 * known flow's packet reads a random bucket word and a random record, in
 * arrays of tens of megabytes: with 4 KiB pages nearly every such read also
 * misses the TLB, and the page walks (two-dimensional in a virtual machine)
 * cost about as much as the cache misses the prefetch pass overlaps. Linux
 * backs a range with 2 MiB pages when asked (madvise MADV_HUGEPAGE; the
 * default of most distributions, transparent_hugepage=madvise, does so only
 * when asked). Call before the array is first written: pages already touched
 * stay small. Best effort: where the call is not available nothing changes.
 */
import koffi from 'koffi'

/** The size of a transparent huge page on x86-64 and on arm64 with 4 KiB pages. */
export const HUGE_PAGE_BYTES = 2 * 1024 * 1024
/** linux/mman.h */
const MADV_HUGEPAGE = 14

let madvise: ((address: number, length: number, advice: number) => number) | null | undefined

function bind(): ((address: number, length: number, advice: number) => number) | null {
  if (madvise === undefined) {
    try {
      madvise = koffi.load('libc.so.6').func('int madvise(uintptr_t addr, size_t length, int advice)') as (address: number, length: number, advice: number) => number
    } catch {
      madvise = null
    }
  }
  return madvise
}

/** Ask for huge pages for the whole huge pages inside `array`; true when the kernel took the advice. */
export function adviseHugePages(array: ArrayBufferView): boolean {
  if (array.byteLength < HUGE_PAGE_BYTES) return false
  const call = bind()
  if (call === null) return false
  const address = Number(koffi.address(array))
  const start = Math.ceil(address / HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
  const end = Math.floor((address + array.byteLength) / HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
  if (end <= start) return false
  return call(start, end - start, MADV_HUGEPAGE) === 0
}
