/**
 * kill -9 of a real `nvlb run` process during a bulk import of many lookup
 * records: after a restart on the same state dir the import is there whole or
 * not at all (never a part), it is there whenever its answer had arrived, and
 * the restarted process takes the next import. The kill lands at points found by
 * watching the process, not by waiting a fixed time: once the request body is
 * sent, once the state dir's journal starts growing, once it has grown by the
 * import's size (the append done, the compaction that follows under way), and
 * once the answer arrived.
 */
import t from 'tap'
import { request } from 'node:http'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { referenceConfig } from '../api/helpers'
import { cleanEnv, startNvlb, waitForLine } from '../cli/helpers'

const TOKEN = 'nvc11-bulk-crash-token-0123456789'
const RECORDS = 20_000
const BASE_RECORDS = referenceConfig().lookupRecords.length

function importBody(round: number): string {
  const add = Array.from({ length: RECORDS }, (_, i) => ({
    customerAddress: `10.${100 + round}.${(i >> 8) & 255}.${i & 255}`,
    virtualSubnetId: 5001,
    providerAddress: `192.168.6.${4 + (i % 4)}`,
    macAddress: `00-15-5D-${round.toString(16).padStart(2, '0')}-${((i >> 8) & 255).toString(16).padStart(2, '0')}-${(i & 255).toString(16).padStart(2, '0')}`,
    customerId: 'blue',
  }))
  return JSON.stringify({ add })
}

interface Running {
  child: ChildProcess
  url: string
  exited: Promise<void>
}

async function run(t: { teardown(fn: () => unknown): void }, args: string[]): Promise<Running> {
  const child = startNvlb(['run', '--api-listen', '127.0.0.1:0', '--no-dataplane', ...args], cleanEnv({ NVLB_TOKEN: TOKEN }))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    return exited
  })
  child.stderr!.resume()
  const url = await waitForLine(child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string }
      return entry.msg === 'admin API listening' ? entry.url : undefined
    } catch {
      return undefined
    }
  })
  child.stdout!.resume()
  return { child, url, exited }
}

async function recordCount(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/config`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const body = (await res.json()) as { lookupRecords: unknown[] }
  return body.lookupRecords.length
}

/** Bytes in the state dir (base, journal, temporary files). */
function stateBytes(dir: string): number {
  let total = 0
  for (const name of readdirSync(dir)) {
    try {
      total += statSync(join(dir, name)).size
    } catch {
      // renamed or removed meanwhile
    }
  }
  return total
}

/** Polls `condition` on every turn of the event loop, bounded. */
async function until(condition: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

type KillPoint = 'body sent' | 'journal growing' | 'journal grown' | 'answered'

/** Sends the import over a raw request so that "body sent" is known; resolves with the answer's status (or the error). */
function postImport(url: string, body: string, events: { sent: boolean; answered: boolean }): Promise<number | Error> {
  return new Promise((resolve) => {
    const target = new URL(`${url}/v1/policy/lookup-records/bulk`)
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } },
      (res) => {
        res.resume()
        res.once('end', () => {
          events.answered = res.statusCode === 200
          resolve(res.statusCode ?? 0)
        })
        res.once('error', (err) => resolve(err))
      },
    )
    req.once('error', (err) => resolve(err))
    req.once('finish', () => (events.sent = true))
    req.end(body)
  })
}

const POINTS: KillPoint[] = ['body sent', 'journal growing', 'journal grown', 'answered', 'body sent', 'journal growing', 'journal grown']

t.test('kill -9 during a bulk import: after a restart the import is there whole or not at all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvc11-bulk-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'config.json')
  writeFileSync(configFile, JSON.stringify(referenceConfig()))
  const stateDir = join(dir, 'state')
  let expected = BASE_RECORDS
  let nvlb = await run(t, ['--config', configFile, '--state-dir', stateDir])
  const outcomes: string[] = []
  for (let round = 0; round < POINTS.length; round++) {
    const point = POINTS[round]!
    const before = stateBytes(stateDir)
    const body = importBody(round)
    const events = { sent: false, answered: false }
    const answer = postImport(nvlb.url, body, events)
    if (point === 'body sent') await until(() => events.sent, 'the request body to be sent')
    else if (point === 'journal growing') await until(() => events.answered || stateBytes(stateDir) > before, 'the journal to grow')
    else if (point === 'journal grown') await until(() => events.answered || stateBytes(stateDir) >= before + body.length / 2, 'the journal to hold the import')
    else await answer
    const answeredBeforeKill = events.answered
    nvlb.child.kill('SIGKILL')
    await nvlb.exited
    await answer
    nvlb = await run(t, ['--state-dir', stateDir])
    const count = await recordCount(nvlb.url)
    t.ok(count === expected || count === expected + RECORDS, `${point}: ${count} records, ${expected} or ${expected + RECORDS} (all or nothing)`)
    if (answeredBeforeKill) t.equal(count, expected + RECORDS, `${point}: answered before the kill, so it is there`)
    outcomes.push(`${point}: ${count === expected ? 'nothing' : 'all'}`)
    expected = count
  }
  // The restarted process takes the next import.
  const events = { sent: false, answered: false }
  t.equal(await postImport(nvlb.url, importBody(POINTS.length), events), 200)
  t.equal(await recordCount(nvlb.url), expected + RECORDS)
  t.comment(outcomes.join('; '))
})
