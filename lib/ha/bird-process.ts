/**
 * One BIRD 2 daemon (Debian `bird2`) run in the foreground as a child of this process, with its
 * configuration file and control socket in a directory of its own. It is started through
 * util-linux `setpriv --pdeathsig KILL`, so the kernel kills it when this process dies (kill -9
 * included): a dead nvlb never leaves a speaker behind that keeps announcing its VIPs. Its BGP
 * sessions then close at once, and the router withdraws the routes without waiting for a timer.
 *
 * `configure(text)` writes the new configuration and has BIRD reload it (`birdc configure`): a
 * changed static protocol is reloaded softly, the BGP sessions stay up and only the changed
 * routes are announced or withdrawn.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'

export interface BirdOptions {
  /** Directory for bird.conf, bird.ctl and bird.log (created). */
  runDir: string
  /** Network namespace to run in (`ip netns exec`); default: this process's. */
  namespace?: string
  birdPath?: string
  birdcPath?: string
  /** How long to wait for the control socket (default 10 s). */
  startTimeoutMs?: number
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export class BirdProcess {
  readonly configPath: string
  readonly socketPath: string
  private child: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()
  private readonly output: string[] = []

  constructor(private readonly options: BirdOptions) {
    this.configPath = join(options.runDir, 'bird.conf')
    this.socketPath = join(options.runDir, 'bird.ctl')
  }

  private argv(program: string, args: string[]): [string, string[]] {
    if (this.options.namespace === undefined) return [program, args]
    return ['ip', ['netns', 'exec', this.options.namespace, program, ...args]]
  }

  private writeConfig(text: string): void {
    const tmp = `${this.configPath}.tmp`
    writeFileSync(tmp, text)
    renameSync(tmp, this.configPath)
  }

  /** Start BIRD with `config` and resolve once its control socket answers. */
  async start(config: string): Promise<void> {
    mkdirSync(this.options.runDir, { recursive: true })
    this.writeConfig(config)
    const [cmd, args] = this.argv('setpriv', [
      '--pdeathsig', 'KILL', '--',
      this.options.birdPath ?? 'bird', '-f', '-c', this.configPath, '-s', this.socketPath,
    ])
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    const keep = (d: Buffer): void => {
      this.output.push(...d.toString().split('\n').filter((l) => l !== ''))
      if (this.output.length > 50) this.output.splice(0, this.output.length - 50)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10000)
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`bird exited (${child.exitCode ?? child.signalCode}) at start: ${this.output.join('\n')}`)
      }
      try {
        await this.command(['show', 'status'])
        return
      } catch (err) {
        if (Date.now() > deadline) {
          await this.stop()
          throw new Error(`bird did not open ${this.socketPath}: ${(err as Error).message}; ${this.output.join('\n')}`)
        }
      }
      await delay(20)
    }
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  /** The daemon's process id (tests freeze it to make a silent peer). */
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** One birdc command; resolves to its output, rejects when birdc fails. */
  command(args: string[]): Promise<string> {
    const [cmd, argv] = this.argv(this.options.birdcPath ?? 'birdc', ['-s', this.socketPath, ...args])
    return new Promise((resolve, reject) => {
      execFile(cmd, argv, { timeout: 5000, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`birdc ${args.join(' ')}: ${(stderr || stdout || err.message).trim()}`))
        else resolve(stdout)
      })
    })
  }

  /** Replace the configuration; rejects (keeping the old one running) when BIRD refuses it. */
  async configure(config: string): Promise<void> {
    this.writeConfig(config)
    const out = await this.command(['configure'])
    if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`bird refused the configuration: ${out.trim()}`)
  }

  /** SIGTERM (BIRD closes its sessions with a Cease notification), SIGKILL after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}
