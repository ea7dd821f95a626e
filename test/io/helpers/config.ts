import { Compiler } from '../../../lib/control/compiler'
import { validateConfig } from '../../../lib/control/config-validate'
import type { NvlbConfig } from '../../../lib/control/config-types'
import type { Snapshot } from '../../../lib/dataplane/snapshot'

export const NVLB_PA = '192.168.6.2'
export const NVLB_PROVIDER_MAC = '02:00:c0:a8:06:02'
export const NVLB_EXTERNAL_MAC = '02:00:c6:33:64:01'
export const HOST_PA = '192.168.6.4'
export const HOST_MAC = '02:00:c0:a8:06:04'
export const VM_MAC = '00:15:5d:01:06:21'
export const PUBLIC_VIP = '203.0.113.10'
export const BACKEND = '10.1.6.21'
export const VSID = 5001

/** A one-VIP, one-backend configuration (addresses of DESIGN §7), as plain JSON. */
export function smallConfig(): NvlbConfig {
  return validateConfig({
    node: {
      providerAddress: NVLB_PA,
      providerMac: NVLB_PROVIDER_MAC,
      externalAddress: '198.51.100.1',
      externalMac: NVLB_EXTERNAL_MAC,
      gatewayMac: '02:00:00:00:00:01',
      providerMtu: 1500,
    },
    neighbors: [{ address: HOST_PA, mac: HOST_MAC }],
    lookupRecords: [
      { customerAddress: '10.1.6.1', virtualSubnetId: VSID, providerAddress: NVLB_PA, macAddress: '02-00-00-00-00-01', customerId: 'blue', rule: 'TranslationMethodEncap' },
      { customerAddress: BACKEND, virtualSubnetId: VSID, providerAddress: HOST_PA, macAddress: VM_MAC, customerId: 'blue', rule: 'TranslationMethodEncap' },
    ],
    customerRoutes: [{ customerId: 'blue', virtualSubnetId: VSID, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.6.1', metric: 0 }],
    pools: [{ name: 'blue-web', backends: [{ virtualSubnetId: VSID, address: BACKEND, weight: 1, state: 'active' }] }],
    vips: [
      {
        name: 'blue-public',
        address: PUBLIC_VIP,
        virtualSubnetId: 0,
        natMode: 'dnat',
        rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
      },
    ],
  })
}

export class Snapshots {
  private readonly compiler = new Compiler()
  private generation = 0
  next(config: NvlbConfig = smallConfig()): Snapshot {
    return this.compiler.compile(config, ++this.generation)
  }
}

export const CA_VIP = '10.1.5.100'
export const CA_VSID = 5002
export const CA_CLIENT = '10.1.5.20'
export const CA_CLIENT_HOST_PA = '192.168.6.7'
export const CA_CLIENT_HOST_MAC = '02:00:c0:a8:06:07'
export const CA_CLIENT_MAC = '00:15:5d:01:05:20'

/** smallConfig plus a UDP rule (port 53) on the public VIP, and with `caVip` a CA VIP 10.1.5.100 (tcp:80, udp:53) in VSID 5002 (fullnat). */
export function multiWorkerConfig(caVip: boolean): NvlbConfig {
  const base = smallConfig()
  const doc = JSON.parse(JSON.stringify(base)) as NvlbConfig & Record<string, unknown>
  doc.vips[0]!.rules.push({ protocol: 'udp', frontendPort: 53, backendPort: 53, pool: 'blue-web', idleTimeoutSeconds: 60, distribution: '5-tuple' } as never)
  doc.neighbors.push({ address: CA_CLIENT_HOST_PA, mac: CA_CLIENT_HOST_MAC } as never)
  doc.lookupRecords.push(
    { customerAddress: '10.1.5.1', virtualSubnetId: CA_VSID, providerAddress: NVLB_PA, macAddress: '02-00-00-00-00-01', customerId: 'blue', rule: 'TranslationMethodEncap' } as never,
    { customerAddress: CA_CLIENT, virtualSubnetId: CA_VSID, providerAddress: CA_CLIENT_HOST_PA, macAddress: CA_CLIENT_MAC.replace(/:/g, '-'), customerId: 'blue', rule: 'TranslationMethodEncap' } as never,
  )
  doc.customerRoutes.push({ customerId: 'blue', virtualSubnetId: CA_VSID, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.5.1', metric: 0 } as never)
  if (caVip) {
    doc.vips.push({
      name: 'blue-ca',
      address: CA_VIP,
      virtualSubnetId: CA_VSID,
      natMode: 'fullnat',
      rules: [
        { protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' },
        { protocol: 'udp', frontendPort: 53, backendPort: 53, pool: 'blue-web', idleTimeoutSeconds: 60, distribution: '5-tuple' },
      ],
    } as never)
  }
  return validateConfig(doc)
}
