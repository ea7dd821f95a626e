/**
 * The BGP part of a several-instance deployment, alone: a router namespace running BIRD and N
 * instance namespaces, each with `nvlb run --no-dataplane --bgp-peer …` (the packet path is not
 * what this lab is about). For the tests of test/ha and `nvlb bench ha`.
 *
 *   <p>-router  bgpI 172.31.I.1/30    ── bgp0 <p>-nvlbI   (the BGP session, BFD)
 *               extI 192.0.2.(4I-3)/30 ── ext0 <p>-nvlbI   (next hop 192.0.2.(4I-2): nvlbI's external address)
 *
 * The router installs what it learns as kernel routes (one multipath route per VIP, L4 hash);
 * `nextHops(vip)` reads them back with `ip route`. Everything is removed by `destroy()`, which
 * also runs when the process exits.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { BirdProcess } from '../../lib/ha/bird-process'
import { routerConfig, type BgpTimers } from '../../lib/ha/bird-config'
import type { NvlbConfig } from '../../lib/control/config-types'
import { nodeMainCommand } from '../blue-red/topology'

export const ROUTER_ASN = 65000
export const INSTANCE_ASN = 65001
export const LAB_TOKEN = 'ha-lab-token'

export interface LabInstance {
  index: number
  child: ChildProcess
  output: string[]
  exited: Promise<number | null>
}

export interface BgpLab {
  prefix: string
  router: BirdProcess
  namespace(node: string): string
  /** The external address (BGP next hop) of instance i. */
  nextHopOf(i: number): string
  /** Start instance i (1-based) with `config` (its node.externalAddress is set here), or none. */
  startInstance(i: number, config: NvlbConfig | undefined, extraArgs?: string[]): Promise<LabInstance>
  /** Next hops of the router's kernel route to `address`, sorted (empty: no route). */
  nextHops(address: string): string[]
  /** `birdc show protocols NAME` on the router. */
  session(name: string): string
  destroy(): void
}

const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

export async function createBgpLab(prefix: string, instances: number, timers: BgpTimers): Promise<BgpLab> {
  const ns = (node: string): string => `${prefix}-${node}`
  const nodes = ['router', ...Array.from({ length: instances }, (_, i) => `nvlb${i + 1}`)]
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  const started: LabInstance[] = []
  const router = new BirdProcess({ runDir: join(dir, 'router'), namespace: ns('router') })
  let destroyed = false
  const destroy = (): void => {
    if (destroyed) return
    destroyed = true
    for (const inst of started) if (inst.child.exitCode === null && inst.child.signalCode === null) inst.child.kill('SIGKILL')
    if (router.running && router.pid !== undefined) process.kill(router.pid, 'SIGKILL')
    for (const node of nodes) {
      try {
        // Deleting the namespace takes its veths along; the processes in it were started by us and die with their parent or above.
        ip(['netns', 'delete', ns(node)])
      } catch {
        // not there
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', destroy)
  try {
    for (const node of nodes) {
      ip(['netns', 'add', ns(node)])
      ip(['-n', ns(node), 'link', 'set', 'lo', 'up'])
    }
    for (let i = 1; i <= instances; i++) {
      ip(['link', 'add', `bgp${i}`, 'netns', ns('router'), 'type', 'veth', 'peer', 'name', 'bgp0', 'netns', ns(`nvlb${i}`)])
      ip(['link', 'add', `ext${i}`, 'netns', ns('router'), 'type', 'veth', 'peer', 'name', 'ext0', 'netns', ns(`nvlb${i}`)])
      ip(['-n', ns('router'), 'address', 'add', `172.31.${i}.1/30`, 'dev', `bgp${i}`])
      ip(['-n', ns('router'), 'address', 'add', `192.0.2.${4 * i - 3}/30`, 'dev', `ext${i}`])
      ip(['-n', ns(`nvlb${i}`), 'address', 'add', `172.31.${i}.2/30`, 'dev', 'bgp0'])
      for (const [n, dev] of [['router', `bgp${i}`], ['router', `ext${i}`], [`nvlb${i}`, 'bgp0'], [`nvlb${i}`, 'ext0']]) {
        ip(['-n', ns(n!), 'link', 'set', dev!, 'up'])
      }
    }
    execFileSync('ip', ['netns', 'exec', ns('router'), 'sysctl', '-q', '-w', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv4.ip_forward=1'])
    await router.start(
      routerConfig({
        routerId: '172.31.0.1',
        localAsn: ROUTER_ASN,
        neighbors: nodes.slice(1).map((name, i) => ({ name, address: `172.31.${i + 1}.2`, asn: INSTANCE_ASN })),
        nextHopInterfaces: ['ext*'],
        maxPaths: 16,
        timers,
      }),
    )
  } catch (err) {
    destroy()
    throw err
  }

  const nextHopOf = (i: number): string => `192.0.2.${4 * i - 2}`
  const bfdArg = timers.bfd === undefined ? 'off' : `${timers.bfd.intervalMs}:${timers.bfd.multiplier}`

  const startInstance = (i: number, config: NvlbConfig | undefined, extraArgs: string[] = []): Promise<LabInstance> => {
    const args: string[] = ['--no-dataplane', '--state-dir', join(dir, `state${i}-${started.length}`), '--api-listen', '127.0.0.1:8573']
    if (config !== undefined) {
      const doc = structuredClone(config)
      doc.node.externalAddress = nextHopOf(i)
      const path = join(dir, `nvlb${i}.json`)
      writeFileSync(path, JSON.stringify(doc))
      args.push('--config', path)
    }
    args.push(
      '--bgp-peer', `172.31.${i}.1:${ROUTER_ASN}`, '--bgp-asn', String(INSTANCE_ASN), '--router-id', `172.31.${i}.2`,
      '--bgp-next-hop', nextHopOf(i), '--bgp-hold', String(timers.holdSeconds), '--bfd', bfdArg, ...extraArgs,
    )
    const child = spawn('ip', ['netns', 'exec', ns(`nvlb${i}`), ...nodeMainCommand('bin/commands/run', args)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NVLB_TOKEN: LAB_TOKEN },
    })
    const output: string[] = []
    const inst: LabInstance = { index: i, child, output, exited: new Promise((r) => child.once('exit', (code) => r(code))) }
    started.push(inst)
    createInterface({ input: child.stderr! }).on('line', (l) => output.push(l))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nvlb${i} not ready:\n${output.join('\n')}`)), 60000)
      createInterface({ input: child.stdout! }).on('line', (l) => {
        output.push(l)
        if (l.includes('"msg":"admin API listening"')) {
          clearTimeout(timer)
          resolve(inst)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`nvlb${i} exited ${code}:\n${output.join('\n')}`))
      })
    })
  }

  return {
    prefix,
    router,
    namespace: ns,
    nextHopOf,
    startInstance,
    nextHops(address) {
      const out = ip(['-n', ns('router'), 'route', 'show', `${address}/32`])
      return [...out.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort()
    },
    session(name) {
      return execFileSync('ip', ['netns', 'exec', ns('router'), 'birdc', '-s', router.socketPath, 'show', 'protocols', name], { encoding: 'utf8' })
    },
    destroy() {
      destroy()
    },
  }
}
