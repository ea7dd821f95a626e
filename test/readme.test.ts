import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..')

t.test('the README starts with the two commands and .ci/run runs the test command', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(/```sh\n([^`]*?)\n```/g)].map((m) => m[1]!.trim())
  t.ok(blocks.length >= 2, 'two command blocks')
  const [main, tests] = blocks as [string, string]
  t.match(main, /^apt-get update && .*npm ci && /, 'main command installs system packages and the project')
  t.match(tests, /^apt-get update && .*npm ci && npm test$/, 'test command installs and runs the tests')
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
  t.ok(ci.split('\n').includes(tests), '.ci/run runs the README test command verbatim')
})
