import t from 'tap'
import { BpfProgram, BPF_H, BPF_JEQ, BPF_LD, BPF_ABS, BPF_RET, BPF_K, BPF_JMP, BPF_JA } from '../../lib/io/bpf-assembler'
import { steeringProgram } from '../../lib/io/fanout-program'

function decode(program: Buffer): { code: number; jt: number; jf: number; k: number }[] {
  const out = []
  for (let i = 0; i < program.length; i += 8) {
    out.push({ code: program.readUInt16LE(i), jt: program[i + 2]!, jf: program[i + 3]!, k: program.readUInt32LE(i + 4) })
  }
  return out
}

t.test('labels become relative jump offsets; struct sock_filter layout', async (t) => {
  const p = new BpfProgram()
  p.ldAbs(BPF_H, 12).jumpK(BPF_JEQ, 0x0806, 'arp', null).retK(0).label('arp').jumpAlways('end').retK(1).label('end').retK(0xffff)
  t.same(decode(p.encode()), [
    { code: BPF_LD | BPF_H | BPF_ABS, jt: 0, jf: 0, k: 12 },
    { code: BPF_JMP | BPF_JEQ | BPF_K, jt: 1, jf: 0, k: 0x0806 },
    { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0 },
    { code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: 1 },
    { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 1 },
    { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0xffff },
  ])
})

t.test('conditional jumps out of reach, unknown and duplicate labels are refused', async (t) => {
  const far = new BpfProgram().jumpK(BPF_JEQ, 1, 'x', null)
  for (let i = 0; i < 300; i++) far.retK(0)
  far.label('x').retK(1)
  t.throws(() => far.encode(), /out of reach/)
  t.throws(() => new BpfProgram().jumpAlways('nowhere').retK(0).encode(), /not defined/)
  t.throws(() => new BpfProgram().label('a').label('a'))
  t.throws(() => new BpfProgram().encode(), /0 instructions/)
})

t.test('steering programs stay within the kernel limit for any number of frontends', async (t) => {
  const sizes = [0, 1, 300, 2000, 20000]
  for (const n of sizes) {
    const frontends = Array.from({ length: n }, (_, i) => ({ address: 0x0a000000 + (i >> 4), port: 1000 + (i % 400) }))
    const program = steeringProgram(frontends)
    t.ok(program.length / 8 <= 4096, `${n} frontends: ${program.length / 8} instructions`)
  }
})
