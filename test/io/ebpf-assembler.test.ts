import t from 'tap'
import * as asm from '../../lib/io/ebpf-assembler'
import { R0, R1, R2, R10 } from '../../lib/io/ebpf-assembler'

function decode(code: Buffer): Array<{ opcode: number; dst: number; src: number; offset: number; imm: number }> {
  const out = []
  for (let i = 0; i < code.length; i += 8) {
    out.push({ opcode: code[i]!, dst: code[i + 1]! & 0x0f, src: code[i + 1]! >> 4, offset: code.readInt16LE(i + 2), imm: code.readInt32LE(i + 4) })
  }
  return out
}

t.test('struct bpf_insn layout; labels become offsets from the next instruction', async (t) => {
  const p = new asm.EbpfProgram()
  p.movImm(R0, 2)
    .load(asm.W, R1, R10, -4)
    .jump32Imm(asm.JNE, R1, 0xc0a80604 | 0, 'out')
    .loadMap(R1, 7)
    .storeImm(asm.H, R10, -8, 0x0800)
    .atomicAdd64(R0, 0, R2)
    .label('out')
    .exit()
  t.same(decode(p.encode()), [
    { opcode: 0xb7, dst: 0, src: 0, offset: 0, imm: 2 },
    { opcode: 0x61, dst: 1, src: 10, offset: -4, imm: 0 },
    { opcode: 0x56, dst: 1, src: 0, offset: 4, imm: 0xc0a80604 | 0 },
    { opcode: 0x18, dst: 1, src: 1, offset: 0, imm: 7 },
    { opcode: 0, dst: 0, src: 0, offset: 0, imm: 0 },
    { opcode: 0x6a, dst: 10, src: 0, offset: -8, imm: 0x0800 },
    { opcode: 0xdb, dst: 0, src: 2, offset: 0, imm: 0 },
    { opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 },
  ])
  t.equal(p.length, 8, 'the 64-bit immediate load takes two slots')
})

t.test('unknown, duplicate and backward labels are refused', async (t) => {
  t.throws(() => new asm.EbpfProgram().goto('nowhere').encode(), /not defined/)
  t.throws(() => new asm.EbpfProgram().label('a').label('a'), /defined twice/)
  t.throws(() => new asm.EbpfProgram().label('back').goto('back').encode(), /out of reach/)
})
