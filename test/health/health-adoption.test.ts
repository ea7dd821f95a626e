/**
 * A change of health is republished with the same configuration generation and
 * a new snapshot epoch: the worker pool must say when every worker runs that
 * epoch, not only that generation (two workers on a veth end, each reporting
 * the snapshot it adopted).
 */
import path from 'node:path'
import t from 'tap'
import { Compiler } from '../../lib/control/compiler'
import { startWorkerPool } from '../../lib/io/worker-pool'
import { smallConfig } from '../io/helpers/config'
import { createVethPair, SKIP_NOT_ROOT } from '../io/helpers/veth'

const REFLECT_ENGINE = path.join(__dirname, '..', 'io', 'helpers', 'reflect-engine')

t.test('whenAdopted by epoch: a republish with the same generation', { skip: SKIP_NOT_ROOT }, async (t) => {
  const veth = createVethPair()
  t.teardown(() => veth.remove())
  const compiler = new Compiler()
  const config = smallConfig()
  const first = compiler.compile(config, 1)
  const pool = await startWorkerPool({ snapshot: first, providerInterface: veth.b, workers: 2, engineModule: REFLECT_ENGINE, pollTimeoutMs: 20 })
  t.teardown(() => pool.stop())
  t.equal(pool.adoptedEpoch(), first.epoch, 'both workers report the epoch they started with')

  // The health republish: the same document and generation compiled again (a new epoch).
  const again = compiler.compile(config, 1)
  t.equal(again.generation, first.generation)
  t.ok(again.epoch > first.epoch)
  pool.adopt(again)
  t.ok(pool.adoptedEpoch() < again.epoch, 'not yet adopted right after adopt()')
  let byGeneration = false
  void pool.whenAdopted(again.generation).then(() => (byGeneration = true))
  await pool.whenAdopted(again.generation, again.epoch)
  t.ok(byGeneration, 'the generation alone was satisfied already (it cannot tell the republish apart)')
  t.equal(pool.adoptedEpoch(), again.epoch, 'every worker runs the new epoch')
  t.equal(pool.adoptedGeneration(), first.generation, 'and still the same generation')
  await pool.whenAdopted(first.generation, first.epoch) // older: at once

  const pending = t.rejects(pool.whenAdopted(1, again.epoch + 100), 'an epoch never sent: rejected when the pool stops')
  await pool.stop()
  await pending
})
