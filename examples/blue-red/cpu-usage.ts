/**
 * CPU time of processes from /proc/<pid>/stat (user + system, all threads), to say
 * where a benchmark's time goes: nvlb, the host emulators, the VM servers, the load
 * generator.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** CPU seconds a process has used so far in user and in kernel mode (0 when it is gone). */
export function cpuSplit(pid: number | undefined): { user: number; kernel: number } {
  if (pid === undefined) return { user: 0, kernel: 0 }
  try {
    return splitOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return { user: 0, kernel: 0 }
  }
}

function splitOfStat(stat: string): { user: number; kernel: number } {
  // Fields 14 (utime) and 15 (stime), counted from the state (field 3).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / clockTicks(), kernel: Number(fields[12]) / clockTicks() }
}

/** CPU seconds (user + kernel) of each thread of `pid` whose name starts with `prefix`, by thread name. */
export function threadCpuSeconds(pid: number | undefined, prefix: string): Record<string, number> {
  const out: Record<string, number> = {}
  if (pid === undefined) return out
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
      if (!name.startsWith(prefix)) continue
      const { user, kernel } = splitOfStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))
      out[name] = (out[name] ?? 0) + user + kernel
    } catch {
      // the thread ended
    }
  }
  return out
}

/** CPU seconds a process has used so far (0 when it is gone). */
export function cpuSeconds(pid: number | undefined): number {
  const { user, kernel } = cpuSplit(pid)
  return user + kernel
}

/**
 * Named groups of processes; `sample()` gives each group's CPU seconds now, split into
 * `<group> (user)` and `<group> (kernel)`: the kernel part includes the packet copies and
 * the forwarding that the kernel does inside the group's own send and receive calls.
 */
export class CpuMeter {
  constructor(private readonly groups: Record<string, () => Array<number | undefined>>) {}

  sample(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [name, pids] of Object.entries(this.groups)) {
      let user = 0
      let kernel = 0
      for (const pid of pids()) {
        const split = cpuSplit(pid)
        user += split.user
        kernel += split.kernel
      }
      out[`${name} (user)`] = user
      out[`${name} (kernel)`] = kernel
    }
    return out
  }

  /** Share of one core each group used between two samples taken `seconds` apart. */
  static share(before: Record<string, number>, after: Record<string, number>, seconds: number): Record<string, number> {
    const out: Record<string, number> = {}
    for (const name of Object.keys(after)) out[name] = (after[name]! - (before[name] ?? 0)) / seconds
    return out
  }
}

/** Whole-machine CPU seconds (busy, all cores) from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
  return (user! + nice! + system! + irq! + softirq! + steal!) / clockTicks()
}
