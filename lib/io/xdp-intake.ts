import type { Snapshot } from '../dataplane/snapshot'
import * as ethernet from '../packet/ethernet'
import * as ipv4 from '../packet/ipv4'
import * as nvgre from '../packet/nvgre'
import { BpfMap, BPF_F_NO_PREALLOC, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_XSKMAP, setMapElement } from './bpf-map'
import { createLink, loadProgram } from './bpf-syscall'
import * as asm from './ebpf-assembler'
import { be16, loaded, R0, R1, R2, R3, R6, R7, R8, R9, R10 } from './ebpf-assembler'
import * as c from './libc'
import {
  BPF_FUNC_MAP_LOOKUP_ELEM,
  BPF_PROG_TYPE_XDP,
  BPF_XDP,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_SKB_MODE,
  XDP_MD_DATA,
  XDP_MD_DATA_END,
  XDP_PASS,
  redirectToQueueSocket,
} from './xdp-program'

/**
 * The kernel side of AF_XDP packet workers (`nvlb run --io af-xdp`): on each of nvlb's
 * interfaces an XDP program that hands the frames the engine works on to the worker's
 * AF_XDP socket (lib/io/xdp-socket.ts) and lets every other frame go on to the kernel
 * unchanged, so that what nvlb does not own still reaches its owner: ARP (the workers' and
 * the probe tunnel's packet sockets), health probes' replies (the probe tunnel), and
 * anything for the host's own addresses (BGP, BFD, management).
 *
 * A frame is the engine's when it is IPv4 (untagged or with one 802.1Q tag) to one of the
 * addresses of the running snapshot: nvlb's PA and shared PA, its external address, its
 * public VIPs; NVGRE to a PA whose inner IPv4 destination is node.probeAddress is a probe
 * reply and passes. The addresses live in a hash map the pool rewrites when a snapshot
 * changes them; the sockets in an XSKMAP by receive queue, written by the worker that
 * opens each socket. A queue without a socket passes its frames on.
 */

/** Values of the address map: an engine address, a PA (NVGRE to it may be a probe reply), the probe address. */
export const ADDRESS_ENGINE = 1
export const ADDRESS_PROVIDER = 2
export const ADDRESS_PROBE = 3
/** Addresses the map holds at the most (public VIPs and nvlb's own). */
export const MAX_INTAKE_ADDRESSES = 262_144
/** Receive queues an interface's XSKMAP covers. */
const QUEUES = 64

const PASS = 'pass'
const REDIRECT = 'redirect'

/** The addresses of `snapshot` the engine takes frames for (unsigned, in host order) → their kind. */
export function intakeAddresses(snapshot: Snapshot): Map<number, number> {
  const addresses = new Map<number, number>()
  const vips = snapshot.publicVips
  for (let slot = 0; slot < vips.values.length; slot++) {
    if (vips.values[slot]! >= 0) addresses.set(vips.keys[slot * 3]! >>> 0, ADDRESS_ENGINE)
  }
  if (snapshot.externalAddress !== 0) addresses.set(snapshot.externalAddress >>> 0, ADDRESS_ENGINE)
  for (const pa of [snapshot.providerAddress, snapshot.sharedProviderAddress]) if (pa !== 0) addresses.set(pa >>> 0, ADDRESS_PROVIDER)
  if (snapshot.probeAddress !== 0) addresses.set(snapshot.probeAddress >>> 0, ADDRESS_PROBE)
  return addresses
}

/** Looks the 4 bytes at [R10 − 4] up in the address map; R0: the value's address, or 0. */
function lookUpAddress(p: asm.EbpfProgram, addressesFd: number): void {
  p.loadMap(R1, addressesFd).movReg(R2, R10).aluImm(asm.ADD, R2, -4).call(BPF_FUNC_MAP_LOOKUP_ELEM)
}

/** The decision for an IPv4 header at `ip` bytes into the frame (R7 the frame, R8 its end, both checked up to ip + 20). */
function decide(p: asm.EbpfProgram, ip: number, addressesFd: number): void {
  // With R2 = the frame + the outer IHL (20..60 bytes), the GRE header is at R2 + ip.
  const gre = ip
  const innerEthernet = gre + nvgre.NVGRE_HEADER_LENGTH
  const innerIp = innerEthernet + ethernet.ETHERNET_HEADER_LENGTH
  p.load(asm.W, R1, R7, ip + ipv4.IPV4_OFF_DST).store(asm.W, R10, -4, R1)
  lookUpAddress(p, addressesFd)
  p.jumpImm(asm.JEQ, R0, 0, PASS)
    .load(asm.W, R1, R0, 0)
    .jumpImm(asm.JNE, R1, ADDRESS_PROVIDER, REDIRECT)
    .load(asm.B, R1, R7, ip + ipv4.IPV4_OFF_PROTOCOL)
    .jumpImm(asm.JNE, R1, ipv4.IPPROTO_GRE, REDIRECT)
    .load(asm.B, R9, R7, ip + ipv4.IPV4_OFF_VERSION_IHL)
    .aluImm(asm.AND, R9, 0x0f)
    .aluImm(asm.LSH, R9, 2)
    .jumpImm(asm.JLT, R9, ipv4.IPV4_HEADER_LENGTH, REDIRECT)
    .movReg(R2, R7)
    .aluReg(asm.ADD, R2, R9)
    .movReg(R3, R2)
    .aluImm(asm.ADD, R3, innerIp + ipv4.IPV4_HEADER_LENGTH)
    .jumpReg(asm.JGT, R3, R8, REDIRECT)
    .load(asm.W, R1, R2, gre + nvgre.NVGRE_OFF_FLAGS_VERSION)
    .jump32Imm(asm.JNE, R1, loaded([...be16(nvgre.NVGRE_FLAGS_VERSION), ...be16(nvgre.NVGRE_PROTOCOL)]), REDIRECT)
    .load(asm.H, R1, R2, innerEthernet + ethernet.ETHERNET_OFF_ETHERTYPE)
    .jumpImm(asm.JNE, R1, loaded(be16(ethernet.ETHERTYPE_IPV4)), REDIRECT)
    .load(asm.W, R1, R2, innerIp + ipv4.IPV4_OFF_DST)
    .store(asm.W, R10, -4, R1)
  lookUpAddress(p, addressesFd)
  p.jumpImm(asm.JEQ, R0, 0, REDIRECT)
    .load(asm.W, R1, R0, 0)
    .jumpImm(asm.JEQ, R1, ADDRESS_PROBE, PASS)
    .goto(REDIRECT)
}

/** The intake program over the address map `addressesFd` and the XSKMAP `xsksFd`. */
export function intakeProgram(addressesFd: number, xsksFd: number): Buffer {
  const p = new asm.EbpfProgram()
  const tagged = ethernet.ETHERNET_HEADER_LENGTH + ethernet.VLAN_TAG_LENGTH
  p.movReg(R6, R1)
    .load(asm.W, R7, R6, XDP_MD_DATA)
    .load(asm.W, R8, R6, XDP_MD_DATA_END)
    .movReg(R1, R7)
    .aluImm(asm.ADD, R1, ethernet.ETHERNET_HEADER_LENGTH + ipv4.IPV4_HEADER_LENGTH)
    .jumpReg(asm.JGT, R1, R8, PASS)
    .load(asm.H, R1, R7, ethernet.ETHERNET_OFF_ETHERTYPE)
    .jumpImm(asm.JEQ, R1, loaded(be16(ethernet.ETHERTYPE_VLAN)), 'tagged')
    .jumpImm(asm.JNE, R1, loaded(be16(ethernet.ETHERTYPE_IPV4)), PASS)
  decide(p, ethernet.ETHERNET_HEADER_LENGTH, addressesFd)
  p.label('tagged')
    .movReg(R1, R7)
    .aluImm(asm.ADD, R1, tagged + ipv4.IPV4_HEADER_LENGTH)
    .jumpReg(asm.JGT, R1, R8, PASS)
    .load(asm.H, R1, R7, ethernet.ETHERNET_OFF_VLAN_ETHERTYPE)
    .jumpImm(asm.JNE, R1, loaded(be16(ethernet.ETHERTYPE_IPV4)), PASS)
  decide(p, tagged, addressesFd)
  redirectToQueueSocket(p.label(REDIRECT), xsksFd, R6)
  p.label(PASS).movImm(R0, XDP_PASS).exit()
  return p.encode()
}

/** Puts AF_XDP socket `socketFd` in the XSKMAP `xsksFd` for receive queue `queue` (from any thread). */
export function addIntakeSocket(xsksFd: number, queue: number, socketFd: number): void {
  const key = Buffer.alloc(4)
  const value = Buffer.alloc(4)
  key.writeUInt32LE(queue)
  value.writeUInt32LE(socketFd)
  setMapElement(xsksFd, key, value)
}

/** The intake program attached to one interface, with its maps. */
export class XdpIntake {
  readonly interfaceName: string
  /** How the kernel runs the program: in the driver, or on the generic (skb) path where the driver has no XDP. */
  readonly mode: 'native' | 'generic'
  private readonly xsks: BpfMap
  private readonly addresses: BpfMap
  private readonly fds: number[] = []
  private current = new Map<number, number>()

  /** Attaches to `interfaceName` (native XDP, generic where the driver refuses); throws when the kernel refuses both. */
  constructor(interfaceName: string, addresses: Map<number, number>) {
    this.interfaceName = interfaceName
    const ifindex = c.interfaceIndex(interfaceName)
    this.xsks = new BpfMap(BPF_MAP_TYPE_XSKMAP, 4, 4, QUEUES, 'nvlb_intake_xsk')
    try {
      this.addresses = new BpfMap(BPF_MAP_TYPE_HASH, 4, 4, MAX_INTAKE_ADDRESSES, 'nvlb_intake_ip', BPF_F_NO_PREALLOC)
    } catch (error) {
      this.xsks.close()
      throw error
    }
    try {
      this.setAddresses(addresses)
      const progFd = loadProgram(BPF_PROG_TYPE_XDP, BPF_XDP, intakeProgram(this.addresses.fd, this.xsks.fd), 'nvlb_intake')
      this.fds.push(progFd)
      let mode: 'native' | 'generic' = 'native'
      let linkFd: number
      try {
        linkFd = createLink(progFd, ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE, 'XDP')
      } catch {
        linkFd = createLink(progFd, ifindex, BPF_XDP, XDP_FLAGS_SKB_MODE, 'XDP (generic)')
        mode = 'generic'
      }
      this.fds.push(linkFd)
      this.mode = mode
    } catch (error) {
      this.close()
      throw error
    }
  }

  /** The XSKMAP's fd: the worker puts its socket there (addIntakeSocket). */
  get socketMapFd(): number {
    return this.xsks.fd
  }

  /** Makes the address map hold exactly `next` (only what changed is written). */
  setAddresses(next: Map<number, number>): void {
    if (next.size > MAX_INTAKE_ADDRESSES) throw new Error(`${next.size} addresses for the XDP intake on ${this.interfaceName}; it holds ${MAX_INTAKE_ADDRESSES}`)
    const key = Buffer.alloc(4)
    const value = Buffer.alloc(4)
    for (const address of this.current.keys()) {
      if (next.has(address)) continue
      key.writeUInt32BE(address)
      this.addresses.delete(key)
    }
    for (const [address, kind] of next) {
      if (this.current.get(address) === kind) continue
      key.writeUInt32BE(address)
      value.writeUInt32LE(kind)
      this.addresses.set(key, value)
    }
    this.current = new Map(next)
  }

  /** Detaches the program (closing its link) and frees the maps. */
  close(): void {
    for (const fd of this.fds.splice(0).reverse()) c.close(fd)
    this.addresses.close()
    this.xsks.close()
  }
}
