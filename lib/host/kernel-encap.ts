/**
 * The host emulator's encapsulation in the kernel: the other half of kernel-decap.ts. An
 * XDP program on each VM port does what HostEmulator.fromVm does for the common frame:
 * untagged unicast IPv4 without options from the VM's own CA, to a destination whose
 * record (the destination's own, or the record of its customer route's next hop) is on
 * another host whose MAC is known, and small enough for the provider MTU. It rewrites the
 * inner MACs, trims padding, writes the outer Ethernet, IPv4 and NVGRE headers (the same
 * bytes as the emulator, except the IPv4 identification, which the kernel draws at random)
 * and redirects the frame out of the provider interface. Every other frame (ARP, local
 * delivery, unknown next-hop MACs, every drop reason) goes on to the emulator's socket.
 *
 * Where each VM's packets go is precomputed from the policy into a longest-prefix-match map
 * keyed by (VM port ifindex, destination): every CA the VM's VSID resolves as a /32, and
 * each customer route of its VSID with its prefix; a route without a next hop, or to a
 * record the fast path cannot use, is an entry that says "pass". The runner writes the map
 * again when the emulator learns a neighbour or gets a new policy.
 *
 * The program runs in generic (skb) mode: a redirect from native XDP into a veth needs NAPI
 * on its far end, which here is a port of the provider bridge, where GRO (the other way to
 * get it) would merge the NVGRE segments going to nvlb.
 */
import { BpfMap, BPF_F_NO_PREALLOC, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_LPM_TRIE } from '../io/bpf-map'
import { createLink, loadProgram } from '../io/bpf-syscall'
import * as asm from '../io/ebpf-assembler'
import { be16, loaded, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10 } from '../io/ebpf-assembler'
import * as c from '../io/libc'
import { BPF_FUNC_MAP_LOOKUP_ELEM, BPF_PROG_TYPE_XDP, BPF_XDP, XDP_DROP, XDP_FLAGS_SKB_MODE, XDP_MD_DATA, XDP_MD_DATA_END, XDP_PASS } from '../io/xdp-program'
import { onesSum } from '../packet/checksum'
import * as ethernet from '../packet/ethernet'
import * as ipv4 from '../packet/ipv4'
import * as nvgre from '../packet/nvgre'
import { OUTER_HEADER_LENGTH as OUTER, type HostEmulator } from './host-emulator'
import { BPF_FUNC_GET_PRANDOM_U32, BPF_FUNC_REDIRECT, count, trimThenMoveHead, XDP_MD_INGRESS_IFINDEX } from './kernel-decap'

const IP = ethernet.ETHERNET_HEADER_LENGTH
const L4 = IP + ipv4.IPV4_HEADER_LENGTH
const GRE = ethernet.ETHERNET_HEADER_LENGTH + ipv4.IPV4_HEADER_LENGTH

/** Key: u32 prefix length (32 + the destination's), u32 ifindex of the VM port, the destination (network order). */
export const ROUTE_KEY_SIZE = 12
/**
 * Value: u32 action (1: encapsulate, 0: pass), the outer Ethernet header (14 bytes, at 4),
 * the outer IPv4 destination (at 20), the GRE key with FlowID 0 (at 24, network order), the
 * inner destination and source MACs (at 28 and 36), the ones' complement sum of the outer
 * IPv4 header's fixed words read as little-endian 16-bit words (at 44), the VM's CA (at 48),
 * the longest VM frame the provider MTU allows (at 52).
 */
export const ROUTE_VALUE_SIZE = 56
const ACTION_ENCAPSULATE = 1
const COUNTER_ENCAPSULATED = 0
/** Entries per host at most (each VM port: the CAs it resolves and its VSID's routes). */
export const MAX_ROUTES = 1 << 16

const PASS = 'pass'

/** The XDP program for a host with address `providerAddress` whose provider interface is `providerIfindex`. */
export function encapProgram(providerAddress: number, providerIfindex: number, routesFd: number, countersFd: number): Buffer {
  const pa = [providerAddress >>> 24, (providerAddress >>> 16) & 0xff, (providerAddress >>> 8) & 0xff, providerAddress & 0xff]
  const p = new asm.EbpfProgram()
  p.movReg(R6, R1)
    .load(asm.W, R7, R6, XDP_MD_DATA)
    .load(asm.W, R8, R6, XDP_MD_DATA_END)
    .movReg(R1, R7)
    .aluImm(asm.ADD, R1, L4 + 4)
    .jumpReg(asm.JGT, R1, R8, PASS)
    // Untagged IPv4 to a unicast MAC, no IP options.
    .load(asm.H, R1, R7, ethernet.ETHERNET_OFF_ETHERTYPE)
    .jumpImm(asm.JNE, R1, loaded(be16(ethernet.ETHERTYPE_IPV4)), PASS)
    .load(asm.B, R1, R7, ethernet.ETHERNET_OFF_DST)
    .jumpImm(asm.JSET, R1, 1, PASS)
    .load(asm.B, R1, R7, IP + ipv4.IPV4_OFF_VERSION_IHL)
    .jumpImm(asm.JNE, R1, ipv4.IPV4_VERSION_IHL_NO_OPTIONS, PASS)
    // R3: the end of the IP packet (14 + total length), within the frame; R9: the padding after it.
    .movReg(R2, R8)
    .aluReg(asm.SUB, R2, R7)
    .load(asm.H, R3, R7, IP + ipv4.IPV4_OFF_TOTAL_LENGTH)
    .fromBigEndian(R3, 16)
    .jumpImm(asm.JLT, R3, ipv4.IPV4_HEADER_LENGTH, PASS)
    .aluImm(asm.ADD, R3, IP)
    .jumpReg(asm.JGT, R3, R2, PASS)
    .movReg(R9, R2)
    .aluReg(asm.SUB, R9, R3)
    // Where (this VM port, destination) goes.
    .storeImm(asm.W, R10, -12, 64)
    .load(asm.W, R1, R6, XDP_MD_INGRESS_IFINDEX)
    .store(asm.W, R10, -8, R1)
    .load(asm.W, R1, R7, IP + ipv4.IPV4_OFF_DST)
    .store(asm.W, R10, -4, R1)
    .store(asm.W, R10, -16, R3)
    .loadMap(R1, routesFd)
    .movReg(R2, R10)
    .aluImm(asm.ADD, R2, -12)
    .call(BPF_FUNC_MAP_LOOKUP_ELEM)
    .jumpImm(asm.JEQ, R0, 0, PASS)
    .movReg(R8, R0)
    .load(asm.W, R3, R10, -16)
    .load(asm.W, R1, R8, 0)
    .jumpImm(asm.JNE, R1, ACTION_ENCAPSULATE, PASS)
    // From the VM's own CA; small enough for the provider MTU.
    .load(asm.W, R1, R7, IP + ipv4.IPV4_OFF_SRC)
    .load(asm.W, R2, R8, 48)
    .jumpReg(asm.JNE, R1, R2, PASS)
    .load(asm.W, R1, R8, 52)
    .jumpReg(asm.JGT, R3, R1, PASS)
    // FlowID: the XOR of the bytes of source, destination, protocol and, for TCP and UDP
    // that are not later fragments, the ports (HostEmulator's flowEntropy, byte order free).
    .load(asm.W, R1, R7, IP + ipv4.IPV4_OFF_SRC)
    .load(asm.W, R2, R7, IP + ipv4.IPV4_OFF_DST)
    .aluReg(asm.XOR, R1, R2)
    .load(asm.B, R4, R7, IP + ipv4.IPV4_OFF_PROTOCOL)
    .jumpImm(asm.JEQ, R4, ipv4.IPPROTO_TCP, 'ports')
    .jumpImm(asm.JNE, R4, ipv4.IPPROTO_UDP, 'fold')
    .label('ports')
    .load(asm.H, R2, R7, IP + ipv4.IPV4_OFF_FLAGS_FRAGMENT)
    .jumpImm(asm.JSET, R2, loaded(be16(ipv4.IPV4_FRAGMENT_OFFSET_MASK)), 'fold')
    .jumpImm(asm.JLT, R3, L4 + 4, 'fold')
    .load(asm.W, R2, R7, L4)
    .aluReg(asm.XOR, R1, R2)
    .label('fold')
    .movReg(R2, R1)
    .aluImm(asm.RSH, R2, 16)
    .aluReg(asm.XOR, R1, R2)
    .movReg(R2, R1)
    .aluImm(asm.RSH, R2, 8)
    .aluReg(asm.XOR, R1, R2)
    .aluReg(asm.XOR, R1, R4)
    .aluImm(asm.AND, R1, 0xff)
    .store(asm.W, R10, -20, R1)
  // Inner MACs: the destination's record, the VM's own.
  for (const [to, from] of [[ethernet.ETHERNET_OFF_DST, 28], [ethernet.ETHERNET_OFF_SRC, 36]] as const) {
    p.load(asm.W, R1, R8, from).store(asm.W, R7, to, R1).load(asm.H, R1, R8, from + 4).store(asm.H, R7, to + 4, R1)
  }
  // From here on a failure leaves a frame the emulator handles the same way (MACs set, padding gone).
  trimThenMoveHead(p, -OUTER, PASS)
  p.call(BPF_FUNC_GET_PRANDOM_U32)
    .aluImm(asm.AND, R0, 0xffff)
    .movReg(R9, R0)
    .load(asm.W, R7, R6, XDP_MD_DATA)
    .load(asm.W, R2, R6, XDP_MD_DATA_END)
    .movReg(R1, R7)
    .aluImm(asm.ADD, R1, OUTER)
    .jumpReg(asm.JGT, R1, R2, 'drop')
  // Outer Ethernet from the value.
  for (const at of [0, 4, 8]) p.load(asm.W, R1, R8, 4 + at).store(asm.W, R7, at, R1)
  p.load(asm.H, R1, R8, 16).store(asm.H, R7, 12, R1)
  // Outer IPv4: R3 its total length (little-endian word as stored), R9 the identification.
  p.storeImm(asm.H, R7, IP + ipv4.IPV4_OFF_VERSION_IHL, loaded([ipv4.IPV4_VERSION_IHL_NO_OPTIONS, 0]))
    .load(asm.W, R3, R10, -16)
    .aluImm(asm.ADD, R3, ipv4.IPV4_HEADER_LENGTH + nvgre.NVGRE_HEADER_LENGTH)
    .fromBigEndian(R3, 16)
    .store(asm.H, R7, IP + ipv4.IPV4_OFF_TOTAL_LENGTH, R3)
    .store(asm.H, R7, IP + ipv4.IPV4_OFF_ID, R9)
    .storeImm(asm.H, R7, IP + ipv4.IPV4_OFF_FLAGS_FRAGMENT, 0)
    .storeImm(asm.H, R7, IP + ipv4.IPV4_OFF_TTL, loaded([ipv4.IPV4_DEFAULT_TTL, ipv4.IPPROTO_GRE]))
    .storeImm(asm.W, R7, IP + ipv4.IPV4_OFF_SRC, loaded(pa))
    .load(asm.W, R1, R8, 20)
    .store(asm.W, R7, IP + ipv4.IPV4_OFF_DST, R1)
    .load(asm.W, R1, R8, 44)
    .aluReg(asm.ADD, R1, R3)
    .aluReg(asm.ADD, R1, R9)
  for (let fold = 0; fold < 2; fold++) p.movReg(R2, R1).aluImm(asm.RSH, R2, 16).aluImm(asm.AND, R1, 0xffff).aluReg(asm.ADD, R1, R2)
  p.aluImm(asm.XOR, R1, 0xffff)
    .store(asm.H, R7, IP + ipv4.IPV4_OFF_CHECKSUM, R1)
    // GRE: key only, TEB; the key with the FlowID in its last byte.
    .storeImm(asm.W, R7, GRE + nvgre.NVGRE_OFF_FLAGS_VERSION, loaded([...be16(nvgre.NVGRE_FLAGS_VERSION), ...be16(nvgre.NVGRE_PROTOCOL)]))
    .load(asm.W, R1, R10, -20)
    .aluImm(asm.LSH, R1, 24)
    .load(asm.W, R2, R8, 24)
    .aluReg(asm.OR, R1, R2)
    .store(asm.W, R7, GRE + nvgre.NVGRE_OFF_KEY, R1)
  count(p, countersFd, COUNTER_ENCAPSULATED, 'counted')
  p.movImm(R1, providerIfindex).movImm(R2, 0).call(BPF_FUNC_REDIRECT).exit()
  p.label('drop').movImm(R0, XDP_DROP).exit() // cannot happen: the head just grew by OUTER bytes
  p.label(PASS).movImm(R0, XDP_PASS).exit()
  return p.encode()
}

/** The ones' complement sum of the outer IPv4 header's fixed words (version, flags, TTL and protocol, addresses), read as little-endian 16-bit words. */
function fixedHeaderSum(source: number, destination: number): number {
  const header = Buffer.alloc(ipv4.IPV4_HEADER_LENGTH)
  header[ipv4.IPV4_OFF_VERSION_IHL] = ipv4.IPV4_VERSION_IHL_NO_OPTIONS
  header[ipv4.IPV4_OFF_TTL] = ipv4.IPV4_DEFAULT_TTL
  header[ipv4.IPV4_OFF_PROTOCOL] = ipv4.IPPROTO_GRE
  header.writeUInt32BE(source, ipv4.IPV4_OFF_SRC)
  header.writeUInt32BE(destination, ipv4.IPV4_OFF_DST)
  // The sum of the byte-swapped words is the byte-swapped sum.
  const sum = onesSum(header, 0, header.length)
  return ((sum & 0xff) << 8) | (sum >>> 8)
}

/** The encapsulation program attached to a host emulator's VM ports, and its maps. */
export class KernelEncap {
  private readonly routes: BpfMap
  private readonly counters: BpfMap
  private readonly links: number[] = []
  private readonly providerAddress: number
  /** The ifindex of VM port i + 1. */
  private readonly vmIfindexes: readonly number[]
  /** What the map holds (keys and values in hex): only changed entries are written, and keys a new policy no longer has are deleted. */
  private written = new Map<string, string>()
  private closed: number | null = null

  /** Attaches to every VM port (generic XDP); port i + 1 of `emulator` is `vmInterfaces[i]`. Throws when the kernel refuses. */
  constructor(emulator: HostEmulator, providerInterface: string, vmInterfaces: readonly string[]) {
    this.providerAddress = emulator.providerAddress
    const providerIfindex = c.interfaceIndex(providerInterface)
    this.vmIfindexes = vmInterfaces.map(c.interfaceIndex)
    this.routes = new BpfMap(BPF_MAP_TYPE_LPM_TRIE, ROUTE_KEY_SIZE, ROUTE_VALUE_SIZE, MAX_ROUTES, 'nvlb_host_routes', BPF_F_NO_PREALLOC)
    const opened: Array<() => void> = [() => this.routes.close()]
    try {
      this.counters = new BpfMap(BPF_MAP_TYPE_ARRAY, 4, 8, 1, 'nvlb_host_encap')
      opened.push(() => this.counters.close())
      this.setRoutes(emulator)
      const programFd = loadProgram(BPF_PROG_TYPE_XDP, BPF_XDP, encapProgram(emulator.providerAddress, providerIfindex, this.routes.fd, this.counters.fd), 'nvlb_host_encap')
      try {
        vmInterfaces.forEach((name, i) => this.links.push(createLink(programFd, this.vmIfindexes[i]!, BPF_XDP, XDP_FLAGS_SKB_MODE, `XDP on ${name}`)))
      } finally {
        c.close(programFd)
      }
    } catch (err) {
      for (const fd of this.links.splice(0)) c.close(fd)
      for (const close of opened.reverse()) close()
      throw err
    }
  }

  /** Writes where each VM's packets go under `emulator`'s policy and neighbours (same VM ports, same PA). */
  setRoutes(emulator: HostEmulator): void {
    if (emulator.providerAddress !== this.providerAddress) throw new Error('the kernel encapsulation was built for another provider address')
    const policy = emulator.policy
    const entries = new Map<string, string>()
    const entry = (ifindex: number, destination: number, length: number, value: Buffer): void => {
      const key = Buffer.alloc(ROUTE_KEY_SIZE)
      key.writeUInt32LE(32 + length, 0)
      key.writeUInt32LE(ifindex, 4)
      key.writeUInt32BE(destination, 8)
      entries.set(key.toString('hex'), value.toString('hex'))
    }
    for (let port = 1; port < emulator.vmPorts.length; port++) {
      const vm = emulator.vmPorts[port]!
      const ifindex = this.vmIfindexes[port - 1]!
      const valueFor = (record: ReturnType<typeof policy.resolve>): Buffer => {
        const value = Buffer.alloc(ROUTE_VALUE_SIZE)
        if (record === undefined || record.providerAddress === this.providerAddress) return value
        const nextHopMac = emulator.neighborMac(record.providerAddress)
        if (nextHopMac === undefined) return value
        value.writeUInt32LE(ACTION_ENCAPSULATE, 0)
        value.set(nextHopMac, 4 + ethernet.ETHERNET_OFF_DST)
        value.set(emulator.providerMac, 4 + ethernet.ETHERNET_OFF_SRC)
        value.writeUInt16BE(ethernet.ETHERTYPE_IPV4, 4 + ethernet.ETHERNET_OFF_ETHERTYPE)
        value.writeUInt32BE(record.providerAddress, 20)
        value.writeUInt32BE((record.virtualSubnetId << 8) >>> 0, 24)
        value.set(record.mac, 28)
        value.set(vm.mac, 36)
        value.writeUInt32LE(fixedHeaderSum(this.providerAddress, record.providerAddress), 44)
        value.writeUInt32BE(vm.customerAddress, 48)
        value.writeUInt32LE(Math.max(0, policy.providerMtu - ipv4.IPV4_HEADER_LENGTH - nvgre.NVGRE_HEADER_LENGTH), 52)
        return value
      }
      // Routes first, so that a destination's own record replaces a /32 route to it (records win, as in nextRecord).
      const routed = new Set<string>()
      for (const route of policy.routesOf(vm.virtualSubnetId)) {
        const id = `${route.prefix}/${route.prefixLength}`
        if (routed.has(id)) continue // a route of higher metric for the same prefix is never chosen
        routed.add(id)
        entry(ifindex, route.prefix, route.prefixLength, valueFor(route.nextHop === 0 ? undefined : policy.resolve(vm.virtualSubnetId, route.nextHop)))
      }
      for (const ca of policy.visibleAddresses(vm.virtualSubnetId)) entry(ifindex, ca, 32, valueFor(policy.resolve(vm.virtualSubnetId, ca)))
    }
    if (entries.size > MAX_ROUTES) throw new Error(`${entries.size} destinations for the kernel encapsulation, at most ${MAX_ROUTES}`)
    for (const [key, value] of entries) if (this.written.get(key) !== value) this.routes.set(Buffer.from(key, 'hex'), Buffer.from(value, 'hex'))
    for (const key of this.written.keys()) if (!entries.has(key)) this.routes.delete(Buffer.from(key, 'hex'))
    this.written = entries
  }

  /** Frames the program encapsulated and sent to the provider interface; after close(), the count it had then. */
  read(): number {
    if (this.closed !== null) return this.closed
    return this.counters.counter(COUNTER_ENCAPSULATED)
  }

  close(): void {
    if (this.closed !== null) return
    for (const fd of this.links.splice(0)) c.close(fd)
    this.closed = this.read()
    this.routes.close()
    this.counters.close()
  }
}
