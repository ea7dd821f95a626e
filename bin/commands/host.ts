import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfigFile } from '../../lib/control/config-file'
import { HostEmulator, HostCounters, VmPortOptions } from '../../lib/host/host-emulator'
import { HostPolicy } from '../../lib/host/host-policy'
import { HostRunner } from '../../lib/host/host-runner'
import { canonicalMac, parseIPv4 } from '../../lib/packet/address'

const USAGE = `usage: nvlb host --config CONFIG.json --name NAME --provider-interface IF
                 --provider-address PA [--provider-mac MAC]
                 --vm NAME:IF:VSID:CA [--vm ...] [--stats-interval SECONDS]
                 [--own-interfaces] [--kernel-fast-path]
       nvlb host --host-file HOST.json [same options to override it]

The NVGRE host emulator: the Hyper-V host role of one machine of the reference
deployment. It reads the HNV policy (lookup records, customer routes, neighbours)
from the nvlb configuration document CONFIG.json and forwards between the VM
ports (one interface each) and the provider interface (the host's PA), with
AF_PACKET sockets. Run it inside the host's network namespace, as root.

  --vm NAME:IF:VSID:CA   a VM port: node name, interface, VSID, customer address
  --provider-mac MAC     default: the provider interface's own MAC
  --stats-interval S     print the counters as one JSON line every S seconds
  --own-interfaces       the namespace's IP stack must not process the frames of these
                         interfaces (only where nothing else uses them: no address on
                         them); a tc program at their ingress drops each frame after the
                         emulator's socket has it (refused by the kernel: a warning)
  --kernel-fast-path     decapsulate and encapsulate the common frames in the kernel, as
                         Hyper-V's switch does: XDP programs on the provider interface and
                         the VM ports send each such frame where the emulator would, with
                         the same bytes (but the outer IPv4 identification), and pass every
                         other frame on to it (counted as decapsulatedInKernel and
                         encapsulatedInKernel). The VMs' ends of their veth ports need GRO
                         on, or the kernel drops what it redirects there (a direction the
                         kernel refuses: a warning, the emulator does that one)

HOST.json: { "name", "config" (path, relative to HOST.json), "providerInterface",
"providerAddress", "providerMac"?, "vms": [{ "name", "interface", "virtualSubnetId",
"customerAddress" }] }

Prints "ready <name> ..." once the sockets are open. SIGHUP re-reads CONFIG.json;
SIGTERM or SIGINT stop it (exit 0) and print the counters on stderr.`

interface HostVm extends VmPortOptions {
  interface: string
}

interface HostFile {
  name?: string
  config?: string
  providerInterface?: string
  providerAddress?: string
  providerMac?: string
  vms?: HostVm[]
}

function fail(message: string): number {
  process.stderr.write(`nvlb host: ${message}\n`)
  return 2
}

/** `NAME:IF:VSID:CA` → a VM port. */
export function parseVmArgument(text: string): HostVm {
  const parts = text.split(':')
  if (parts.length !== 4 || parts.some((p) => p === '')) throw new Error(`--vm '${text}': expected NAME:IF:VSID:CA`)
  const [name, iface, vsid, ca] = parts as [string, string, string, string]
  const virtualSubnetId = Number(vsid)
  if (!/^\d+$/.test(vsid) || virtualSubnetId < 0x1000 || virtualSubnetId > 0xfffffe) {
    throw new Error(`--vm '${text}': VSID must be 4096..16777214`)
  }
  if (parseIPv4(ca) < 0) throw new Error(`--vm '${text}': '${ca}' is not an IPv4 address`)
  return { name, interface: iface, virtualSubnetId, customerAddress: ca }
}

function readHostFile(path: string): HostFile {
  let doc: HostFile
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as HostFile
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`)
  }
  if (doc === null || typeof doc !== 'object') throw new Error(`${path}: not a JSON object`)
  if (doc.config !== undefined) doc.config = resolve(dirname(path), doc.config)
  return doc
}

function interfaceMac(name: string): string | null {
  const file = `/sys/class/net/${name}/address`
  if (!existsSync(file)) return null
  return canonicalMac(readFileSync(file, 'utf8').trim())
}

function nonZero(counters: HostCounters): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, value] of Object.entries(counters)) if (value !== 0) out[name] = value
  return out
}

export async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'host-file': { type: 'string' },
        name: { type: 'string' },
        'provider-interface': { type: 'string' },
        'provider-address': { type: 'string' },
        'provider-mac': { type: 'string' },
        vm: { type: 'string', multiple: true },
        'stats-interval': { type: 'string' },
        'own-interfaces': { type: 'boolean' },
        'kernel-fast-path': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`)
  }
  const v = parsed.values
  if (v.help === true) {
    process.stdout.write(USAGE + '\n')
    return 0
  }

  let file: HostFile = {}
  let vms: HostVm[]
  try {
    if (v['host-file'] !== undefined) file = readHostFile(v['host-file'])
    vms = v.vm !== undefined ? v.vm.map(parseVmArgument) : (file.vms ?? [])
  } catch (err) {
    return fail((err as Error).message)
  }
  const name = v.name ?? file.name
  const configPath = v.config ?? file.config
  const providerInterface = v['provider-interface'] ?? file.providerInterface
  const providerAddress = v['provider-address'] ?? file.providerAddress
  if (name === undefined || configPath === undefined || providerInterface === undefined || providerAddress === undefined) {
    return fail(`--name, --config, --provider-interface and --provider-address are required\n${USAGE}`)
  }
  if (parseIPv4(providerAddress) < 0) return fail(`--provider-address '${providerAddress}' is not an IPv4 address`)
  const statsInterval = v['stats-interval'] === undefined ? 0 : Number(v['stats-interval'])
  if (!(statsInterval >= 0)) return fail('--stats-interval must be a number of seconds')

  const build = (): HostEmulator => {
    const config = loadConfigFile(configPath)
    const configuredMac = config.neighbors.find((n) => n.address === providerAddress)?.mac
    const providerMac = v['provider-mac'] ?? file.providerMac ?? interfaceMac(providerInterface) ?? configuredMac
    if (providerMac === undefined) throw new Error(`no MAC for ${providerInterface}: give --provider-mac`)
    if (configuredMac !== undefined && canonicalMac(providerMac) !== canonicalMac(configuredMac)) {
      process.stderr.write(
        `nvlb host: warning: ${providerInterface} has MAC ${providerMac} but the config's neighbour entry for ${providerAddress} says ${configuredMac}\n`,
      )
    }
    return new HostEmulator({ name, providerAddress, providerMac, vms, policy: HostPolicy.fromConfig(config) })
  }

  let runner: HostRunner
  try {
    runner = new HostRunner({
      emulator: build(),
      providerInterface,
      vmInterfaces: vms.map((vm) => vm.interface),
      ownInterfaces: v['own-interfaces'] === true,
      kernelFastPath: v['kernel-fast-path'] === true,
    })
  } catch (err) {
    process.stderr.write(`nvlb host: ${(err as Error).message}\n`)
    return 1
  }

  if (runner.stackBypassError !== undefined) {
    process.stderr.write(`nvlb host: warning: --own-interfaces refused, the kernel's stack still sees every frame: ${runner.stackBypassError}\n`)
  }
  for (const refused of runner.kernelFastPathErrors) {
    process.stderr.write(`nvlb host: warning: --kernel-fast-path refused for ${refused}; the emulator does it\n`)
  }
  const running = runner.start()
  const stop = (): void => void runner.stop()
  const reload = (): void => {
    try {
      runner.replaceEmulator(build())
      process.stdout.write(`reloaded ${name} from ${configPath}\n`)
    } catch (err) {
      process.stderr.write(`nvlb host: reload failed, keeping the running policy: ${(err as Error).message}\n`)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('SIGHUP', reload)
  const statsTimer =
    statsInterval > 0
      ? setInterval(() => process.stdout.write(`${JSON.stringify({ host: name, ...nonZero(runner.counters()) })}\n`), statsInterval * 1000)
      : null
  process.stdout.write(
    `ready ${name} pa ${providerAddress} on ${providerInterface}; vms ${vms.map((vm) => `${vm.name}@${vm.interface}`).join(' ') || '(none)'}\n`,
  )
  let code = 0
  try {
    await running
  } catch (err) {
    process.stderr.write(`nvlb host: ${(err as Error).message}\n`)
    code = 1
  } finally {
    if (statsTimer !== null) clearInterval(statsTimer)
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
    process.off('SIGHUP', reload)
  }
  process.stderr.write(`nvlb host ${name}: ${JSON.stringify(nonZero(runner.counters()))}\n`)
  return code
}
