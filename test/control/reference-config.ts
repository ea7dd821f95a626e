/**
 * The reference deployment of DESIGN §7 as a configuration document: Blue and Red
 * web tiers behind public VIPs, and CA VIPs 10.1.5.100 in each tenant's app subnet.
 * Returns a fresh object on every call so tests can mutate it.
 */
export function referenceConfig(): any {
  const nvlbPa = '192.168.6.2'
  const record = (vsid: number, ca: string, pa: string, mac: string, customerId: string) => ({
    customerAddress: ca,
    virtualSubnetId: vsid,
    providerAddress: pa,
    macAddress: mac,
    customerId,
    rule: 'TranslationMethodEncap',
  })
  return {
    node: {
      providerAddress: nvlbPa,
      providerMac: '02:00:c0:a8:06:02',
      externalAddress: '198.51.100.1',
      externalMac: '02:00:c6:33:64:01',
      gatewayMac: '02:00:00:00:00:01',
      providerMtu: 1500,
    },
    neighbors: [{ address: '192.168.6.4', mac: '02:00:c0:a8:06:04' }],
    lookupRecords: [
      record(5001, '10.1.6.1', nvlbPa, '02-00-00-00-00-01', 'blue'),
      record(5001, '10.1.6.20', '192.168.6.4', '00-15-5D-01-06-20', 'blue'),
      record(5001, '10.1.6.21', '192.168.6.4', '00-15-5D-01-06-21', 'blue'),
      record(5001, '10.1.6.22', '192.168.6.5', '00155D010622', 'blue'),
      record(5001, '10.1.6.23', '192.168.6.6', '00:15:5d:01:06:23', 'blue'),
      record(5002, '10.1.5.1', nvlbPa, '02-00-00-00-00-01', 'blue'),
      record(5002, '10.1.5.20', '192.168.6.7', '00-15-5D-01-05-20', 'blue'),
      record(5002, '10.1.5.100', nvlbPa, '02-00-00-00-00-01', 'blue'),
      record(6001, '10.1.6.1', nvlbPa, '02-00-00-00-00-01', 'red'),
      record(6001, '10.1.6.21', '192.168.6.5', '00-15-5D-02-06-21', 'red'),
      record(6001, '10.1.6.22', '192.168.6.6', '00-15-5D-02-06-22', 'red'),
      record(6002, '10.1.5.1', nvlbPa, '02-00-00-00-00-01', 'red'),
      record(6002, '10.1.5.20', '192.168.6.7', '00-15-5D-02-05-20', 'red'),
      record(6002, '10.1.5.100', nvlbPa, '02-00-00-00-00-01', 'red'),
    ],
    customerRoutes: [
      { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '10.1.6.0/24', nextHop: '0.0.0.0', metric: 0 },
      { customerId: 'blue', virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.6.1', metric: 0 },
      { customerId: 'blue', virtualSubnetId: 5002, destinationPrefix: '10.1.5.0/24', nextHop: '0.0.0.0', metric: 0 },
      { customerId: 'blue', virtualSubnetId: 5002, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.5.1', metric: 0 },
      { customerId: 'red', virtualSubnetId: 6001, destinationPrefix: '10.1.6.0/24', nextHop: '0.0.0.0', metric: 0 },
      { customerId: 'red', virtualSubnetId: 6001, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.6.1', metric: 0 },
      { customerId: 'red', virtualSubnetId: 6002, destinationPrefix: '10.1.5.0/24', nextHop: '0.0.0.0', metric: 0 },
      { customerId: 'red', virtualSubnetId: 6002, destinationPrefix: '0.0.0.0/0', nextHop: '10.1.5.1', metric: 0 },
    ],
    pools: [
      {
        name: 'blue-web',
        backends: [
          { virtualSubnetId: 5001, address: '10.1.6.20', weight: 1, state: 'active' },
          { virtualSubnetId: 5001, address: '10.1.6.21', weight: 1, state: 'active' },
          { virtualSubnetId: 5001, address: '10.1.6.22', weight: 1, state: 'active' },
          { virtualSubnetId: 5001, address: '10.1.6.23', weight: 1, state: 'active' },
        ],
      },
      {
        name: 'red-web',
        backends: [
          { virtualSubnetId: 6001, address: '10.1.6.21', weight: 1, state: 'active' },
          { virtualSubnetId: 6001, address: '10.1.6.22', weight: 1, state: 'active' },
        ],
      },
    ],
    vips: [
      {
        name: 'blue-public',
        address: '203.0.113.10',
        virtualSubnetId: 0,
        natMode: 'dnat',
        rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
      },
      {
        name: 'red-public',
        address: '203.0.113.20',
        virtualSubnetId: 0,
        natMode: 'dnat',
        rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'red-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
      },
      {
        name: 'blue-app',
        address: '10.1.5.100',
        virtualSubnetId: 5002,
        natMode: 'fullnat',
        rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'blue-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
      },
      {
        name: 'red-app',
        address: '10.1.5.100',
        virtualSubnetId: 6002,
        natMode: 'fullnat',
        rules: [{ protocol: 'tcp', frontendPort: 80, backendPort: 80, pool: 'red-web', idleTimeoutSeconds: 240, distribution: '5-tuple' }],
      },
    ],
  }
}

/** The smallest valid document: a node and nothing else. */
export function minimalConfig(): any {
  return {
    node: { providerAddress: '192.168.6.2', providerMac: '02:00:c0:a8:06:02', gatewayMac: '02:00:00:00:00:01' },
  }
}
