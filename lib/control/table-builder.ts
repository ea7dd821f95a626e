/**
 * Runs a compile's Maglev builds on two threads: the compiling one and a helper.
 *
 * A build (planMaglev's turns, ~1.5–2 ms for M = 65537 whatever the number of backends) is
 * scheduled as soon as the compiler knows it needs the table; the helper thread may start it
 * at once, while the compile goes on. finish() fills every table the helper has not claimed
 * on the calling thread (last scheduled first, while the helper works from the first) and
 * waits for those it has, so a compile's tables are complete when it returns: a drain of a
 * backend behind three ports costs about two builds instead of three, and the rest of the
 * compile overlaps them.
 *
 * A table is written by whichever thread claims its job (compare-and-exchange on the job's
 * state word); both would write the same entries, so a helper that does not answer within
 * HELPER_TIMEOUT_MS is given up and the job run here instead. Without a helper (it failed to
 * start or died) everything runs on the calling thread: the tables are the same.
 */
import path from 'node:path'
import type { Worker } from 'node:worker_threads'
import { fillMaglev, type MaglevPlan } from '../hash/maglev'
import { startWorker } from '../worker-thread'

/** Job state words. */
export const JOB_FREE = 0
export const JOB_HELPER = 1
export const JOB_CALLER = 2
export const JOB_DONE = 3
/** The helper could not run it (it threw): the caller runs it. */
export const JOB_FAILED = 4

/** What the helper thread is sent: the plan's arrays and the table are in SharedArrayBuffers. */
export interface TableJob {
  readonly state: Int32Array
  readonly plan: MaglevPlan
  readonly table: Int32Array
}

/** A build takes milliseconds; a helper this late is stuck or starved. */
const HELPER_TIMEOUT_MS = 1000
/** Helpers that died or failed to start before the builder stops starting new ones. */
const MAX_HELPER_FAILURES = 3

/** One helper thread per process, shared by every builder (each job carries its own state). */
let helper: Worker | undefined
let helperFailures = 0

function helperThread(): Worker | undefined {
  if (helper !== undefined || helperFailures >= MAX_HELPER_FAILURES) return helper
  try {
    const worker = startWorker(path.join(__dirname, `table-builder-thread${path.extname(__filename)}`), { name: 'nvlb-tables' })
    worker.unref()
    const lost = (reason: string): void => {
      if (helper !== worker) return
      helper = undefined
      helperFailures++
      process.emitWarning(`the Maglev table helper thread ${reason}; tables are built on the main thread until a new one starts`)
    }
    worker.on('error', (err) => lost(`failed (${err.message})`))
    worker.on('exit', (code) => lost(`exited with code ${code}`))
    helper = worker
  } catch (err) {
    helperFailures++
    process.emitWarning(`could not start the Maglev table helper thread (${(err as Error).message}); tables are built on the main thread`)
  }
  return helper
}

export class TableBuilder {
  private jobs: TableJob[] = []
  /** Tables the helper filled in the last finish() (for tests and diagnostics). */
  lastHelperFills = 0

  /** `plan` must be shared (planMaglev(…, shared = true)) and `table` a SharedArrayBuffer view. Read the table only after finish(). */
  schedule(plan: MaglevPlan, table: Int32Array): void {
    const job: TableJob = { state: new Int32Array(new SharedArrayBuffer(4)), plan, table }
    this.jobs.push(job)
    const thread = helperThread()
    if (thread === undefined) return
    try {
      thread.postMessage(job)
    } catch {
      // Not sent: finish() runs it here.
    }
  }

  /** Every scheduled table is filled when this returns. */
  finish(): void {
    const jobs = this.jobs
    if (jobs.length === 0) return
    this.jobs = []
    for (let k = jobs.length - 1; k >= 0; k--) {
      const job = jobs[k]!
      if (Atomics.compareExchange(job.state, 0, JOB_FREE, JOB_CALLER) === JOB_FREE) run(job)
    }
    let helperFills = 0
    for (const job of jobs) {
      if (Atomics.load(job.state, 0) === JOB_CALLER) continue
      helperFills++
      if (!awaitHelper(job)) {
        helperFills--
        run(job)
        if (Atomics.load(job.state, 0) !== JOB_FAILED) giveUpHelper()
      }
    }
    this.lastHelperFills = helperFills
  }
}

function run(job: TableJob): void {
  fillMaglev(job.plan, job.table)
}

/** Waits until the helper has filled the job's table: false when it failed or did not within the timeout. */
function awaitHelper(job: TableJob): boolean {
  const deadline = Date.now() + HELPER_TIMEOUT_MS
  for (;;) {
    const state = Atomics.load(job.state, 0)
    if (state === JOB_DONE) return true
    if (state === JOB_FAILED) return false
    const left = deadline - Date.now()
    if (left <= 0) return false
    Atomics.wait(job.state, 0, state, left)
  }
}

function giveUpHelper(): void {
  const stuck = helper
  if (stuck === undefined) return
  helper = undefined
  helperFailures++
  process.emitWarning(`the Maglev table helper thread did not finish a table within ${HELPER_TIMEOUT_MS} ms; stopped it, the main thread built the table`)
  void stuck.terminate()
}
