/**
 * An HTTP client that lives inside a namespace of the deployment and holds N keep-alive
 * connections to one URL (one http.Agent with a single socket each), driven by commands
 * on stdin, one JSON line answered per command:
 *
 *   request   one request on every connection          → {"type":"answers","answers":[…]}
 *   fresh N   N requests, each on a new connection      → {"type":"fresh","bodies":{…},"errors":[…]}
 *   loop      keep every connection busy until stop     → {"type":"ok"}
 *   stats     what each connection saw so far           → {"type":"stats","conns":[…]}
 *   stop      end the loop (in-flight requests finish)  → {"type":"stats","conns":[…]}
 *
 * A connection that was reset or replaced shows up as an error or as a second local port.
 */
import { Agent, get, type ClientRequest } from 'node:http'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

export interface Answer {
  conn: number
  status?: number
  /** First line of the body: the answering VM. */
  body?: string
  localPort?: number
  reused?: boolean
  error?: string
}

export interface ConnStats {
  requests: number
  errors: string[]
  bodies: Record<string, number>
  ports: number[]
}

function once(url: string, agent: Agent | false, conn: number): Promise<Answer> {
  return new Promise((resolve) => {
    let localPort: number | undefined
    const req: ClientRequest = get(url, { agent, timeout: 3000 }, (res) => {
      localPort = res.socket?.localPort ?? localPort
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () =>
        resolve({ conn, status: res.statusCode, body: body.split('\n', 1)[0]!.trim(), localPort, reused: req.reusedSocket }),
      )
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ conn, localPort, error: err.code ?? err.message }))
    })
    req.on('socket', (socket) => {
      if (socket.localPort !== undefined) localPort = socket.localPort
      socket.once('connect', () => (localPort = socket.localPort))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })))
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ conn, localPort, error: err.code ?? err.message }))
  })
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { url: { type: 'string' }, connections: { type: 'string', default: '1' } } })
  const url = values.url
  if (url === undefined) {
    process.stderr.write('usage: keepalive-client --url URL [--connections N]\n')
    return 2
  }
  const n = Number(values.connections)
  const agents = Array.from({ length: n }, () => new Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 }))
  const stats: ConnStats[] = Array.from({ length: n }, () => ({ requests: 0, errors: [], bodies: {}, ports: [] }))
  const record = (a: Answer): Answer => {
    const s = stats[a.conn]!
    if (a.localPort !== undefined && !s.ports.includes(a.localPort)) s.ports.push(a.localPort)
    if (a.error !== undefined) s.errors.push(a.error)
    else if (a.status !== 200) s.errors.push(`HTTP ${a.status}`)
    else {
      s.requests++
      s.bodies[a.body!] = (s.bodies[a.body!] ?? 0) + 1
    }
    return a
  }
  let looping = false
  let loops: Array<Promise<void>> = []
  const out = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n')

  const handle = async (line: string): Promise<void> => {
    const [command, arg] = line.trim().split(/\s+/)
    if (command === 'request') {
      out({ type: 'answers', answers: await Promise.all(agents.map((agent, i) => once(url, agent, i).then(record))) })
    } else if (command === 'fresh') {
      const bodies: Record<string, number> = {}
      const errors: string[] = []
      const total = Number(arg ?? '1')
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < total) {
          next++
          const a = await once(url, false, 0)
          if (a.error !== undefined || a.status !== 200) errors.push(a.error ?? `HTTP ${a.status}`)
          else bodies[a.body!] = (bodies[a.body!] ?? 0) + 1
        }
      }
      await Promise.all([worker(), worker(), worker(), worker()])
      out({ type: 'fresh', bodies, errors })
    } else if (command === 'loop') {
      looping = true
      loops = agents.map(async (agent, i) => {
        while (looping) {
          const a = record(await once(url, agent, i))
          if (a.error !== undefined) await new Promise((r) => setTimeout(r, 50))
        }
      })
      out({ type: 'ok' })
    } else if (command === 'stats') {
      out({ type: 'stats', conns: stats })
    } else if (command === 'stop') {
      looping = false
      await Promise.all(loops)
      loops = []
      out({ type: 'stats', conns: stats })
    } else {
      out({ type: 'error', message: `unknown command '${line}'` })
    }
  }

  // Commands run one after another, in order.
  let queue = Promise.resolve()
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    queue = queue.then(() => handle(line))
  })
  await new Promise<void>((resolve) => rl.once('close', () => resolve()))
  await queue
  looping = false
  await Promise.all(loops)
  for (const agent of agents) agent.destroy()
  return 0
}
