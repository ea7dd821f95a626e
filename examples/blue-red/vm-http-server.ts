/**
 * The web server of a VM in the reference deployment: a real node:http
 * server that answers every request with a body starting with the VM's node name,
 * e.g. `blue-vm2\n`. Prints `listening <name> <address>:<port>` once it accepts
 * connections; SIGTERM/SIGINT close it and exit 0.
 *
 *   node vm-http-server.js --name blue-vm2 [--port 80] [--host 0.0.0.0]
 */
import { createServer, Server } from 'node:http'
import { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

export interface VmHttpServerOptions {
  name: string
  port?: number
  host?: string
}

export function startVmHttpServer(options: VmHttpServerOptions): Promise<Server> {
  const body = Buffer.from(`${options.name}\n`)
  const server = createServer((req, res) => {
    // Drain any request body so keep-alive connections stay usable.
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-vm-name': options.name })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  server.keepAliveTimeout = 60_000
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 80, options.host ?? '0.0.0.0', () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      port: { type: 'string', default: '80' },
      host: { type: 'string', default: '0.0.0.0' },
    },
  })
  if (values.name === undefined) {
    process.stderr.write('usage: vm-http-server --name NAME [--port 80] [--host 0.0.0.0]\n')
    return 2
  }
  const server = await startVmHttpServer({ name: values.name, port: Number(values.port), host: values.host })
  const address = server.address() as AddressInfo
  process.stdout.write(`listening ${values.name} ${address.address}:${address.port}\n`)
  await new Promise<void>((resolve) => {
    const close = (): void => {
      server.close(() => resolve())
      server.closeAllConnections()
    }
    process.once('SIGTERM', close)
    process.once('SIGINT', close)
  })
  return 0
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`vm-http-server: ${(err as Error).message}\n`)
      process.exitCode = 1
    },
  )
}
