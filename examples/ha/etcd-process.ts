/**
 * A single-member etcd (Debian's etcd-server) started by the reference deployment and by
 * the tests: it listens on the client URLs it is given (loopback, or the root-namespace
 * ends of the instances' management links), keeps its data in `dataDir`, and is ready
 * once GET /health says so (waited for with a bound). stop() kills it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

/** A free TCP port on loopback (for etcd's peer URL, or a test's client URL). */
export async function freeLoopbackPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export interface EtcdProcessOptions {
  name: string
  dataDir: string
  /** http://ADDRESS:PORT, one per address it serves clients on; the first is advertised. */
  clientUrls: readonly string[]
  /** http://127.0.0.1:PORT (one member: peers never connect). */
  peerUrl: string
  readyTimeoutMs?: number
}

export interface EtcdProcess {
  child: ChildProcess
  stop(): Promise<void>
}

export async function launchEtcd(options: EtcdProcessOptions): Promise<EtcdProcess> {
  const proc = spawn(
    'etcd',
    [
      '--name', options.name,
      '--data-dir', options.dataDir,
      '--listen-client-urls', options.clientUrls.join(','),
      '--advertise-client-urls', options.clientUrls[0]!,
      '--listen-peer-urls', options.peerUrl,
      '--initial-advertise-peer-urls', options.peerUrl,
      '--initial-cluster', `${options.name}=${options.peerUrl}`,
      '--logger', 'zap',
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await exited
    }
  }
  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000)
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`etcd exited: ${stderr}`)
    const healthy = await fetch(`${options.clientUrls[0]}/health`)
      .then(async (res) => res.ok && ((await res.json()) as { health?: string }).health === 'true')
      .catch(() => false)
    if (healthy) return { child: proc, stop }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`etcd on ${options.clientUrls[0]} not ready in time: ${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
