/**
 * Instances that start at the same moment against an empty etcd, each with its own node from
 * --config: one writes first, the others' writes are refused (412) and they start again from
 * what is stored, instead of exiting. A real etcd on loopback (helpers/etcd-server).
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Compiler } from '../../lib/control/compiler'
import { ControlPlane } from '../../lib/control/control-plane'
import { EtcdStore } from '../../lib/control/etcd-store'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import { referenceConfig } from './reference-config'
import { startEtcd } from './helpers/etcd-server'

t.test('three instances open together on an empty etcd: all start, one configuration', async (t) => {
  const etcd = await startEtcd(t)
  const url = `${etcd.url}/race-${process.pid}/`
  const reference = referenceConfig()
  const open = async (i: number) => {
    const stateDir = mkdtempSync(join(tmpdir(), `nvlb-race-${i}-`))
    const node = { ...reference.node, providerAddress: `192.168.6.${20 + i}`, providerMac: `02:00:c0:a8:06:${(0x20 + i).toString(16)}` }
    const store = await EtcdStore.open({ url, stateDir, node, probeIntervalMs: 100, timeoutMs: 2000 })
    const compiler = new Compiler()
    const control = await ControlPlane.open<Snapshot>({
      stateDir,
      store,
      logger: pino({ level: process.env.RACE_LOG ?? 'silent' }),
      compile: (c, g) => compiler.compile(c, g),
      initialConfig: { ...reference, node },
    })
    t.teardown(() => rmSync(stateDir, { recursive: true, force: true }))
    return control
  }
  const planes = await Promise.all([0, 1, 2].map(open))
  // Closed before etcd stops (teardowns run in the order they were registered: etcd's first).
  t.teardown(async () => {
    for (const plane of planes) await plane.close()
  })
  t.equal(planes.length, 3, 'every instance started')
  for (const [i, plane] of planes.entries()) {
    t.ok(plane.ready, `instance ${i} runs a configuration`)
    t.equal(plane.config.node.providerAddress, `192.168.6.${20 + i}`, `instance ${i} keeps its own node`)
    t.same(plane.config.vips, planes[0]!.config.vips, `instance ${i} runs the shared VIPs`)
  }
})
