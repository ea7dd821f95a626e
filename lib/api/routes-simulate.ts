/** POST /v1/simulate: which VIP rule and backend would take a flow, and why. */
import type { FastifyInstance } from 'fastify'
import type { SimulatedFlow, SimulationResult } from '../dataplane/simulate-types'
import { ErrorCodes, NvlbError } from '../errors'
import { parseIPv4 } from '../packet/address'
import { VSID_MAX, VSID_MIN } from '../packet/nvgre'
import type { AdminControl } from './admin-control'
import { errorResponses, ref } from './schemas'

export type Simulate<S> = (snapshot: S, flow: SimulatedFlow) => SimulationResult

export function checkFlow(flow: SimulatedFlow): void {
  const vsid = flow.virtualSubnetId
  if (vsid !== 0 && (vsid < VSID_MIN || vsid > VSID_MAX)) {
    throw new NvlbError(
      ErrorCodes.VSID_RANGE,
      `${vsid} is neither 0 (public side) nor a VSID in ${VSID_MIN}..${VSID_MAX}`,
      'virtualSubnetId',
    )
  }
  for (const field of ['source', 'destination'] as const) {
    if (parseIPv4(flow[field]) < 0) {
      throw new NvlbError(ErrorCodes.BAD_ADDRESS, `'${flow[field]}' is not an IPv4 address`, field)
    }
  }
}

export function registerSimulateRoutes<S>(app: FastifyInstance, control: AdminControl<S>, simulate: Simulate<S>): void {
  app.post<{ Body: SimulatedFlow }>(
    '/v1/simulate',
    {
      schema: {
        tags: ['simulate'],
        summary: 'Which VIP rule and backend would take this flow, and why',
        description: 'Runs the lookup of the packet path against the running snapshot; nothing is sent and no flow is created.',
        body: ref('SimulatedFlow'),
        response: { 200: ref('SimulationResult'), ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const flow = request.body
      checkFlow(flow)
      const snapshot = control.snapshot
      reply.header('etag', `"${control.generation}"`)
      if (snapshot === undefined) {
        return { matched: false, reason: 'no configuration is loaded yet, so no VIP matches anything' }
      }
      return simulate(snapshot, flow)
    },
  )
}
