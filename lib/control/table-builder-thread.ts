/**
 * The Maglev table helper thread (table-builder.ts): fills each table whose job it
 * claims before the compiling thread does.
 */
import { parentPort } from 'node:worker_threads'
import { fillMaglev } from '../hash/maglev'
import { JOB_DONE, JOB_FAILED, JOB_FREE, JOB_HELPER, type TableJob } from './table-builder'

parentPort?.on('message', (job: TableJob) => {
  if (Atomics.compareExchange(job.state, 0, JOB_FREE, JOB_HELPER) !== JOB_FREE) return
  let state = JOB_DONE
  try {
    fillMaglev(job.plan, job.table)
  } catch {
    state = JOB_FAILED
  }
  Atomics.store(job.state, 0, state)
  Atomics.notify(job.state, 0)
})
