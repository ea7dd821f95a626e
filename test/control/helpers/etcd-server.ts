/**
 * A real etcd for tests (Debian's etcd-server): loopback only, free ports, a
 * temporary data dir; stop() kills it, restart() brings it back on the same
 * ports and data. Waits for readiness (GET /health) with a bound.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeLoopbackPort, launchEtcd, type EtcdProcess } from '../../../examples/ha/etcd-process'

export interface EtcdServer {
  /** etcd://127.0.0.1:PORT */
  url: string
  clientPort: number
  stop(): Promise<void>
  restart(): Promise<void>
}


export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export async function startEtcd(t: { teardown(fn: () => unknown): void }): Promise<EtcdServer> {
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir()
  const dataDir = mkdtempSync(join(base, 'nvlb-etcd-test-'))
  const clientPort = await freeLoopbackPort()
  const peerPort = await freeLoopbackPort()
  const client = `http://127.0.0.1:${clientPort}`
  const peer = `http://127.0.0.1:${peerPort}`
  let running: EtcdProcess | undefined
  const launch = async (): Promise<void> => {
    running = await launchEtcd({ name: 'nvlb-test', dataDir, clientUrls: [client], peerUrl: peer })
  }
  const stop = async (): Promise<void> => {
    await running?.stop()
    running = undefined
  }

  t.teardown(async () => {
    await stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await launch()
  return { url: `etcd://127.0.0.1:${clientPort}`, clientPort, stop, restart: launch }
}
