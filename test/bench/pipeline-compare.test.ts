/**
 * bench pipeline-compare runs bench pipeline with another build's engine and
 * with this one's, alternately, and reports current ÷ baseline per rate.
 * Compared with itself here (the built dist/ as the baseline): the format and
 * the plumbing, not the figures (timings belong in bench/).
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')
const bin = join(root, 'dist', 'bin', 'nvlb.js')

t.test('pipeline-compare against a build: a ratio and a median ratio per packet rate', { skip: existsSync(bin) ? false : 'dist/ not built' }, async (t) => {
  const child = spawnSync(process.execPath, [bin, 'bench', 'pipeline-compare', '--baseline', root, '--runs', '1', '--flows', '300', '--rounds', '1', '--packets', '3000', '--json'], { encoding: 'utf8', timeout: 120_000 })
  t.equal(child.status, 0, child.stderr)
  const lines = child.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; value: number; unit: string; target: number; better: string })
  const names = lines.map((m) => m.name)
  for (const rate of ['engine.known_flow', 'engine.return', 'engine.ca_vip', 'engine.new_flow', 'flood.established']) {
    t.ok(names.includes(`compare.${rate}.ratio`), `${rate}: best ÷ best`)
    t.ok(names.includes(`compare.${rate}.median_ratio`), `${rate}: median ÷ median`)
  }
  for (const m of lines) {
    t.ok(m.value > 0 && Number.isFinite(m.value), `${m.name} = ${m.value}`)
    t.same([m.unit, m.target, m.better], ['×', 1, 'higher'])
  }
  t.match(child.stderr, /the engine of .*dist/, 'the baseline runs were measured with the other build\'s engine')
})

t.test('a baseline that is no build is refused with a clear line', { skip: existsSync(bin) ? false : 'dist/ not built' }, async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'nvlb-compare-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  const child = spawnSync(process.execPath, [bin, 'bench', 'pipeline-compare', '--baseline', empty, '--runs', '1'], { encoding: 'utf8', timeout: 60_000 })
  t.not(child.status, 0)
  t.match(child.stderr, /no built nvlb there/)
  const missing = spawnSync(process.execPath, [bin, 'bench', 'pipeline-compare'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(missing.status, 2)
  t.match(missing.stderr, /--baseline DIR is required/)
})
