/**
 * The host emulator's decapsulation in the kernel: an XDP program on the provider
 * interface that does what HostEmulator.fromProvider does for the common frame, so a
 * Hyper-V host's busiest job (NVGRE from nvlb or another host → a VM) costs no copy into
 * user space and back, as it costs none in Hyper-V's own virtual switch.
 *
 * The fast path takes a frame only when the emulator would deliver it and the result is
 * the same byte for byte: untagged Ethernet to the host's MAC, IPv4 without options to the
 * host's PA with a valid header checksum, not a fragment, protocol 47, the GRE word
 * 0x2000 / 0x6558, an untagged inner IPv4 frame whose (VSID, inner destination) is a VM of
 * this host and whose IP packet fits inside the outer one. It rewrites the inner
 * destination MAC to the VM's, trims what follows the inner IP packet, strips the 42
 * outer bytes and redirects the frame to the VM's port. Every other frame (ARP, anything
 * malformed, any drop reason) goes on unchanged (XDP_PASS) to the emulator's socket, which
 * handles and counts it as before.
 *
 * The VM's port is the host end of a veth pair: for an XDP redirect into it the kernel
 * needs NAPI on the VM's end, which it has when GRO (or an XDP program) is on there; the
 * reference deployment turns GRO on (examples/blue-red/topology.ts). Without it the kernel
 * drops redirected frames and counts them as the VM port's tx_dropped.
 */
import { BpfMap, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH } from '../io/bpf-map'
import { createLink, loadProgram } from '../io/bpf-syscall'
import * as asm from '../io/ebpf-assembler'
import { be16, loaded, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10 } from '../io/ebpf-assembler'
import * as c from '../io/libc'
import { BPF_FUNC_MAP_LOOKUP_ELEM, BPF_PROG_TYPE_XDP, BPF_XDP, XDP_ABORTED, XDP_FLAGS_DRV_MODE, XDP_MD_DATA, XDP_MD_DATA_END, XDP_PASS } from '../io/xdp-program'
import * as ethernet from '../packet/ethernet'
import * as ipv4 from '../packet/ipv4'
import * as nvgre from '../packet/nvgre'
import type { HostEmulator } from './host-emulator'

export const BPF_FUNC_GET_PRANDOM_U32 = 7
export const BPF_FUNC_REDIRECT = 23
const BPF_FUNC_XDP_ADJUST_HEAD = 44
const BPF_FUNC_XDP_ADJUST_TAIL = 65
/** struct xdp_md: data, data_end, data_meta, ingress_ifindex. */
export const XDP_MD_INGRESS_IFINDEX = 12

const OUTER_IP = ethernet.ETHERNET_HEADER_LENGTH
const GRE = OUTER_IP + ipv4.IPV4_HEADER_LENGTH
const INNER_ETHERNET = GRE + nvgre.NVGRE_HEADER_LENGTH
const INNER_IP = INNER_ETHERNET + ethernet.ETHERNET_HEADER_LENGTH
/** Bytes the program reads: the outer headers, the inner Ethernet header and the inner IPv4 header. */
const HEADERS = INNER_IP + ipv4.IPV4_HEADER_LENGTH

/** Key of the VM map: u32 VSID (host order), the inner destination CA (4 bytes, network order). */
export const VM_KEY_SIZE = 8
/** Value: u32 ifindex of the VM's port, its MAC (6 bytes), 2 bytes padding. */
export const VM_VALUE_SIZE = 12
/** Index of the decapsulated-frames counter (u64) in the counters array; the second counts frames aborted after a change. */
export const COUNTER_DECAPSULATED = 0
export const COUNTER_ABORTED = 1
const COUNTERS = 2

const PASS = 'pass'
const ABORT = 'abort'

/** The XDP program for a host with provider MAC `providerMac` and address `providerAddress` (unsigned), using the two maps. */
export function decapProgram(providerMac: Uint8Array, providerAddress: number, vmMapFd: number, countersFd: number): Buffer {
  const p = new asm.EbpfProgram()
  const pa = [providerAddress >>> 24, (providerAddress >>> 16) & 0xff, (providerAddress >>> 8) & 0xff, providerAddress & 0xff]
  p.movReg(R6, R1)
    .load(asm.W, R7, R6, XDP_MD_DATA)
    .load(asm.W, R8, R6, XDP_MD_DATA_END)
    .movReg(R1, R7)
    .aluImm(asm.ADD, R1, HEADERS)
    .jumpReg(asm.JGT, R1, R8, PASS)
    // Outer Ethernet: to this host, untagged IPv4.
    .load(asm.W, R1, R7, ethernet.ETHERNET_OFF_DST)
    .jump32Imm(asm.JNE, R1, loaded([...providerMac.subarray(0, 4)]), PASS)
    .load(asm.H, R1, R7, ethernet.ETHERNET_OFF_DST + 4)
    .jumpImm(asm.JNE, R1, loaded([...providerMac.subarray(4, 6)]), PASS)
    .load(asm.H, R1, R7, ethernet.ETHERNET_OFF_ETHERTYPE)
    .jumpImm(asm.JNE, R1, loaded(be16(ethernet.ETHERTYPE_IPV4)), PASS)
    // Outer IPv4: no options, not a fragment, GRE, to this host's PA.
    .load(asm.B, R1, R7, OUTER_IP + ipv4.IPV4_OFF_VERSION_IHL)
    .jumpImm(asm.JNE, R1, ipv4.IPV4_VERSION_IHL_NO_OPTIONS, PASS)
    .load(asm.H, R1, R7, OUTER_IP + ipv4.IPV4_OFF_FLAGS_FRAGMENT)
    .jumpImm(asm.JSET, R1, loaded(be16(ipv4.IPV4_FLAG_MF | ipv4.IPV4_FRAGMENT_OFFSET_MASK)), PASS)
    .load(asm.B, R1, R7, OUTER_IP + ipv4.IPV4_OFF_PROTOCOL)
    .jumpImm(asm.JNE, R1, ipv4.IPPROTO_GRE, PASS)
    .load(asm.W, R1, R7, OUTER_IP + ipv4.IPV4_OFF_DST)
    .jump32Imm(asm.JNE, R1, loaded(pa), PASS)
  // The header checksum: the ones' complement sum of its ten 16-bit words is 0xffff (in either byte order).
  p.load(asm.W, R1, R7, OUTER_IP)
  for (let word = 4; word < ipv4.IPV4_HEADER_LENGTH; word += 4) p.load(asm.W, R2, R7, OUTER_IP + word).aluReg(asm.ADD, R1, R2)
  for (let fold = 0; fold < 3; fold++) p.movReg(R2, R1).aluImm(asm.RSH, R2, 16).aluImm(asm.AND, R1, 0xffff).aluReg(asm.ADD, R1, R2)
  p.jumpImm(asm.JNE, R1, 0xffff, PASS)
    // GRE: key only, version 0, transparent Ethernet bridging; inside, untagged IPv4.
    .load(asm.W, R1, R7, GRE + nvgre.NVGRE_OFF_FLAGS_VERSION)
    .jump32Imm(asm.JNE, R1, loaded([...be16(nvgre.NVGRE_FLAGS_VERSION), ...be16(nvgre.NVGRE_PROTOCOL)]), PASS)
    .load(asm.H, R1, R7, INNER_ETHERNET + ethernet.ETHERNET_OFF_ETHERTYPE)
    .jumpImm(asm.JNE, R1, loaded(be16(ethernet.ETHERTYPE_IPV4)), PASS)
    // Lengths: R2 the frame, R3 the end of the outer IP packet, R4 the end of the inner one.
    .movReg(R2, R8)
    .aluReg(asm.SUB, R2, R7)
    .load(asm.H, R3, R7, OUTER_IP + ipv4.IPV4_OFF_TOTAL_LENGTH)
    .fromBigEndian(R3, 16)
    .aluImm(asm.ADD, R3, OUTER_IP)
    .jumpReg(asm.JGT, R3, R2, PASS)
    .load(asm.H, R4, R7, INNER_IP + ipv4.IPV4_OFF_TOTAL_LENGTH)
    .fromBigEndian(R4, 16)
    .aluImm(asm.ADD, R4, INNER_IP)
    .jumpReg(asm.JGT, R4, R3, PASS)
    // R9: the bytes after the inner IP packet (Ethernet padding, inner and outer).
    .movReg(R9, R2)
    .aluReg(asm.SUB, R9, R4)
    // The VM of (VSID, inner destination CA).
    .load(asm.W, R1, R7, GRE + nvgre.NVGRE_OFF_KEY)
    .fromBigEndian(R1, 32)
    .aluImm(asm.RSH, R1, 8)
    .store(asm.W, R10, -8, R1)
    .load(asm.W, R1, R7, INNER_IP + ipv4.IPV4_OFF_DST)
    .store(asm.W, R10, -4, R1)
    .loadMap(R1, vmMapFd)
    .movReg(R2, R10)
    .aluImm(asm.ADD, R2, -8)
    .call(BPF_FUNC_MAP_LOOKUP_ELEM)
    .jumpImm(asm.JEQ, R0, 0, PASS)
    // Inner destination MAC := the VM's; R7 := the VM port's ifindex.
    .load(asm.W, R1, R0, 4)
    .store(asm.W, R7, INNER_ETHERNET + ethernet.ETHERNET_OFF_DST, R1)
    .load(asm.H, R1, R0, 8)
    .store(asm.H, R7, INNER_ETHERNET + ethernet.ETHERNET_OFF_DST + 4, R1)
    .load(asm.W, R7, R0, 0)
  trimThenMoveHead(p, INNER_ETHERNET, ABORT)
  count(p, countersFd, COUNTER_DECAPSULATED, 'counted')
  p.movReg(R1, R7).movImm(R2, 0).call(BPF_FUNC_REDIRECT).exit()
  p.label(ABORT)
  count(p, countersFd, COUNTER_ABORTED, 'aborted')
  p.movImm(R0, XDP_ABORTED).exit()
  p.label(PASS).movImm(R0, XDP_PASS).exit()
  return p.encode()
}

/**
 * Cuts the R9 bytes at the frame's end (none when R9 is 0), then moves its start by `delta`
 * bytes (positive: drops headers, negative: makes room for them); jumps to `failed` when the
 * kernel refuses either. The context is in R6; packet pointers are invalid afterwards.
 */
export function trimThenMoveHead(p: asm.EbpfProgram, delta: number, failed: string): void {
  const moveHead = `${failed}_head`
  p.jumpImm(asm.JEQ, R9, 0, moveHead)
    .movReg(R1, R6)
    .movImm(R2, 0)
    .aluReg(asm.SUB, R2, R9)
    .call(BPF_FUNC_XDP_ADJUST_TAIL)
    .jumpImm(asm.JNE, R0, 0, failed)
    .label(moveHead)
    .movReg(R1, R6)
    .movImm(R2, delta)
    .call(BPF_FUNC_XDP_ADJUST_HEAD)
    .jumpImm(asm.JNE, R0, 0, failed)
}

/** Adds one to counter `index` of the counters array (uses r0..r5 and the stack word at -12). */
export function count(p: asm.EbpfProgram, countersFd: number, index: number, done: string): void {
  p.storeImm(asm.W, R10, -12, index)
    .loadMap(R1, countersFd)
    .movReg(R2, R10)
    .aluImm(asm.ADD, R2, -12)
    .call(BPF_FUNC_MAP_LOOKUP_ELEM)
    .jumpImm(asm.JEQ, R0, 0, done)
    .movImm(R1, 1)
    .atomicAdd64(R0, 0, R1)
    .label(done)
}

export interface KernelDecapCounters {
  /** Frames the program decapsulated and redirected to a VM port. */
  decapsulated: number
  /** Frames dropped because the kernel refused to trim or strip them after the program had changed them. */
  aborted: number
}

/** The decapsulation program attached to a host emulator's provider interface, and its maps. */
export class KernelDecap {
  private readonly vms: BpfMap
  private readonly counters: BpfMap
  private readonly linkFd: number
  private readonly providerMac: Uint8Array
  private readonly providerAddress: number
  /** The ifindex of VM port i + 1. */
  private readonly vmIfindexes: readonly number[]
  private closed: KernelDecapCounters | null = null

  /**
   * Attaches to `providerInterface` (native XDP) for the VMs of `emulator`, whose port i + 1
   * is `vmInterfaces[i]`. Throws when the kernel refuses (no native XDP, a verifier error).
   */
  constructor(emulator: HostEmulator, providerInterface: string, vmInterfaces: readonly string[]) {
    this.providerMac = emulator.providerMac
    this.providerAddress = emulator.providerAddress
    const ifindex = c.interfaceIndex(providerInterface)
    this.vmIfindexes = vmInterfaces.map(c.interfaceIndex)
    this.vms = new BpfMap(BPF_MAP_TYPE_HASH, VM_KEY_SIZE, VM_VALUE_SIZE, Math.max(1, vmInterfaces.length), 'nvlb_host_vms')
    const opened: Array<() => void> = [() => this.vms.close()]
    try {
      this.counters = new BpfMap(BPF_MAP_TYPE_ARRAY, 4, 8, COUNTERS, 'nvlb_host_decap')
      opened.push(() => this.counters.close())
      this.setVms(emulator)
      const program = decapProgram(emulator.providerMac, emulator.providerAddress, this.vms.fd, this.counters.fd)
      const programFd = loadProgram(BPF_PROG_TYPE_XDP, BPF_XDP, program, 'nvlb_host_decap')
      try {
        this.linkFd = createLink(programFd, ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE, `XDP on ${providerInterface}`)
      } finally {
        // The link holds the program.
        c.close(programFd)
      }
    } catch (err) {
      for (const close of opened.reverse()) close()
      throw err
    }
  }

  /** Points the map at `emulator`'s VMs (same ports; their MACs may have changed with the policy). Throws for another PA or MAC. */
  setVms(emulator: HostEmulator): void {
    if (emulator.providerAddress !== this.providerAddress || !emulator.providerMac.every((b, i) => b === this.providerMac[i])) {
      throw new Error('the kernel decapsulation was built for another provider address or MAC')
    }
    const key = Buffer.alloc(VM_KEY_SIZE)
    const value = Buffer.alloc(VM_VALUE_SIZE)
    for (let port = 1; port < emulator.vmPorts.length; port++) {
      const vm = emulator.vmPorts[port]!
      key.writeUInt32LE(vm.virtualSubnetId, 0)
      key.writeUInt32BE(vm.customerAddress, 4)
      value.writeUInt32LE(this.vmIfindexes[port - 1]!, 0)
      value.set(vm.mac, 4)
      this.vms.set(key, value)
    }
  }

  /** The counts; after close(), those it had then. */
  read(): KernelDecapCounters {
    if (this.closed !== null) return this.closed
    return { decapsulated: this.counters.counter(COUNTER_DECAPSULATED), aborted: this.counters.counter(COUNTER_ABORTED) }
  }

  /** Detaches the program and frees the maps. */
  close(): void {
    if (this.closed !== null) return
    c.close(this.linkFd)
    this.closed = this.read()
    this.vms.close()
    this.counters.close()
  }
}
