/** Tenant names: a VSID's routing domain (customerId) as the lookup records and customer routes give it. */
import type { CustomerRoute, LookupRecord } from './types.js'

export function tenantsByVsid(records: LookupRecord[], routes: CustomerRoute[]): Map<number, string> {
  const out = new Map<number, string>()
  for (const r of routes) if (r.customerId) out.set(r.virtualSubnetId, r.customerId)
  for (const r of records) if (r.customerId && !out.has(r.virtualSubnetId)) out.set(r.virtualSubnetId, r.customerId)
  return out
}

export function vsidLabel(vsid: number, tenants: Map<number, string>): string {
  if (vsid === 0) return '0 (public)'
  const t = tenants.get(vsid)
  return t === undefined ? String(vsid) : `${vsid} (${t})`
}
