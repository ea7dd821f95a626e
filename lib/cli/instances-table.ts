/** The table of `nvlb instances`. */
import type { InstanceInfo } from '../control/instance-registry'
import { formatTable } from './table'

export function instancesTable(instances: readonly InstanceInfo[], now = Date.now()): string {
  return formatTable(
    ['NAME', 'PA', 'EXTERNAL', 'API', 'GENERATION', 'READY', 'STORE', 'SEEN'],
    instances.map((i) => [
      i.name,
      i.providerAddress ?? '-',
      i.externalAddress ?? '-',
      i.apiAddress,
      String(i.generation),
      i.ready ? 'yes' : 'no',
      i.storeConnected ? 'connected' : 'unreachable',
      `${Math.max(0, Math.round((now - Date.parse(i.updatedAt)) / 1000))}s ago`,
    ]),
  )
}
