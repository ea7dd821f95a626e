import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks'
import { mallocTrim } from './libc'

type GcEntry = PerformanceEntry & { detail?: { kind?: number } }

/**
 * ArrayBuffers (the compiled tables among them) live in glibc's malloc heap. When V8
 * collects them, glibc keeps the freed chunks mapped unless they sit at the top of the
 * heap, so a process that loaded a million lookup records held tens of MB it no longer
 * used. After each major garbage collection (at most one trim per `delayMs`) this asks
 * glibc to return the free pages of every arena (malloc_trim(0)).
 *
 * Returns a function that stops watching. `onTrim` hears whether pages were released.
 */
export function trimNativeHeapAfterGc(delayMs = 1000, onTrim?: (released: boolean) => void): () => void {
  let pending: NodeJS.Timeout | null = null
  const trim = (): void => {
    pending = null
    const released = mallocTrim(0) === 1
    onTrim?.(released)
  }
  const observer = new PerformanceObserver((list) => {
    if (pending !== null) return
    const major = list.getEntries().some((entry) => (entry as GcEntry).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
    if (major) pending = setTimeout(trim, delayMs).unref()
  })
  observer.observe({ entryTypes: ['gc'] })
  return () => {
    observer.disconnect()
    if (pending !== null) clearTimeout(pending)
    pending = null
  }
}
