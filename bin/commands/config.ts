/** nvlb config get|put: the whole configuration document through the admin API. */
import type { NvlbConfig } from '../../lib/control/config-types'
import { describeContents } from '../../lib/control/config-diff'
import {
  IF_MATCH_HELP,
  IF_MATCH_OPTION,
  UsageError,
  ifMatchOption,
  need,
  readJsonText,
  runCommand,
  type CliContext,
} from '../../lib/api/cli-common'

const USAGE = `usage: nvlb config <get|put> [FILE] [options]

actions:
  get            print the running configuration document (JSON; docs/configuration.md)
  put FILE       replace the whole configuration with FILE (validated whole, applied atomically)
${IF_MATCH_HELP}

example:
  nvlb config get > nvlb.json && $EDITOR nvlb.json && nvlb config put nvlb.json`

async function run(ctx: CliContext): Promise<number> {
  const action = ctx.positionals[0]
  switch (action) {
    case 'get':
    case 'show': {
      need(ctx, 0, 'no arguments')
      const { body } = await ctx.client.get<NvlbConfig>('/v1/config')
      ctx.printJson(body)
      return 0
    }
    case 'put':
    case 'replace': {
      const [file] = need(ctx, 1, 'FILE')
      const text = readJsonText(file!)
      const res = await ctx.client.request<NvlbConfig>('PUT', '/v1/config', undefined, { rawBody: text, ifMatch: ifMatchOption(ctx) })
      if (ctx.json) ctx.printJson({ generation: res.generation })
      else ctx.io.out(`configuration replaced (generation ${res.generation}): ${describeContents(res.body)}\n`)
      return 0
    }
    default:
      throw new UsageError(action === undefined ? 'missing action' : `unknown action '${action}'`)
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage: USAGE, options: IF_MATCH_OPTION, run })
}
