/**
 * A real admin API for tests: a ControlPlane over a temporary state dir with
 * the real compiler, served by buildApi and reached through fastify.inject.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { Compiler } from '../../lib/control/compiler'
import { ControlPlane } from '../../lib/control/control-plane'
import { JOURNAL_FILE_NAME, STATE_FILE_NAME } from '../../lib/control/journal-store'
import { stateBytes, storedState } from '../control/helpers/stored-state'
import type { Snapshot } from '../../lib/dataplane/snapshot'
import type { SimulatedFlow, SimulationResult } from '../../lib/dataplane/simulate-types'
import { simulateFlow } from '../../lib/dataplane/simulate'
import type { StatsReport } from '../../lib/dataplane/stats-report'
import { buildApi } from '../../lib/api/server'
import { referenceConfig } from '../control/reference-config'

export const TOKEN = 'test-token-0123456789'

export { referenceConfig }

export interface TestApi {
  app: FastifyInstance
  control: ControlPlane<Snapshot>
  stateDir: string
  stateFile: string
  /** inject with the bearer token (unless headers.authorization is given). */
  call(opts: InjectOptions): Promise<LightMyRequestResponse>
  json<T = any>(res: LightMyRequestResponse): T
  /** Every byte of the stored configuration (base and journal). */
  stateText(): string
  /** The stored generation and document, read from the state dir. */
  stored(): { generation: number; config: any }
  close(): Promise<void>
}

export function emptyStats(generation = 0): StatsReport {
  return {
    generation,
    activeFlows: 0,
    flowsCreated: 0,
    flowsEvicted: 0,
    flowsEvictedByClass: { halfOpen: 0, established: 0, closing: 0 },
    flowsExpired: 0,
    repliesWithoutFlow: 0,
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    drops: {},
    vips: [],
    backends: [],
  }
}

export async function startApi(
  t: { teardown(fn: () => unknown): void },
  opts: {
    config?: unknown
    stats?: () => StatsReport
    simulate?: (s: Snapshot, f: SimulatedFlow) => SimulationResult
  } = {},
): Promise<TestApi> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nvlb-api-'))
  const logger = pino({ level: 'silent' })
  const compiler = new Compiler()
  const control = await ControlPlane.open<Snapshot>({
    stateDir,
    logger,
    compile: (c, g) => compiler.compile(c, g),
    initialConfig: opts.config,
  })
  const simulate = opts.simulate ?? simulateFlow
  const app = await buildApi({
    control,
    stats: opts.stats ?? (() => emptyStats(control.generation)),
    simulate,
    logger,
    token: TOKEN,
    processMetrics: false,
  })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await app.close()
    await control.close()
    rmSync(stateDir, { recursive: true, force: true })
  }
  t.teardown(close)
  const stateFile = join(stateDir, STATE_FILE_NAME)
  return {
    app,
    control,
    stateDir,
    stateFile,
    call(o) {
      const headers = { authorization: `Bearer ${TOKEN}`, ...(o.headers ?? {}) }
      return app.inject({ ...o, headers })
    },
    json(res) {
      return JSON.parse(res.body)
    },
    stateText() {
      if (!existsSync(stateFile) && !existsSync(join(stateDir, JOURNAL_FILE_NAME))) return '<no state file>'
      return stateBytes(stateDir).toString('utf8')
    },
    stored() {
      return storedState(stateDir)
    },
    close,
  }
}
