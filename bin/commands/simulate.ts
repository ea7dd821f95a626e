/** nvlb simulate: which VIP rule and backend would take a flow, and why. */
import type { SimulationResult } from '../../lib/dataplane/simulate-types'
import { UsageError, intOption, parseEndpoint, runCommand, stringOption, type CliContext } from '../../lib/cli/common'
import { simulationText } from '../../lib/cli/format'

const USAGE = `usage: nvlb simulate [--vsid VSID] [--protocol tcp|udp] --source ADDRESS:PORT --destination ADDRESS:PORT

Asks the running nvlb which VIP rule matches the flow and which backend its
consistent hash picks; nothing is sent and no flow is created.

options:
  --vsid VSID              the VSID the flow arrives in; 0 (default) = from the Internet
  --protocol P             tcp (default) or udp
  --source A:P             the client's address and port
  --destination A:P        the VIP and port it connects to

example:
  nvlb simulate --vsid 0 --protocol tcp --source 198.51.100.10:40000 --destination 203.0.113.10:80`

const OPTIONS = {
  vsid: { type: 'string' },
  protocol: { type: 'string' },
  source: { type: 'string' },
  destination: { type: 'string' },
} as const

async function run(ctx: CliContext): Promise<number> {
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument '${ctx.positionals[0]}'`)
  const sourceText = stringOption(ctx, 'source')
  const destinationText = stringOption(ctx, 'destination')
  if (sourceText === undefined || destinationText === undefined) throw new UsageError('--source and --destination are required')
  const protocol = (stringOption(ctx, 'protocol') ?? 'tcp').toLowerCase()
  if (protocol !== 'tcp' && protocol !== 'udp') throw new UsageError(`--protocol must be tcp or udp, not '${protocol}'`)
  const source = parseEndpoint(sourceText, 'source')
  const destination = parseEndpoint(destinationText, 'destination')
  const flow = {
    virtualSubnetId: intOption(ctx, 'vsid', 'a VSID number') ?? 0,
    protocol,
    source: source.address,
    sourcePort: source.port,
    destination: destination.address,
    destinationPort: destination.port,
  }
  const { body } = await ctx.client.post<SimulationResult>('/v1/simulate', flow)
  if (ctx.json) ctx.printJson(body)
  else ctx.io.out(`${protocol} ${sourceText} → ${destinationText} (VSID ${flow.virtualSubnetId})\n` + simulationText(body))
  return 0
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: OPTIONS, run })
}
