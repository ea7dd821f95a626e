/** `nvlb --version` and `nvlb completion bash`: the script completes commands, actions and options in a real bash. */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, cleanEnv, nvlb } from './helpers'

t.test('nvlb --version prints the package version', async (t) => {
  const version = (require(join(ROOT, 'package.json')) as { version: string }).version
  for (const flag of ['--version', '-V']) {
    const res = await nvlb([flag])
    t.equal(res.code, 0)
    t.equal(res.stdout, `nvlb ${version}\n`, flag)
  }
})

t.test('nvlb completion refuses other shells with a usage error', async (t) => {
  const res = await nvlb(['completion', 'fish'])
  t.equal(res.code, 2)
  t.match(res.stderr, /only bash/)
})

t.test('the bash completion script completes in bash', async (t) => {
  const script = await nvlb(['completion', 'bash'])
  t.equal(script.code, 0)
  t.match(script.stdout, /complete -F _nvlb nvlb/)

  // An `nvlb` on the PATH that runs this checkout, as an installed one would.
  const dir = mkdtempSync(join(tmpdir(), 'nvlb-completion-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const wrapper = join(dir, 'nvlb')
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(join(ROOT, 'bin', 'nvlb.ts'))} "$@"\n`)
  chmodSync(wrapper, 0o755)
  writeFileSync(join(dir, 'completion.bash'), script.stdout)

  const complete = (...words: string[]): string[] => {
    const line = words.map((w) => `'${w}'`).join(' ')
    const res = spawnSync(
      'bash',
      ['-c', `cd ${JSON.stringify(ROOT)}; source ${JSON.stringify(join(dir, 'completion.bash'))}; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _nvlb; printf '%s\\n' "\${COMPREPLY[@]}"`],
      { encoding: 'utf8', env: cleanEnv({ PATH: `${dir}:${process.env.PATH}` }), timeout: 60_000 },
    )
    t.equal(res.status, 0, `bash ran (${res.stderr})`)
    return res.stdout.split('\n').filter((w) => w !== '')
  }

  t.same(complete('nvlb', 'v'), ['vip'], 'nvlb v<Tab> → vip')
  t.ok(complete('nvlb', '').includes('completion'), 'every command is offered')
  t.ok(complete('nvlb', '--v').includes('--version'))
  t.same(complete('nvlb', 'vip', 'cr'), ['create'], "an action from the command's help")
  t.ok(complete('nvlb', 'run', '--st').includes('--state-dir'), "an option from the command's help")
  t.ok(complete('nvlb', 'policy', '--skip').includes('--skip-unsupported'))
})
