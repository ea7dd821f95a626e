/**
 * The health service when probes cannot run (nvlb run --no-dataplane): it opens
 * no tunnel, probes nothing, and says why wherever rules name probes; backends
 * stay unknown (trusted), so the compiler marks none down.
 */
import pino from 'pino'
import t from 'tap'
import { validateConfig } from '../../lib/control/config-validate'
import { HealthService } from '../../lib/health/health-service'
import { referenceConfig } from '../control/reference-config'

t.test('disabled: no probes, the reason where rules name probes, nothing down', async (t) => {
  const reason = 'nvlb runs with --no-dataplane: no probes'
  const service = new HealthService({
    logger: pino({ level: 'silent' }),
    republish: async () => undefined,
    runningEpoch: () => 7,
    disabled: reason,
    transport: {
      configure: async () => undefined,
      hostOf: () => '127.0.0.1',
    },
  })
  t.teardown(() => service.stop())
  const plain = validateConfig(referenceConfig())
  await service.update(plain)
  t.equal(service.notProbing(), null, 'no rule names a probe: nothing to explain')

  const doc = referenceConfig()
  doc.node.probeAddress = '198.18.0.1'
  doc.probes = [{ name: 'web', protocol: 'http', intervalSeconds: 1, timeoutSeconds: 1 }]
  for (const v of doc.vips) for (const r of v.rules) if (r.protocol === 'tcp') r.probe = 'web'
  await service.update(validateConfig(doc))
  t.equal(service.notProbing(), reason)
  t.same(service.list(), [], 'no backend is probed (no monitor runs)')
  t.equal(service.compileInput().down.size, 0, 'nothing down: every backend is trusted')
  service.snapshotPublished(7)
  t.equal(service.applied(), true)
})
