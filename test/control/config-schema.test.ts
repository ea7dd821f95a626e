/** The configuration's JSON Schema: valid JSON Schema, the API's shape of it, and what it accepts. */
import t from 'tap'
import Ajv from 'ajv'
import { configSchemas, shapeOf, vipSchema, vipRuleSchema } from '../../lib/control/config-schema'
import { crossChecks } from '../../lib/control/config-cross-check'
import { validateConfig } from '../../lib/control/config-validate'
import { referenceConfig } from './reference-config'

t.test('every part is valid JSON Schema (checked here, not at every start)', async (t) => {
  const ajv = new Ajv({ strict: true, strictTypes: false, allowUnionTypes: true })
  for (const f of ['ipv4', 'ipv4-host', 'ipv4-prefix', 'mac']) ajv.addFormat(f, { type: 'string', validate: () => true })
  for (const schema of configSchemas) {
    t.ok(ajv.validateSchema(schema), `${schema.$id} is valid (${ajv.errorsText(ajv.errors)})`)
    ajv.addSchema(schema)
  }
  t.ok(ajv.getSchema('Config'), 'the whole document compiles in strict mode')
})

t.test('shapeOf keeps types, required fields and enums, drops ranges, formats and defaults', async (t) => {
  const shape = shapeOf(vipRuleSchema) as any
  t.same(shape.properties.frontendPort, { type: 'integer', description: vipRuleSchema.properties.frontendPort.description })
  t.same(shape.properties.protocol.enum, ['tcp', 'udp'])
  t.same(shape.required, vipRuleSchema.required)
  t.equal(shape.properties.idleTimeoutSeconds.default, undefined)
  const vip = shapeOf(vipSchema) as any
  t.equal(vip.properties.virtualSubnetId.not, undefined)
  t.equal(vip.properties.address.format, undefined)
})

t.test('the probe fields: ranges and defaults', async (t) => {
  const doc = referenceConfig()
  doc.node.probeAddress = '10.255.255.254'
  doc.probes = [{ name: 'web-http', protocol: 'http', port: 80, requestPath: '/healthz' }, { name: 'web-tcp', protocol: 'tcp' }]
  doc.vips[0].rules[0].probe = 'web-http'
  doc.vips[0].rules[0].whenAllDown = 'useAll'
  const config = validateConfig(doc) as any
  t.same(config.probes[1], { name: 'web-tcp', protocol: 'tcp', intervalSeconds: 5, timeoutSeconds: 2, unhealthyThreshold: 3, healthyThreshold: 2 })
  t.equal(config.vips[0].rules[0].whenAllDown, 'useAll')
  const bad: Array<[string, (d: any) => void, string, string]> = [
    ['probe protocol icmp', (d) => void (d.probes = [{ name: 'p', protocol: 'icmp' }]), 'probes[0].protocol', 'NVLB_ERR_INVALID_FIELD'],
    ['probe interval 0', (d) => void (d.probes = [{ name: 'p', protocol: 'tcp', intervalSeconds: 0 }]), 'probes[0].intervalSeconds', 'NVLB_ERR_INVALID_FIELD'],
    ['probe threshold 101', (d) => void (d.probes = [{ name: 'p', protocol: 'tcp', healthyThreshold: 101 }]), 'probes[0].healthyThreshold', 'NVLB_ERR_INVALID_FIELD'],
    ['probe port 0', (d) => void (d.probes = [{ name: 'p', protocol: 'tcp', port: 0 }]), 'probes[0].port', 'NVLB_ERR_INVALID_FIELD'],
    ['probe path without slash', (d) => void (d.probes = [{ name: 'p', protocol: 'http', requestPath: 'x' }]), 'probes[0].requestPath', 'NVLB_ERR_INVALID_FIELD'],
    ['probe name with a slash', (d) => void (d.probes = [{ name: 'a/b', protocol: 'tcp' }]), 'probes[0].name', 'NVLB_ERR_INVALID_FIELD'],
    ['whenAllDown unknown', (d) => void (d.vips[0].rules[0].whenAllDown = 'panic'), 'vips[0].rules[0].whenAllDown', 'NVLB_ERR_INVALID_FIELD'],
    ['probeAddress multicast', (d) => void (d.node.probeAddress = '239.0.0.1'), 'node.probeAddress', 'NVLB_ERR_BAD_ADDRESS'],
  ]
  for (const [name, edit, field, code] of bad) {
    const d = referenceConfig()
    edit(d)
    let err: any
    try {
      validateConfig(d)
    } catch (e) {
      err = e
    }
    t.equal(err?.code, code, `${name}: code`)
    t.equal(err?.field, field, `${name}: field`)
  }
})

t.test('cross-checks are an open list: a check added to it runs with the others', async (t) => {
  const seen: string[] = []
  const check = (config: any) => {
    seen.push(config.node.providerAddress)
  }
  crossChecks.push(check)
  t.teardown(() => void crossChecks.splice(crossChecks.indexOf(check), 1))
  validateConfig(referenceConfig())
  t.same(seen, ['192.168.6.2'])
})
