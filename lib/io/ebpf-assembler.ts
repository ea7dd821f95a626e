/**
 * A small eBPF assembler (Documentation/bpf/standardization/instruction-set.rst):
 * 64-bit registers r0..r10, instructions with symbolic jump targets, encoded as the
 * `struct bpf_insn` array BPF_PROG_LOAD takes (8 bytes each: u8 opcode, u8 dst:4 src:4,
 * s16 offset, s32 imm; the 64-bit immediate load takes two). Programs are built once, on
 * the control path; the kernel's verifier has the last word on them.
 */
export const R0 = 0
export const R1 = 1
export const R2 = 2
export const R3 = 3
export const R4 = 4
export const R5 = 5
export const R6 = 6
export const R7 = 7
export const R8 = 8
export const R9 = 9
/** The read-only frame pointer: the 512-byte stack lies below it. */
export const R10 = 10

const CLASS_LDX = 0x01
const CLASS_ST = 0x02
const CLASS_STX = 0x03
const CLASS_ALU = 0x04
const CLASS_JMP = 0x05
const CLASS_JMP32 = 0x06
const CLASS_ALU64 = 0x07
const MODE_MEM = 0x60
const MODE_ATOMIC = 0xc0
const SOURCE_K = 0x00
const SOURCE_X = 0x08

/** Access sizes of loads and stores. */
export const W = 0x00
export const H = 0x08
export const B = 0x10
export const DW = 0x18

/** ALU operations. */
export const ADD = 0x00
export const SUB = 0x10
export const OR = 0x40
export const AND = 0x50
export const LSH = 0x60
export const RSH = 0x70
export const XOR = 0xa0
export const MOV = 0xb0
const END = 0xd0
const TO_BE = 0x08

/** Conditional jumps (unsigned comparisons). */
export const JEQ = 0x10
export const JGT = 0x20
export const JGE = 0x30
export const JSET = 0x40
export const JNE = 0x50
export const JLT = 0xa0
export const JLE = 0xb0
const JA = 0x00
const CALL = 0x80
const EXIT = 0x90

const PSEUDO_MAP_FD = 1
const INSTRUCTION_SIZE = 8

interface Instruction {
  opcode: number
  dst: number
  src: number
  offset: number
  imm: number
  /** A jump's target label (encoded in offset). */
  target: string | null
}

/** A 16- or 32-bit field as a program's little-endian load of its network-order bytes sees it. */
export function loaded(bytes: readonly number[]): number {
  return bytes.reduce((value, byte, i) => value + byte * 2 ** (8 * i), 0) | 0
}

/** The two network-order bytes of a 16-bit value. */
export const be16 = (value: number): number[] => [(value >>> 8) & 0xff, value & 0xff]

export class EbpfProgram {
  private readonly instructions: Instruction[] = []
  private readonly labels = new Map<string, number>()

  /** Instruction slots so far (the 64-bit immediate load counts two). */
  get length(): number {
    return this.instructions.length
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`eBPF label defined twice: ${name}`)
    this.labels.set(name, this.instructions.length)
    return this
  }

  private emit(opcode: number, dst: number, src: number, offset: number, imm: number, target: string | null = null): this {
    this.instructions.push({ opcode, dst, src, offset, imm: imm | 0, target })
    return this
  }

  /** dst = imm (64-bit, sign-extended). */
  movImm(dst: number, imm: number): this {
    return this.emit(CLASS_ALU64 | MOV | SOURCE_K, dst, 0, 0, imm)
  }

  /** dst = src */
  movReg(dst: number, src: number): this {
    return this.emit(CLASS_ALU64 | MOV | SOURCE_X, dst, src, 0, 0)
  }

  /** dst = dst op imm (64-bit). */
  aluImm(op: number, dst: number, imm: number): this {
    return this.emit(CLASS_ALU64 | op | SOURCE_K, dst, 0, 0, imm)
  }

  /** dst = dst op src (64-bit). */
  aluReg(op: number, dst: number, src: number): this {
    return this.emit(CLASS_ALU64 | op | SOURCE_X, dst, src, 0, 0)
  }

  /** dst = the low `bits` (16, 32 or 64) of dst from network to host byte order (on a little-endian machine). */
  fromBigEndian(dst: number, bits: 16 | 32 | 64): this {
    return this.emit(CLASS_ALU | END | TO_BE, dst, 0, 0, bits)
  }

  /** dst = *(size *)(src + offset) */
  load(size: number, dst: number, src: number, offset: number): this {
    return this.emit(CLASS_LDX | MODE_MEM | size, dst, src, offset, 0)
  }

  /** *(size *)(dst + offset) = src */
  store(size: number, dst: number, offset: number, src: number): this {
    return this.emit(CLASS_STX | MODE_MEM | size, dst, src, offset, 0)
  }

  /** *(size *)(dst + offset) = imm */
  storeImm(size: number, dst: number, offset: number, imm: number): this {
    return this.emit(CLASS_ST | MODE_MEM | size, dst, 0, offset, imm)
  }

  /** Atomically *(u64 *)(dst + offset) += src. */
  atomicAdd64(dst: number, offset: number, src: number): this {
    return this.emit(CLASS_STX | MODE_ATOMIC | DW, dst, src, offset, ADD)
  }

  /** dst = the map with file descriptor `mapFd` (a 64-bit immediate load: two slots). */
  loadMap(dst: number, mapFd: number): this {
    this.emit(0x18, dst, PSEUDO_MAP_FD, 0, mapFd)
    return this.emit(0, 0, 0, 0, 0)
  }

  /** if (dst op imm) goto target */
  jumpImm(op: number, dst: number, imm: number, target: string): this {
    return this.emit(CLASS_JMP | op | SOURCE_K, dst, 0, 0, imm, target)
  }

  /** if ((u32)dst op (u32)imm) goto target: for 32-bit values whose top bit may be set (a 64-bit compare would sign-extend imm). */
  jump32Imm(op: number, dst: number, imm: number, target: string): this {
    return this.emit(CLASS_JMP32 | op | SOURCE_K, dst, 0, 0, imm, target)
  }

  /** if (dst op src) goto target */
  jumpReg(op: number, dst: number, src: number, target: string): this {
    return this.emit(CLASS_JMP | op | SOURCE_X, dst, src, 0, 0, target)
  }

  goto(target: string): this {
    return this.emit(CLASS_JMP | JA, 0, 0, 0, 0, target)
  }

  /** r0 = helper(r1..r5); r1..r5 are clobbered. */
  call(helper: number): this {
    return this.emit(CLASS_JMP | CALL, 0, 0, 0, helper)
  }

  exit(): this {
    return this.emit(CLASS_JMP | EXIT, 0, 0, 0, 0)
  }

  /** The `struct bpf_insn` array. Throws on an unknown label or a backward jump (the verifier refuses loops we never need). */
  encode(): Buffer {
    const out = Buffer.alloc(this.instructions.length * INSTRUCTION_SIZE)
    this.instructions.forEach((ins, i) => {
      let offset = ins.offset
      if (ins.target !== null) {
        const at = this.labels.get(ins.target)
        if (at === undefined) throw new Error(`eBPF label not defined: ${ins.target}`)
        offset = at - i - 1
        if (offset < 0 || offset > 0x7fff) throw new Error(`eBPF jump to ${ins.target} out of reach (${offset})`)
      }
      const base = i * INSTRUCTION_SIZE
      out[base] = ins.opcode
      out[base + 1] = (ins.src << 4) | ins.dst
      out.writeInt16LE(offset, base + 2)
      out.writeInt32LE(ins.imm, base + 4)
    })
    return out
  }
}
