import t from 'tap'
import { validateChange, validateConfig } from '../../lib/control/config-validate'
import { deepFreeze } from '../../lib/control/control-plane'
import { ErrorCodes, NvlbError } from '../../lib/errors'
import { referenceConfig } from '../control/reference-config'

function withProbe(edit?: (doc: any) => void): any {
  const doc = referenceConfig()
  doc.node.probeAddress = '198.18.0.1'
  doc.probes = [{ name: 'web-http', protocol: 'http', port: 80, requestPath: '/', intervalSeconds: 5, timeoutSeconds: 2, unhealthyThreshold: 3, healthyThreshold: 2 }]
  for (const v of doc.vips) for (const r of v.rules) if (r.protocol === 'tcp') r.probe = 'web-http'
  edit?.(doc)
  return doc
}

function rejected(t: any, doc: unknown, field: string | RegExp, code: string, says: string): void {
  let caught: unknown
  try {
    validateConfig(doc)
  } catch (err) {
    caught = err
  }
  t.type(caught, NvlbError, `${field}: rejected`)
  const e = caught as NvlbError
  if (field instanceof RegExp) t.match(e.field, field, 'field named')
  else t.equal(e.field, field, `${field}: field named`)
  if (e.field !== undefined) t.ok(e.message.startsWith(`${e.field}: `), 'message starts with the field')
  t.equal(e.code, code, `${field}: code`)
  t.match(e.message, says, `${field}: reason`)
}

t.test('a document with probes validates; defaults are filled in', async (t) => {
  const config = validateConfig(withProbe((d) => {
    d.probes.push({ name: 'tcp-only', protocol: 'tcp' })
  }))
  t.same(config.probes![1], { name: 'tcp-only', protocol: 'tcp', intervalSeconds: 5, timeoutSeconds: 2, unhealthyThreshold: 3, healthyThreshold: 2 })
  t.equal(config.vips[0]!.rules[0]!.probe, 'web-http')
  t.equal(config.node.probeAddress, '198.18.0.1')
})

t.test('documents without probes normalize as before (no fields added)', async (t) => {
  const config = validateConfig(referenceConfig())
  t.equal((config as any).probes, undefined)
  t.equal(config.vips[0]!.rules[0]!.whenAllDown, undefined)
})

t.test('bad probe input rejects the whole document with the field named', async (t) => {
  rejected(t, withProbe((d) => { d.vips[0].rules[0].probe = 'nope' }), 'vips[0].rules[0].probe', ErrorCodes.UNKNOWN_PROBE, "probe 'nope' does not exist")
  rejected(t, withProbe((d) => { delete d.node.probeAddress }), 'node.probeAddress', ErrorCodes.INVALID_FIELD, 'is required because vips[0].rules[0] names a probe')
  rejected(t, withProbe((d) => { d.node.probeAddress = '198.18.0' }), 'node.probeAddress', ErrorCodes.BAD_ADDRESS, 'not an IPv4 address')
  rejected(t, withProbe((d) => { d.node.probeAddress = d.node.providerAddress }), 'node.probeAddress', ErrorCodes.INVALID_FIELD, 'must differ')
  rejected(t, withProbe((d) => { d.node.probeAddress = '10.1.6.21' }), 'node.probeAddress', ErrorCodes.INVALID_FIELD, 'tenant address')
  rejected(t, withProbe((d) => { d.probes[0].intervalSeconds = 0 }), 'probes[0].intervalSeconds', ErrorCodes.INVALID_FIELD, 'between 1 and 3600')
  rejected(t, withProbe((d) => { d.probes[0].intervalSeconds = 3601 }), 'probes[0].intervalSeconds', ErrorCodes.INVALID_FIELD, 'between 1 and 3600')
  rejected(t, withProbe((d) => { d.probes[0].timeoutSeconds = 6 }), 'probes[0].timeoutSeconds', ErrorCodes.INVALID_FIELD, 'intervalSeconds')
  rejected(t, withProbe((d) => { d.probes[0].unhealthyThreshold = 0 }), 'probes[0].unhealthyThreshold', ErrorCodes.INVALID_FIELD, 'between')
  rejected(t, withProbe((d) => { d.probes[0].healthyThreshold = 1.5 }), 'probes[0].healthyThreshold', ErrorCodes.INVALID_FIELD, 'integer')
  rejected(t, withProbe((d) => { d.probes[0].requestPath = 'health' }), 'probes[0].requestPath', ErrorCodes.INVALID_FIELD, 'not a request path')
  rejected(t, withProbe((d) => { d.probes[0].requestPath = '/a b' }), 'probes[0].requestPath', ErrorCodes.INVALID_FIELD, 'not a request path')
  rejected(t, withProbe((d) => { d.probes[0].requestPath = 'http://x/' }), 'probes[0].requestPath', ErrorCodes.INVALID_FIELD, 'not a request path')
  rejected(t, withProbe((d) => { d.probes.push({ name: 't', protocol: 'tcp', requestPath: '/' }) }), 'probes[1].requestPath', ErrorCodes.INVALID_FIELD, "only for probes with protocol 'http'")
  rejected(t, withProbe((d) => { d.probes[0].protocol = 'icmp' }), 'probes[0].protocol', ErrorCodes.INVALID_FIELD, "'tcp', 'http'")
  rejected(t, withProbe((d) => { d.probes.push({ ...d.probes[0] }) }), 'probes[1].name', ErrorCodes.DUPLICATE_NAME, 'already defined')
  rejected(t, withProbe((d) => { d.probes[0].port = 70000 }), 'probes[0].port', ErrorCodes.INVALID_FIELD, 'between 1 and 65535')
  rejected(t, withProbe((d) => { d.vips[0].rules[0].whenAllDown = 'maybe' }), 'vips[0].rules[0].whenAllDown', ErrorCodes.INVALID_FIELD, "'drop', 'useAll'")
  rejected(t, withProbe((d) => { d.probes = {} }), 'probes', ErrorCodes.INVALID_FIELD, 'must be an array')
  rejected(
    t,
    withProbe((d) => {
      delete d.probes[0].port
      const udp = d.vips.flatMap((v: any) => v.rules).find((r: any) => r.protocol === 'udp')
      if (udp === undefined) {
        d.vips[0].rules.push({ protocol: 'udp', frontendPort: 53, pool: d.vips[0].rules[0].pool, probe: 'web-http' })
      } else udp.probe = 'web-http'
    }),
    /^vips\[\d+\]\.rules\[\d+\]\.probe$/,
    ErrorCodes.INVALID_FIELD,
    'UDP rule',
  )
})

t.test('a change that keeps the VIP list and the probes skips their check; one that changes either is checked again', async (t) => {
  const running = deepFreeze(validateConfig(withProbe()))
  // A pool change: the VIPs and probes are the running (frozen) lists, checked already.
  const pools = running.pools.map((p, i) => (i === 0 ? { ...p, backends: p.backends.map((b) => ({ ...b, state: 'draining' as const })) } : p))
  t.doesNotThrow(() => validateChange(running, { ...running, pools }))
  // The same VIP list against other probes: its rules name a probe that is gone.
  t.throws(() => validateChange(running, { ...running, probes: [] }), { code: ErrorCodes.UNKNOWN_PROBE })
  // The same lists with another probe address: it is checked against the records again.
  const tenant = running.lookupRecords.find((r) => r.providerAddress !== running.node.providerAddress)!
  t.throws(() => validateChange(running, { ...running, node: { ...running.node, probeAddress: tenant.customerAddress } }), /tenant address/)
  t.doesNotThrow(() => validateChange(running, { ...running, node: { ...running.node } }))
})
