/**
 * The routing-domain rule, in one place (the validator, the compiler and the host
 * emulator all use it):
 *
 * A VSID belongs to the routing domain (`customerId`) that its lookup records and
 * customer routes name. Records without a customerId do not conflict with those that
 * have one, wherever they stand in the document. A VSID that a record or route
 * mentions but none names a customerId for forms a routing domain of its own,
 * `vsid:<n>`. Two different customerIds for one VSID are a conflict. VSID 0 (the
 * public side) belongs to no tenant.
 */

export interface DomainSource {
  lookupRecords: ReadonlyArray<{ virtualSubnetId: number; customerId?: string }>
  customerRoutes: ReadonlyArray<{ virtualSubnetId: number; customerId: string }>
}

/** Where a VSID got its routing domain: the record or route that first named it. */
export interface DomainClaim {
  customerId: string
  /** `lookupRecords[3]` or `customerRoutes[0]`. */
  readonly where: string
}

export interface DomainConflict {
  virtualSubnetId: number
  /** The claim that came first. */
  first: DomainClaim
  /** The record or route that names another domain. */
  second: DomainClaim
}

class Claim implements DomainClaim {
  constructor(
    readonly customerId: string,
    private readonly list: 'lookupRecords' | 'customerRoutes',
    private readonly index: number,
  ) {}

  get where(): string {
    return `${this.list}[${this.index}]`
  }
}

/** The domain of a VSID that nothing names: a domain of its own. */
export function ownDomain(virtualSubnetId: number): string {
  return `vsid:${virtualSubnetId}`
}

/**
 * The claims of every VSID that names a customerId, lookup records first, then customer
 * routes, and the first conflict found (or undefined).
 */
export function domainClaims(source: DomainSource): { claims: Map<number, DomainClaim>; conflict: DomainConflict | undefined } {
  const claims = new Map<number, DomainClaim>()
  let conflict: DomainConflict | undefined
  const records = source.lookupRecords
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    if (r.customerId === undefined) continue
    const first = claims.get(r.virtualSubnetId)
    if (first === undefined) claims.set(r.virtualSubnetId, new Claim(r.customerId, 'lookupRecords', i))
    else if (first.customerId !== r.customerId && conflict === undefined) {
      conflict = { virtualSubnetId: r.virtualSubnetId, first, second: new Claim(r.customerId, 'lookupRecords', i) }
    }
  }
  const routes = source.customerRoutes
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!
    const first = claims.get(r.virtualSubnetId)
    if (first === undefined) claims.set(r.virtualSubnetId, new Claim(r.customerId, 'customerRoutes', i))
    else if (first.customerId !== r.customerId && conflict === undefined) {
      conflict = { virtualSubnetId: r.virtualSubnetId, first, second: new Claim(r.customerId, 'customerRoutes', i) }
    }
  }
  return { claims, conflict }
}

/**
 * The routing domain of every VSID a lookup record or customer route mentions: its
 * customerId, or `vsid:<n>` when none names one. Expects a document without conflicts
 * (a validated one); on a conflict the first claim wins.
 */
export function routingDomains(source: DomainSource): Map<number, string> {
  return domainsOfClaims(domainClaims(source).claims, source)
}

/** routingDomains from claims already made. */
export function domainsOfClaims(claims: ReadonlyMap<number, DomainClaim>, source: DomainSource): Map<number, string> {
  const result = new Map<number, string>()
  for (const [vsid, c] of claims) result.set(vsid, c.customerId)
  for (const r of source.lookupRecords) if (!result.has(r.virtualSubnetId)) result.set(r.virtualSubnetId, ownDomain(r.virtualSubnetId))
  return result
}

/** A resolver for any VSID, mentioned or not (an unmentioned one is a domain of its own). */
export function domainResolver(domains: ReadonlyMap<number, string>): (virtualSubnetId: number) => string {
  return (vsid) => domains.get(vsid) ?? ownDomain(vsid)
}
