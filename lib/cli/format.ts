/** How the CLI shows nvlb's resources as text. */
import type { Pool, PoolBackend, Vip, VipRule } from '../control/config-types'
import type { SimulationResult } from '../dataplane/simulate-types'
import type { StatsReport } from '../dataplane/stats-report'
import { formatCount, formatFields, formatTable } from './table'

export function ruleText(r: VipRule): string {
  const ports = r.backendPort === undefined || r.backendPort === r.frontendPort ? `${r.frontendPort}` : `${r.frontendPort}:${r.backendPort}`
  return `${r.protocol}:${ports}=${r.pool}`
}

export function vipTable(vips: Vip[]): string {
  return formatTable(
    ['NAME', 'ADDRESS', 'VSID', 'NAT', 'RULES'],
    vips.map((v) => [v.name, v.address, v.virtualSubnetId, v.natMode, v.rules.map(ruleText).join(' ')]),
  )
}

export function vipDetails(v: Vip): string {
  return (
    formatFields([
      ['name', v.name],
      ['address', v.address],
      ['vsid', v.virtualSubnetId === 0 ? '0 (public)' : v.virtualSubnetId],
      ['nat', v.natMode],
    ]) +
    '\n' +
    formatTable(
      ['PROTOCOL', 'PORT', 'BACKEND PORT', 'POOL', 'DISTRIBUTION', 'IDLE TIMEOUT'],
      v.rules.map((r) => [r.protocol, r.frontendPort, r.backendPort, r.pool, r.distribution, `${r.idleTimeoutSeconds}s`]),
    )
  )
}

/**
 * HEALTH is what probes saw (GET /v1/pools/NAME adds it; '-' where no probe judges the backend):
 * shown when asked for (pool show) or when any backend has it.
 */
export function backendTable(backends: PoolBackend[], options: { health?: boolean } = {}): string {
  const healthOf = (b: PoolBackend) => (b as { health?: { state: string } }).health?.state
  const withHealth = options.health ?? backends.some((b) => healthOf(b) !== undefined)
  if (!withHealth) {
    return formatTable(
      ['VSID', 'ADDRESS', 'WEIGHT', 'STATE'],
      backends.map((b) => [b.virtualSubnetId, b.address, b.weight, b.state]),
    )
  }
  return formatTable(
    ['VSID', 'ADDRESS', 'WEIGHT', 'STATE', 'HEALTH'],
    backends.map((b) => [b.virtualSubnetId, b.address, b.weight, b.state, healthOf(b) ?? '-']),
  )
}

export function poolTable(pools: Pool[], vips: Vip[]): string {
  return formatTable(
    ['NAME', 'BACKENDS', 'ACTIVE', 'DRAINING', 'DISABLED', 'USED BY'],
    pools.map((p) => {
      const count = (state: string) => p.backends.filter((b) => b.state === state).length
      const users = vips.filter((v) => v.rules.some((r) => r.pool === p.name)).map((v) => v.name)
      return [p.name, p.backends.length, count('active'), count('draining'), count('disabled'), users.join(',') || '-']
    }),
  )
}

export function simulationText(result: SimulationResult): string {
  if (!result.matched) return `no match: ${result.reason}\n`
  const fields: Array<[string, string | number | undefined]> = []
  if (result.vip) fields.push(['vip', `${result.vip.name} (${result.vip.address}, VSID ${result.vip.virtualSubnetId}, ${result.vip.natMode})`])
  if (result.rule) {
    fields.push([
      'rule',
      `${result.rule.protocol}/${result.rule.frontendPort} → port ${result.rule.backendPort}, pool ${result.rule.pool}, ${result.rule.distribution}`,
    ])
  }
  if (result.backend) {
    fields.push(['backend', result.backend.name])
    fields.push(['host', `${result.backend.providerAddress} (VM MAC ${result.backend.macAddress})`])
  }
  if (result.hash !== undefined) fields.push(['hash', `0x${(result.hash >>> 0).toString(16).padStart(8, '0')}`])
  if (result.slot !== undefined) fields.push(['slot', result.slot])
  fields.push(['reason', result.reason])
  return formatFields(fields)
}

export function statsText(s: StatsReport): string {
  const totals = formatFields([
    ['generation', s.generation],
    ['active flows', formatCount(s.activeFlows)],
    ['flows', `${formatCount(s.flowsCreated)} created, ${formatCount(s.flowsExpired)} expired, ${formatCount(s.flowsEvicted)} evicted (${formatCount(s.flowsEvictedByClass.halfOpen)} half-open, ${formatCount(s.flowsEvictedByClass.established)} established, ${formatCount(s.flowsEvictedByClass.closing)} closing)`],
    ['rx', `${formatCount(s.rxPackets)} packets, ${formatCount(s.rxBytes)} bytes`],
    ['tx', `${formatCount(s.txPackets)} packets, ${formatCount(s.txBytes)} bytes`],
    ...(s.io === undefined
      ? []
      : ([
          [
            'workers',
            `${s.io.workers} on ${s.io.mode}${s.io.busyPollUs > 0 ? ` (busy-polling ${s.io.busyPollUs} µs)` : ''}, ${formatCount(s.io.workerRestarts)} restarted, ${formatCount(s.io.handoffs)} frames handed over ` +
              `(${formatCount(s.io.handoffDrops)} dropped), ${formatCount(s.io.kernelDrops)} kernel drops`,
          ],
        ] as Array<[string, string]>)),
  ])
  const vips = formatTable(
    ['VIP', 'ADDRESS', 'VSID', 'RULE', 'PACKETS', 'BYTES', 'FLOWS'],
    s.vips.map((v) => [v.vip, v.address, v.virtualSubnetId, `${v.protocol}/${v.frontendPort}`, formatCount(v.packets), formatCount(v.bytes), formatCount(v.flowsCreated)]),
  )
  const backends = formatTable(
    ['POOL', 'BACKEND', 'STATE', 'PACKETS', 'BYTES', 'FLOWS'],
    s.backends.map((b) => [b.pool, b.name, b.state, formatCount(b.packets), formatCount(b.bytes), formatCount(b.flowsCreated)]),
  )
  const dropped = Object.entries(s.drops).filter(([, n]) => n > 0)
  const drops =
    dropped.length === 0
      ? 'drops: none\n'
      : formatTable(
          ['DROP REASON', 'PACKETS'],
          dropped.sort((a, b) => b[1] - a[1]).map(([reason, n]) => [reason, formatCount(n)]),
        )
  return `${totals}\n${vips}\n${backends}\n${drops}`
}
