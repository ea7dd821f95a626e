import t from 'tap'
import { main, parseVmArgument } from '../../bin/commands/host'
import { CONFIG_PATH } from '../../examples/blue-red/topology'

function capture(): { out: string[]; err: string[]; restore(): void } {
  const out: string[] = []
  const err: string[] = []
  const stdout = process.stdout.write.bind(process.stdout)
  const stderr = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write
  process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write
  return {
    out,
    err,
    restore() {
      process.stdout.write = stdout
      process.stderr.write = stderr
    },
  }
}

t.test('--vm NAME:IF:VSID:CA', async (t) => {
  t.same(parseVmArgument('blue-vm2:blue-vm2:5001:10.1.6.21'), {
    name: 'blue-vm2', interface: 'blue-vm2', virtualSubnetId: 5001, customerAddress: '10.1.6.21',
  })
  t.throws(() => parseVmArgument('blue-vm2:5001:10.1.6.21'), /NAME:IF:VSID:CA/)
  t.throws(() => parseVmArgument('a:b:4095:10.1.6.21'), /VSID/)
  t.throws(() => parseVmArgument('a:b:5001:10.1.6'), /not an IPv4/)
})

t.test('usage and argument errors', async (t) => {
  const io = capture()
  let codes: number[]
  try {
    codes = [
      await main(['--help']),
      await main([]),
      await main(['--config', CONFIG_PATH, '--name', 'h', '--provider-interface', 'pa0', '--provider-address', '192.168.6']),
      await main(['--config', CONFIG_PATH, '--name', 'h', '--provider-interface', 'pa0', '--provider-address', '192.168.6.4', '--vm', 'x']),
      await main(['--bogus']),
    ]
  } finally {
    io.restore()
  }
  t.same(codes, [0, 2, 2, 2, 2])
  t.match(io.out.join(''), /usage: nvlb host/)
  t.match(io.err.join(''), /--provider-address '192\.168\.6' is not an IPv4 address/)
  t.match(io.err.join(''), /NAME:IF:VSID:CA/)
})

t.test('a VM without a lookup record on this host fails to start', async (t) => {
  const io = capture()
  let code: number
  try {
    code = await main([
      '--config', CONFIG_PATH, '--name', 'host1', '--provider-interface', 'lo', '--provider-address', '192.168.6.4',
      '--provider-mac', '02:00:c0:a8:06:04', '--vm', 'blue-vm3:lo:5001:10.1.6.22',
    ])
  } finally {
    io.restore()
  }
  t.equal(code, 1)
  t.match(io.err.join(''), /another provider address/)
})
