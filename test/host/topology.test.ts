import t from 'tap'
import { ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import {
  CONFIG_PATH,
  createTopology,
  destroyTopology,
  listTopologyNamespaces,
  randomPrefix,
} from '../../examples/blue-red/topology'
import { readOffloads } from '../../lib/host/link-offload'

const isRoot = process.getuid?.() === 0

function ipJson(namespace: string, args: string[]): any[] {
  return JSON.parse(execFileSync('ip', ['-j', '-n', namespace, ...args], { encoding: 'utf8' })) as any[]
}

function linksInRoot(prefix: string): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>
  return links.map((l) => l.ifname).filter((n) => n.startsWith(`${prefix}-`))
}

function assertNothingLeft(t: tap.Test, prefix: string): void {
  t.same(listTopologyNamespaces(prefix), [], `no namespace ${prefix}-* is left`)
  t.same(linksInRoot(prefix), [], `no link ${prefix}-* is left in the root namespace`)
}

t.test('topology create/destroy', { skip: isRoot ? false : 'needs root (network namespaces)' }, async (t) => {
  const prefix = randomPrefix()
  t.teardown(() => destroyTopology(prefix))
  const topology = createTopology({ prefix })

  t.equal(topology.namespaces.length, 15, '15 namespaces: provider, client, nvlb, 4 hosts, 8 VMs')
  t.same(listTopologyNamespaces(prefix).sort(), [...topology.namespaces].sort(), 'all namespaces exist')
  for (const node of ['client', 'nvlb', 'host1', 'host4', 'blue-vm11', 'red-vm11']) {
    t.ok(topology.namespaces.includes(`${prefix}-${node}`), `namespace ${prefix}-${node}`)
  }

  const client = ipJson(topology.client.namespace, ['addr', 'show', 'dev', 'eth0'])[0]
  t.same(
    client.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`),
    ['198.51.100.10/24'],
    'client address',
  )
  const clientRoutes = ipJson(topology.client.namespace, ['route', 'show'])
  t.ok(
    clientRoutes.some((r: any) => r.dst === '203.0.113.0/24' && r.gateway === '198.51.100.1'),
    'client routes the public VIPs via nvlb',
  )

  for (const namespace of [topology.nvlb.namespace, ...topology.hosts.map((h) => h.namespace)]) {
    const addrs = ipJson(namespace, ['addr', 'show']).flatMap((l: any) =>
      l.ifname === 'lo' ? [] : (l.addr_info as any[]).map((a) => a.local),
    )
    t.same(addrs, [], `${namespace}: the kernel holds no address (AF_PACKET owns the links)`)
    const forwarding = execFileSync('ip', ['netns', 'exec', namespace, 'sysctl', '-n', 'net.ipv4.ip_forward'], {
      encoding: 'utf8',
    }).trim()
    t.equal(forwarding, '0', `${namespace}: no IPv4 forwarding`)
  }
  const nvlbLinks = ipJson(topology.nvlb.namespace, ['link', 'show'])
  t.equal(nvlbLinks.find((l: any) => l.ifname === 'pa0')?.address, '02:00:c0:a8:06:02', 'nvlb pa0 has providerMac')
  t.equal(nvlbLinks.find((l: any) => l.ifname === 'ext0')?.address, '02:00:c6:33:64:01', 'nvlb ext0 has externalMac')

  const bridgePorts = ipJson(topology.provider.namespace, ['link', 'show', 'master', 'br0']).map((l: any) => l.ifname)
  t.same(bridgePorts.sort(), ['host1', 'host2', 'host3', 'host4', 'nvlb'], 'provider bridge ports')

  const vm2 = topology.vms.find((v) => v.name === 'blue-vm2')!
  t.equal(vm2.host, 'host1')
  const vm2Link = ipJson(vm2.namespace, ['addr', 'show', 'dev', 'eth0'])[0]
  t.equal(vm2Link.address, '00:15:5d:01:06:21', 'VM MAC is the lookup record MAC')
  t.equal(vm2Link.mtu, 1458, 'VM MTU leaves room for the 42 bytes of NVGRE')
  t.same(
    vm2Link.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`),
    ['10.1.6.21/24'],
  )
  t.ok(
    ipJson(vm2.namespace, ['route', 'show']).some((r: any) => r.dst === 'default' && r.gateway === '10.1.6.1'),
    'VM default route via the gateway CA',
  )
  for (const [namespace, name] of [[topology.client.namespace, 'eth0'], [vm2.namespace, 'eth0']] as const) {
    t.same(readOffloads(namespace, name), { txChecksum: false, tso: false, gso: false }, `${namespace} ${name}: offloads off`)
  }
  t.same(readOffloads(topology.nvlb.namespace, 'pa0').txChecksum, true, 'offloads untouched elsewhere')
  const red11 = topology.vms.find((v) => v.name === 'red-vm11')!
  t.equal(red11.address, '10.1.5.20')
  t.equal(red11.virtualSubnetId, 6002)
  t.equal(red11.gateway, '10.1.5.1')
  const host4Ports = ipJson(topology.hosts[3]!.namespace, ['link', 'show']).map((l: any) => l.ifname)
  t.same(host4Ports.sort(), ['blue-vm11', 'lo', 'pa0', 'red-vm11'], 'host4 has both app-tier VM ports')

  t.throws(() => createTopology({ prefix }), /already exist/, 'a prefix in use is refused')

  // A process inside a namespace does not keep anything alive.
  const sleeper = spawn('ip', ['netns', 'exec', vm2.namespace, 'sleep', '600'], { stdio: 'ignore' })
  const sleeperExit = new Promise((resolve) => sleeper.once('exit', resolve))
  await waitFor(() => processInNamespace(sleeper.pid!, vm2.namespace))

  topology.destroy()
  await sleeperExit
  assertNothingLeft(t, prefix)
  t.doesNotThrow(() => destroyTopology(prefix), 'destroy is idempotent')
})

t.test('a failure while creating removes what was created', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const prefix = randomPrefix()
  t.teardown(() => destroyTopology(prefix))
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-topology-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = JSON.parse(readFileSync(CONFIG_PATH, 'utf8'))
  // The last VM is built last; a multicast MAC is refused by the kernel.
  const record = config.lookupRecords.find((r: any) => r.virtualSubnetId === 6002 && r.customerAddress === '10.1.5.20')
  record.macAddress = '01:00:5e:00:00:01'
  const configPath = join(dir, 'config.json')
  writeFileSync(configPath, JSON.stringify(config))
  t.throws(() => createTopology({ prefix, configPath }), /failed/)
  assertNothingLeft(t, prefix)
})

function childScript(prefix: string, mode: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'fixtures', 'topology-child.ts'), prefix, mode],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
}

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines: string[] = []
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      if (pattern.test(line)) resolve()
    })
    createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line))
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before ${pattern}: ${lines.join('\n')}`)))
  })
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} removes the topology`, { skip: isRoot ? false : 'needs root' }, async (t) => {
    const prefix = randomPrefix()
    t.teardown(() => destroyTopology(prefix))
    const child = childScript(prefix, 'hang')
    t.teardown(() => void child.kill('SIGKILL'))
    const exited = exitOf(child)
    await waitForLine(child, /^created/)
    t.equal(listTopologyNamespaces(prefix).length, 15, 'created by the child')
    child.kill(signal)
    const result = await exited
    t.equal(result.signal, signal, 'the child dies of the signal (re-raised after cleanup)')
    assertNothingLeft(t, prefix)
  })
}

t.test('an uncaught error removes the topology', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const prefix = randomPrefix()
  t.teardown(() => destroyTopology(prefix))
  const child = childScript(prefix, 'throw')
  t.teardown(() => void child.kill('SIGKILL'))
  const exited = exitOf(child)
  const result = await exited
  t.equal(result.code, 1, 'the child fails')
  assertNothingLeft(t, prefix)
})

t.test('destroyTopology clears the leftovers of a killed run', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const prefix = randomPrefix()
  t.teardown(() => destroyTopology(prefix))
  const child = childScript(prefix, 'hang')
  t.teardown(() => void child.kill('SIGKILL'))
  const exited = exitOf(child)
  await waitForLine(child, /^created/)
  child.kill('SIGKILL')
  await exited
  t.equal(listTopologyNamespaces(prefix).length, 15, 'SIGKILL leaves the namespaces behind')
  destroyTopology(prefix)
  assertNothingLeft(t, prefix)
})

function processInNamespace(pid: number, namespace: string): boolean {
  try {
    const target = execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' })
    return target.split('\n').includes(String(pid))
  } catch {
    return false
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test('extra nodes are created and removed with the rest; strangers are left alone', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const prefix = randomPrefix()
  const stranger = `${prefix}-stranger`
  t.teardown(() => {
    destroyTopology(prefix, ['direct'])
    try {
      execFileSync('ip', ['netns', 'delete', stranger], { stdio: 'ignore' })
    } catch {
      // already gone
    }
  })
  execFileSync('ip', ['netns', 'add', stranger])
  const topology = createTopology({ prefix, extraNodes: ['direct'] })
  t.ok(topology.namespaces.includes(`${prefix}-direct`))
  t.same(ipJson(`${prefix}-direct`, ['link', 'show']).map((l: any) => l.ifname), ['lo'], 'an empty namespace')
  t.throws(() => createTopology({ prefix: randomPrefix(), extraNodes: ['client'] }), /not allowed/)
  topology.destroy()
  t.same(listTopologyNamespaces(prefix, ['direct']), [], 'extra node removed')
  t.ok(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(stranger), 'a namespace that is not a node of the deployment stays')
})
