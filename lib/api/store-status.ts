/** The shared configuration store's connection as the admin API reports it (/readyz, nvlb_store_connected). */
import { Gauge, type Registry } from 'prom-client'

export type StoreStatusSource = () => { connected: boolean; error?: string }

export function registerStoreMetric(registry: Registry, status: StoreStatusSource): void {
  new Gauge({
    name: 'nvlb_store_connected',
    help: 'The shared configuration store (etcd) answers: 1, or 0 while it cannot be reached (changes are refused, forwarding goes on)',
    registers: [registry],
    collect() {
      this.set(status().connected ? 1 : 0)
    },
  })
}
