/**
 * `nvlb demo` as a process: --once judges the deployment and exits 0; stopping the
 * demo with SIGTERM (up and idle) or SIGINT (in the middle of the load) leaves no
 * namespace, process, link, socket or state directory behind.
 */
import t, { type Test } from 'tap'
import { execFileSync, type ChildProcess } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { managementLinkExists } from '../../examples/blue-red/management-link'
import { destroyTopology, randomPrefix } from '../../examples/blue-red/topology'
import { startNvlb } from '../cli/helpers'
import { alive, identify, namespacesWithPrefix, needsRoot, OutputWatcher, pidsInNamespaces, type ProcessIdentity } from './helpers'

interface Demo {
  child: ChildProcess
  output: OutputWatcher
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

function startDemo(t: { teardown(fn: () => unknown): void }, prefix: string, args: string[]): Demo {
  const child = startNvlb(['demo', '--prefix', prefix, ...args])
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (code, signal) => resolve([code, signal])),
  )
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    destroyTopology(prefix)
  })
  return { child, output: new OutputWatcher(child), exited }
}

async function apiAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })
    return res.ok
  } catch {
    return false
  }
}

/** Everything the demo created is gone. */
async function nothingLeft(t: Test, prefix: string, processes: ProcessIdentity[], apiUrl: string | undefined): Promise<void> {
  t.same(namespacesWithPrefix(prefix), [], `no namespace '${prefix}-*' left`)
  t.notOk(managementLinkExists(prefix), 'no management link left in the root namespace')
  t.same(processes.filter(alive).map((p) => `${p.pid} ${p.command}`), [], `none of the ${processes.length} processes that ran in the namespaces is alive`)
  t.same(
    readdirSync(tmpdir()).filter((name) => name.startsWith(`nvlb-${prefix}-`)),
    [],
    'the state directory is removed',
  )
  if (apiUrl !== undefined) {
    const host = new URL(apiUrl).hostname
    t.notOk(await apiAnswers(apiUrl), 'the admin API is gone')
    // Sockets some process still holds (this test's own HTTP client aside; TIME_WAIT belongs to no one).
    const held = execFileSync('ss', ['-Htanp'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(host) && line.includes('pid=') && !line.includes(`pid=${process.pid},`))
    t.same(held, [], `no process holds a socket on ${host}`)
  }
}

t.test('nvlb demo --once: every VIP served by all of its tenant\'s backends, exit 0, nothing left', { skip: needsRoot }, async (t) => {
  const prefix = randomPrefix()
  const demo = startDemo(t, prefix, ['--once', '--duration', '1', '--connections', '8'])
  await demo.output.waitFor(/ready in/, 90000)
  const pids = identify(pidsInNamespaces(prefix))
  const [code, signal] = await demo.exited
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0', { why: demo.output.lines.filter((line) => /FAILED|warning/.test(line)) })
  const rows = demo.output.lines.filter((line) => /^(blue|red)-(public|ca)\s+(client|blue-vm11|red-vm11) → /.test(line))
  t.equal(rows.length, 4, 'a result row per VIP')
  t.ok(rows.every((row) => row.trimEnd().endsWith('ok')), 'every VIP passed the tenant check')
  t.ok(demo.output.lines.some((line) => /answered by all of its own tenant's backends/.test(line)), 'says so')
  // The report shows each backend's health as the HTTP probes on every VIP saw it.
  const header = demo.output.lines.findIndex((line) => /^POOL\s+BACKEND\s+STATE\s+SINCE\s+PROBE/.test(line))
  t.ok(header >= 0, 'a backend health table follows the load results')
  const health = new Map<string, string[]>()
  for (const line of demo.output.lines.slice(header + 1)) {
    const m = /^(blue-web|red-web)\s+(\d+\/[\d.]+:80) ((?:blue|red)-vm\d+)\s+(\S+)\s.*\s(web-http)\s/.exec(line)
    if (m === null) break
    health.set(m[3]!, [m[1]!, m[4]!, m[5]!])
  }
  const vms = ['blue-vm1', 'blue-vm2', 'blue-vm3', 'blue-vm4', 'red-vm1', 'red-vm2']
  t.same([...health.keys()].sort(), vms, 'a health row for each backend of the two pools')
  for (const vm of vms) t.same(health.get(vm), [vm.startsWith('blue') ? 'blue-web' : 'red-web', 'up', 'web-http'], `${vm}: up, judged by web-http`)
  await nothingLeft(t, prefix, pids, undefined)
})

t.test('SIGTERM to an idle demo tears everything down', { skip: needsRoot }, async (t) => {
  const prefix = randomPrefix()
  const demo = startDemo(t, prefix, ['--duration', '1', '--connections', '4'])
  await demo.output.waitFor(/stays up until Ctrl-C/, 90000)
  const apiLine = await demo.output.waitFor(/^\s*API:\s+http/)
  const apiUrl = /(http:\/\/\S+)/.exec(apiLine)![1]!
  t.ok(await apiAnswers(apiUrl), `the admin API answers from the root namespace at ${apiUrl}`)
  const pids = identify(pidsInNamespaces(prefix))
  t.ok(pids.length >= 13, `processes in the namespaces: ${pids.length} (nvlb, 4 host emulators, 8 VM servers)`)
  demo.child.kill('SIGTERM')
  const [code, signal] = await demo.exited
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0')
  t.ok(demo.output.lines.some((line) => /nvlb exited with 0/.test(line)), 'nvlb itself stopped cleanly')
  await nothingLeft(t, prefix, pids, apiUrl)
})

t.test('SIGINT in the middle of the load tears everything down', { skip: needsRoot }, async (t) => {
  const prefix = randomPrefix()
  const demo = startDemo(t, prefix, ['--duration', '60', '--connections', '4'])
  await demo.output.waitFor(/blue-public \(client → .*requests/, 90000)
  const pids = identify(pidsInNamespaces(prefix))
  t.ok(pids.length >= 14, `processes in the namespaces, the load generator included: ${pids.length}`)
  demo.child.kill('SIGINT')
  const [code, signal] = await demo.exited
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0 (Ctrl-C is how a demo without --once ends)')
  await nothingLeft(t, prefix, pids, undefined)
})
