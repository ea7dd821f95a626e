/**
 * A small classic-BPF assembler: instructions with symbolic jump targets,
 * encoded as the `struct sock_filter` array the kernel takes (8 bytes each:
 * u16 code, u8 jt, u8 jf, u32 k). Used to build the fanout steering program
 * and socket filters once, on the control path.
 */
export const BPF_LD = 0x00
export const BPF_LDX = 0x01
export const BPF_ST = 0x02
export const BPF_ALU = 0x04
export const BPF_JMP = 0x05
export const BPF_RET = 0x06
export const BPF_MISC = 0x07

export const BPF_W = 0x00
export const BPF_H = 0x08
export const BPF_B = 0x10

export const BPF_IMM = 0x00
export const BPF_ABS = 0x20
export const BPF_IND = 0x40
export const BPF_MEM = 0x60
export const BPF_MSH = 0xa0

export const BPF_ADD = 0x00
export const BPF_AND = 0x50
export const BPF_LSH = 0x60
export const BPF_XOR = 0xa0

export const BPF_JA = 0x00
export const BPF_JEQ = 0x10
export const BPF_JGT = 0x20
export const BPF_JSET = 0x40

export const BPF_K = 0x00
export const BPF_X = 0x08
export const BPF_A = 0x10

export const BPF_TAX = 0x00
export const BPF_TXA = 0x80

/** Largest program the kernel accepts (BPF_MAXINSNS). */
export const BPF_MAX_INSTRUCTIONS = 4096
export const SOCK_FILTER_SIZE = 8

/** Ancillary load offsets (SKF_AD_OFF + SKF_AD_PKTTYPE). */
export const SKF_AD_PKTTYPE = -0x1000 + 4
/** Loads at SKF_LL_OFF + k read byte k of the frame from its MAC header. */
export const SKF_LL_OFF = -0x200000

/** A jump target: a label name, or null for "the next instruction". */
type Target = string | null

interface Instruction {
  code: number
  k: number
  jt: Target
  jf: Target
  /** For BPF_JA: the label jumped to (encoded in k). */
  ja: Target
}

export class BpfProgram {
  private readonly instructions: Instruction[] = []
  private readonly labels = new Map<string, number>()
  private labelCounter = 0

  get length(): number {
    return this.instructions.length
  }

  /** A fresh label name, unique within this program. */
  newLabel(prefix = 'L'): string {
    return `${prefix}${this.labelCounter++}`
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`BPF label defined twice: ${name}`)
    this.labels.set(name, this.instructions.length)
    return this
  }

  private emit(code: number, k: number, jt: Target = null, jf: Target = null, ja: Target = null): this {
    this.instructions.push({ code, k: k >>> 0, jt, jf, ja })
    return this
  }

  /** A = 32/16/8 bits at absolute packet offset k. */
  ldAbs(size: number, k: number): this {
    return this.emit(BPF_LD | size | BPF_ABS, k)
  }

  /** A = bits at packet offset X + k. */
  ldInd(size: number, k: number): this {
    return this.emit(BPF_LD | size | BPF_IND, k)
  }

  /** A = k */
  ldImm(k: number): this {
    return this.emit(BPF_LD | BPF_W | BPF_IMM, k)
  }

  /** A = M[k] */
  ldMem(k: number): this {
    return this.emit(BPF_LD | BPF_W | BPF_MEM, k)
  }

  /** X = M[k] */
  ldxMem(k: number): this {
    return this.emit(BPF_LDX | BPF_W | BPF_MEM, k)
  }

  /** X = 4 * (packet[k] & 0x0f): the IPv4 header length. */
  ldxIpHeaderLength(k: number): this {
    return this.emit(BPF_LDX | BPF_B | BPF_MSH, k)
  }

  /** M[k] = A */
  st(k: number): this {
    return this.emit(BPF_ST, k)
  }

  aluK(op: number, k: number): this {
    return this.emit(BPF_ALU | op | BPF_K, k)
  }

  aluX(op: number): this {
    return this.emit(BPF_ALU | op | BPF_X, 0)
  }

  tax(): this {
    return this.emit(BPF_MISC | BPF_TAX, 0)
  }

  txa(): this {
    return this.emit(BPF_MISC | BPF_TXA, 0)
  }

  /** if (A op k) goto jt else goto jf; null = fall through. */
  jumpK(op: number, k: number, jt: Target, jf: Target): this {
    return this.emit(BPF_JMP | op | BPF_K, k, jt, jf)
  }

  /** if (A op X) goto jt else goto jf. */
  jumpX(op: number, jt: Target, jf: Target): this {
    return this.emit(BPF_JMP | op | BPF_X, 0, jt, jf)
  }

  /** goto label (32-bit offset: for far targets). */
  jumpAlways(label: string): this {
    return this.emit(BPF_JMP | BPF_JA, 0, null, null, label)
  }

  retK(k: number): this {
    return this.emit(BPF_RET | BPF_K, k)
  }

  retA(): this {
    return this.emit(BPF_RET | BPF_A, 0)
  }

  /** The `struct sock_filter` array. Throws when a conditional jump is out of reach. */
  encode(): Buffer {
    const count = this.instructions.length
    if (count === 0 || count > BPF_MAX_INSTRUCTIONS) throw new Error(`BPF program has ${count} instructions`)
    const out = Buffer.alloc(count * SOCK_FILTER_SIZE)
    for (let i = 0; i < count; i++) {
      const ins = this.instructions[i]!
      let k = ins.k
      if (ins.ja !== null) k = this.offsetTo(ins.ja, i, 0xffffffff)
      const base = i * SOCK_FILTER_SIZE
      out.writeUInt16LE(ins.code, base)
      out.writeUInt8(ins.jt === null ? 0 : this.offsetTo(ins.jt, i, 255), base + 2)
      out.writeUInt8(ins.jf === null ? 0 : this.offsetTo(ins.jf, i, 255), base + 3)
      out.writeUInt32LE(k >>> 0, base + 4)
    }
    return out
  }

  private offsetTo(label: string, from: number, max: number): number {
    const at = this.labels.get(label)
    if (at === undefined) throw new Error(`BPF label not defined: ${label}`)
    const offset = at - from - 1
    if (offset < 0 || offset > max) throw new Error(`BPF jump to ${label} out of reach (${offset})`)
    return offset
  }
}
