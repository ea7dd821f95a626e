/**
 * The npm package stands on its own: `npm pack` of the built tree installs into a
 * fresh prefix, and the installed `nvlb` answers --help and --version, replays a
 * capture and runs the demo once (root and network namespaces; bounded by its own
 * --duration and a timeout). It packs dist/ as built by `npm ci` (prepare).
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Packing, installing and one demo run take about a minute on an idle machine; more under load.
t.setTimeout(600_000)

const root = join(__dirname, '..', '..')
const pkg = require(join(root, 'package.json')) as {
  version: string
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

t.test('dependencies: what runs is in dependencies, test-only references are not', async (t) => {
  t.ok(pkg.dependencies.autocannon, 'autocannon (demo and bench load) is a run-time dependency')
  t.notOk(pkg.dependencies['murmurhash3js-revisited'], 'the hash reference is not a run-time dependency')
  t.ok(pkg.devDependencies['murmurhash3js-revisited'], 'the hash reference is a dev dependency')
  // Nothing that runs imports the reference.
  const offenders: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (/\.ts$/.test(name) && /require\(['"]murmurhash3js-revisited|from ['"]murmurhash3js-revisited/.test(require('node:fs').readFileSync(path, 'utf8'))) {
        offenders.push(path)
      }
    }
  }
  for (const dir of ['lib', 'bin', 'bench', 'examples']) walk(join(root, dir))
  t.same(offenders, [], 'no run-time file imports murmurhash3js-revisited')
})

t.test('npm pack installs on a fresh prefix and the installed nvlb works', async (t) => {
  if (!existsSync(join(root, 'dist', 'bin', 'nvlb.js'))) execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' })
  const work = mkdtempSync(join(tmpdir(), 'nvlb-pack-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' })
  const tarball = join(work, out.trim().split('\n').pop()!)
  t.ok(existsSync(tarball), `packed ${tarball}`)

  const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n')
  t.ok(listing.includes('package/dist/bin/nvlb.js'), 'the CLI is in the package')
  t.ok(listing.includes('package/examples/systemd/nvlb.service'), 'the systemd unit is in the package')
  t.ok(listing.includes('package/docs/configuration.md'), 'the configuration reference is in the package')
  t.notOk(listing.some((f) => f.startsWith('package/dist/test/')), 'no tests in the package')

  const prefix = join(work, 'prefix')
  const install = spawnSync('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball], {
    encoding: 'utf8',
    timeout: 300_000,
  })
  t.equal(install.status, 0, `npm install -g --prefix (${install.stderr.slice(-500)})`)
  const nvlb = join(prefix, 'bin', 'nvlb')
  const run = (args: string[], timeout = 60_000) => spawnSync(nvlb, args, { encoding: 'utf8', timeout, cwd: work })

  const help = run(['--help'])
  t.equal(help.status, 0, 'nvlb --help')
  t.match(help.stdout, /usage: nvlb <command>/)
  t.match(help.stdout, /completion/)

  const version = run(['--version'])
  t.equal(version.status, 0)
  t.equal(version.stdout.trim(), `nvlb ${pkg.version}`, 'nvlb --version prints the package version')

  const replayOut = join(work, 'out.pcap')
  const replay = run(['replay', '--config', join(root, 'examples/blue-red/config.json'), join(root, 'examples/replay/blue-red.pcap'), replayOut, '--json'])
  t.equal(replay.status, 0, `nvlb replay (${replay.stderr})`)
  t.ok(existsSync(replayOut) && statSync(replayOut).size > 24, 'replay wrote frames')
  const summary = JSON.parse(replay.stdout.trim().split('\n').pop()!)
  t.ok(JSON.stringify(summary).length > 2, 'a JSON summary')

  const prefixName = `pk${Math.random().toString(36).slice(2, 6)}`
  const demo = run(['demo', '--once', '--prefix', prefixName, '--duration', '1'], 400_000)
  t.equal(demo.status, 0, `nvlb demo --once (${demo.stdout.slice(-800)} ${demo.stderr.slice(-800)})`)
  t.match(demo.stdout + demo.stderr, /every VIP was answered by all of its own tenant's backends/)
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  t.notMatch(left, new RegExp(`^${prefixName}-`, 'm'), 'the demo removed its namespaces')
})
