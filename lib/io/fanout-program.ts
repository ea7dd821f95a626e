import { ARP_OFF_OP, ARP_OP_REPLY } from '../packet/arp'
import { ETHERNET_HEADER_LENGTH, ETHERNET_OFF_ETHERTYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_TEB } from '../packet/ethernet'
import { ICMP_OFF_ID, ICMP_OFF_QUOTED, ICMP_TYPE_DEST_UNREACHABLE, ICMP_TYPE_ECHO_REPLY, ICMP_TYPE_ECHO_REQUEST, ICMP_TYPE_TIME_EXCEEDED } from '../packet/icmp'
import {
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_OFF_DST,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_PROTOCOL,
  IPV4_OFF_SRC,
} from '../packet/ipv4'
import { TCP_OFF_DST_PORT, TCP_OFF_SRC_PORT } from '../packet/tcp'
import { NVGRE_FLAGS_VERSION, NVGRE_HEADER_LENGTH, NVGRE_OFF_FLAGS_VERSION, NVGRE_OFF_PROTOCOL } from '../packet/nvgre'
import { BpfProgram, BPF_ADD, BPF_AND, BPF_B, BPF_H, BPF_JEQ, BPF_JGT, BPF_JSET, BPF_LSH, BPF_W, BPF_XOR, SKF_AD_PKTTYPE, SKF_LL_OFF } from './bpf-assembler'

/**
 * Steering of frames to workers (PACKET_FANOUT_CBPF): the kernel runs this
 * program on every frame and hands it to member socket (result % members).
 *
 * Why not PACKET_FANOUT_HASH: the kernel's fanout hash is symmetric over the
 * addresses and ports it sees (for NVGRE, the flow dissector goes through GRE
 * and hashes the inner packet), but nvlb rewrites addresses: the request
 * client→VIP and the reply DIP→client (or DIP→VIP:allocatedPort for fullnat)
 * have different tuples, so the reply would land on a worker that does not
 * know the flow. What both directions share is the client-side port:
 *
 * - plain IPv4 (external side: a client's request to a public VIP): key = source port
 * - NVGRE whose inner (destination address, destination port) is a VIP
 *   frontend (a request to a CA VIP): key = inner source port (the client's)
 * - any other NVGRE (a backend's reply): key = inner destination port
 *   (the client's port for dnat; the allocated port for fullnat, which the
 *   engine must choose ≡ client port (mod workers) so the reply comes home)
 * - ICMP echo: key = identifier
 * - ICMP errors (unreachable, time exceeded) quoting TCP/UDP: the client-side
 *   port of the quoted packet (a packet nvlb sent), so the error meets its flow
 * - ARP, everything else: key 0
 * - fragments (MF or offset set, outer or inner): key = src ^ dst address,
 *   so every fragment of one datagram reaches one worker.
 *
 * The VIP frontends come from the snapshot, so the program is rebuilt when a
 * new snapshot arrives. With more frontends than one program can hold, the
 * frontend test falls back to "the lower of the two ports is the frontend"
 * (clients use ephemeral ports above the service ports).
 */
export interface Frontend {
  /** VIP address as an unsigned 32-bit number. */
  address: number
  port: number
}

const ETH_TYPE = ETHERNET_OFF_ETHERTYPE
const ETH_HEADER = ETHERNET_HEADER_LENGTH
/** MF or a fragment offset: any fragment but a whole datagram. */
const IP_FRAGMENT_BITS = IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK
const ARP_OPCODE_OFFSET = ETH_HEADER + ARP_OFF_OP
/** sk_buff pkt_type of a frame this host sends (linux/if_packet.h). */
const PACKET_OUTGOING = 4
/** Port offsets in a TCP or UDP header (the same in both). */
const L4_SRC_PORT = TCP_OFF_SRC_PORT
const L4_DST_PORT = TCP_OFF_DST_PORT

/** Offsets relative to X = outer IP header length. */
const GRE_FLAGS = ETH_HEADER + NVGRE_OFF_FLAGS_VERSION
const GRE_PROTOCOL = ETH_HEADER + NVGRE_OFF_PROTOCOL
const INNER_ETHERNET = ETH_HEADER + NVGRE_HEADER_LENGTH
const INNER_IP = INNER_ETHERNET + ETH_HEADER
/** The IP header an ICMP error quotes (after the 8-byte ICMP header). */
const PLAIN_QUOTED = ETH_HEADER + ICMP_OFF_QUOTED
/** Relative to X = outer + inner IP header lengths. */
const INNER_QUOTED = INNER_IP + ICMP_OFF_QUOTED

/**
 * A fanout program runs before the receive path pushes the MAC header back
 * (offset 0 is the IP header there), so every load is relative to the MAC
 * header through the kernel's SKF_LL_OFF window: offsets below are frame offsets.
 */
const LL = SKF_LL_OFF

/** Scratch memory words. */
const M_TEMP = 0
const M_PROTO = 1
const M_ADDRESS = 2
const M_PORT = 3

/** Per-frontend-address block size bound: keeps conditional jumps within 255. */
const PORTS_PER_BLOCK = 120
/** Instructions for one frontend table; the program holds two (requests, ICMP errors). */
const FRONTEND_BUDGET = 1900

export function steeringProgram(frontends: readonly Frontend[]): Buffer {
  return steeringPlan(frontends).program
}

/**
 * The program, and whether it has a frontend table (false: it tests "the lower
 * port is the frontend"); steering-key.ts needs to know which.
 */
export function steeringPlan(frontends: readonly Frontend[]): { program: Buffer; table: boolean } {
  const byAddress = new Map<number, Set<number>>()
  for (const f of frontends) {
    const address = f.address >>> 0
    let ports = byAddress.get(address)
    if (ports === undefined) byAddress.set(address, (ports = new Set()))
    ports.add(f.port)
  }
  let cost = 0
  for (const ports of byAddress.values()) cost += 2 + ports.size + 2 * Math.ceil(ports.size / PORTS_PER_BLOCK)
  if (cost > FRONTEND_BUDGET) return { program: build(null), table: false }
  try {
    return { program: build(byAddress), table: true }
  } catch {
    return { program: build(null), table: false }
  }
}

function build(byAddress: Map<number, Set<number>> | null): Buffer {
  const p = new BpfProgram()
  // The kernel's checker follows code past a `ret` as if it fell through: with every
  // scratch word written first, no path can read one it thinks unwritten.
  p.ldImm(0).st(M_TEMP).st(M_PROTO).st(M_ADDRESS).st(M_PORT)
  p.ldAbs(BPF_H, LL + ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_IPV4, null, 'zero')
  p.ldAbs(BPF_H, LL + ETH_HEADER + IPV4_OFF_FLAGS_FRAGMENT).jumpK(BPF_JSET, IP_FRAGMENT_BITS, 'outerFragment', null)
  p.ldxIpHeaderLength(LL + ETH_HEADER)
  p.ldAbs(BPF_B, LL + ETH_HEADER + IPV4_OFF_PROTOCOL)
  p.jumpK(BPF_JEQ, IPPROTO_GRE, 'gre', null)
  p.jumpK(BPF_JEQ, IPPROTO_TCP, 'plainPorts', null)
  p.jumpK(BPF_JEQ, IPPROTO_UDP, 'plainPorts', null)
  p.jumpK(BPF_JEQ, IPPROTO_ICMP, 'plainIcmp', 'zero')

  p.label('plainPorts').ldInd(BPF_H, LL + ETH_HEADER + L4_SRC_PORT).retA()

  p.label('plainIcmp').ldInd(BPF_B, LL + ETH_HEADER)
  p.jumpK(BPF_JEQ, ICMP_TYPE_ECHO_REQUEST, 'plainEcho', null)
  p.jumpK(BPF_JEQ, ICMP_TYPE_ECHO_REPLY, 'plainEcho', null)
  p.jumpK(BPF_JEQ, ICMP_TYPE_DEST_UNREACHABLE, 'plainError', null)
  p.jumpK(BPF_JEQ, ICMP_TYPE_TIME_EXCEEDED, 'plainError', 'zero')
  p.label('plainEcho').ldInd(BPF_H, LL + ETH_HEADER + ICMP_OFF_ID).retA()
  // An error about a packet nvlb sent to a client (VIP:port → client:port): key = quoted destination port.
  p.label('plainError').ldInd(BPF_B, LL + PLAIN_QUOTED + IPV4_OFF_PROTOCOL)
  p.jumpK(BPF_JEQ, IPPROTO_TCP, null, 'plainErrorUdp').jumpAlways('plainQuoted')
  p.label('plainErrorUdp').jumpK(BPF_JEQ, IPPROTO_UDP, 'plainQuoted', 'zero')
  p.label('plainQuoted').ldInd(BPF_B, LL + PLAIN_QUOTED).aluK(BPF_AND, 0x0f).aluK(BPF_LSH, 2).aluX(BPF_ADD).tax()
  p.ldInd(BPF_H, LL + PLAIN_QUOTED + L4_DST_PORT).retA()

  p.label('outerFragment').ldAbs(BPF_W, LL + ETH_HEADER + IPV4_OFF_SRC).st(M_TEMP).ldAbs(BPF_W, LL + ETH_HEADER + IPV4_OFF_DST)
  p.ldxMem(M_TEMP).aluX(BPF_XOR).retA()

  p.label('zero').retK(0)

  p.label('gre')
  p.ldInd(BPF_H, LL + GRE_FLAGS).jumpK(BPF_JEQ, NVGRE_FLAGS_VERSION, null, 'greZero')
  p.ldInd(BPF_H, LL + GRE_PROTOCOL).jumpK(BPF_JEQ, ETHERTYPE_TEB, null, 'greZero')
  p.ldInd(BPF_H, LL + INNER_ETHERNET + ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_IPV4, null, 'greZero')
  p.ldInd(BPF_H, LL + INNER_IP + IPV4_OFF_FLAGS_FRAGMENT).jumpK(BPF_JSET, IP_FRAGMENT_BITS, 'innerFragment', null)
  p.ldInd(BPF_B, LL + INNER_IP + IPV4_OFF_PROTOCOL).st(M_PROTO)
  p.ldInd(BPF_W, LL + INNER_IP + IPV4_OFF_DST).st(M_ADDRESS)
  // X = outer + inner IP header lengths: inner transport header at X + INNER_IP.
  p.ldInd(BPF_B, LL + INNER_IP).aluK(BPF_AND, 0x0f).aluK(BPF_LSH, 2).aluX(BPF_ADD).tax()
  p.ldMem(M_PROTO)
  p.jumpK(BPF_JEQ, IPPROTO_TCP, 'toInnerPorts', null)
  p.jumpK(BPF_JEQ, IPPROTO_UDP, 'toInnerPorts', null)
  p.jumpK(BPF_JEQ, IPPROTO_ICMP, 'innerIcmp', 'greZero')

  p.label('innerIcmp').ldInd(BPF_B, LL + INNER_IP)
  p.jumpK(BPF_JEQ, ICMP_TYPE_ECHO_REQUEST, 'innerEcho', null)
  p.jumpK(BPF_JEQ, ICMP_TYPE_ECHO_REPLY, 'innerEcho', null)
  p.jumpK(BPF_JEQ, ICMP_TYPE_DEST_UNREACHABLE, 'toInnerError', null)
  p.jumpK(BPF_JEQ, ICMP_TYPE_TIME_EXCEEDED, 'toInnerError', 'greZero')
  p.label('innerEcho').ldInd(BPF_H, LL + INNER_IP + ICMP_OFF_ID).retA()

  // X is still the outer header length here.
  p.label('innerFragment')
  p.ldInd(BPF_W, LL + INNER_IP + IPV4_OFF_SRC).st(M_TEMP).ldInd(BPF_W, LL + INNER_IP + IPV4_OFF_DST)
  p.ldxMem(M_TEMP).aluX(BPF_XOR).retA()

  p.label('greZero').retK(0)
  // Conditional jumps reach 255 instructions; these two go further.
  p.label('toInnerPorts').jumpAlways('innerPorts')
  p.label('toInnerError').jumpAlways('innerError')

  // Request to a CA VIP frontend: key = inner source port; anything else (a reply): destination port.
  p.label('innerPorts').ldInd(BPF_H, LL + INNER_IP + L4_DST_PORT).st(M_PORT)
  p.ldInd(BPF_H, LL + INNER_IP + L4_SRC_PORT).st(M_TEMP)
  emitFrontendMatch(p, byAddress, 'request', 'reply')
  p.label('request').ldMem(M_TEMP).retA()
  p.label('reply').ldMem(M_PORT).retA()

  // An error from inside a tenant about a packet nvlb sent there. Towards a backend
  // (client:port or VIP:allocated → DIP): key = quoted source port. Towards a CA VIP's
  // client (VIP:frontend → client:port): key = quoted destination port.
  p.label('innerError').ldInd(BPF_B, LL + INNER_QUOTED + IPV4_OFF_PROTOCOL)
  p.jumpK(BPF_JEQ, IPPROTO_TCP, 'innerQuoted', null)
  p.jumpK(BPF_JEQ, IPPROTO_UDP, 'innerQuoted', null)
  p.retK(0)
  p.label('innerQuoted').ldInd(BPF_W, LL + INNER_QUOTED + IPV4_OFF_SRC).st(M_ADDRESS)
  p.ldInd(BPF_B, LL + INNER_QUOTED).aluK(BPF_AND, 0x0f).aluK(BPF_LSH, 2).aluX(BPF_ADD).tax()
  p.ldInd(BPF_H, LL + INNER_QUOTED + L4_SRC_PORT).st(M_PORT)
  p.ldInd(BPF_H, LL + INNER_QUOTED + L4_DST_PORT).st(M_TEMP)
  // Match the quoted source against the frontends: M_ADDRESS/M_PORT hold it.
  emitFrontendMatch(p, byAddress, 'towardClient', 'towardBackend')
  p.label('towardClient').ldMem(M_TEMP).retA()
  p.label('towardBackend').ldMem(M_PORT).retA()

  return p.encode()
}

/**
 * Jumps to `match` when (M_ADDRESS, M_PORT) is a frontend, else to `miss`.
 * Without a table (too many frontends): a frontend is the endpoint with the
 * lower port (services listen below the clients' ephemeral ports), i.e.
 * match when M_PORT < M_TEMP.
 */
function emitFrontendMatch(p: BpfProgram, byAddress: Map<number, Set<number>> | null, match: string, miss: string): void {
  if (byAddress === null) {
    p.ldxMem(M_TEMP).ldMem(M_PORT).jumpX(BPF_JGT, miss, null).jumpX(BPF_JEQ, miss, null).jumpAlways(match)
    return
  }
  for (const [address, portSet] of byAddress) {
    const next = p.newLabel('next')
    const body = p.newLabel('body')
    const ports = [...portSet]
    p.ldMem(M_ADDRESS).jumpK(BPF_JEQ, address, body, null).jumpAlways(next)
    p.label(body)
    for (let start = 0; start < ports.length; start += PORTS_PER_BLOCK) {
      const chunk = ports.slice(start, start + PORTS_PER_BLOCK)
      const found = p.newLabel('found')
      const notHere = p.newLabel('notHere')
      p.ldMem(M_PORT)
      for (let i = 0; i < chunk.length; i++) p.jumpK(BPF_JEQ, chunk[i]!, found, i === chunk.length - 1 ? notHere : null)
      p.label(found).jumpAlways(match)
      p.label(notHere)
    }
    p.jumpAlways(miss)
    p.label(next)
  }
  p.jumpAlways(miss)
}

const ACCEPT = 0x40000

/** Socket filter: only ARP replies (every worker learns every neighbour). */
/** Socket filter for an AF_XDP worker's packet sockets: ARP only (the XDP intake hands it the rest), none it sent. */
export function arpOnlyFilter(): Buffer {
  const p = new BpfProgram()
  p.ldAbs(BPF_W, SKF_AD_PKTTYPE).jumpK(BPF_JEQ, PACKET_OUTGOING, 'drop', null)
  p.ldAbs(BPF_H, ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_ARP, null, 'drop')
  p.retK(ACCEPT)
  p.label('drop').retK(0)
  return p.encode()
}

export function arpRepliesOnlyFilter(): Buffer {
  const p = new BpfProgram()
  p.ldAbs(BPF_H, ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_ARP, null, 'drop')
  p.ldAbs(BPF_H, ARP_OPCODE_OFFSET).jumpK(BPF_JEQ, ARP_OP_REPLY, null, 'drop')
  p.retK(ACCEPT)
  p.label('drop').retK(0)
  return p.encode()
}

/** nvlb's PA and node.probeAddress: NVGRE to that PA with that inner destination is a health probe's reply. */
export interface ProbeReplies {
  providerAddress: number
  probeAddress: number
}

/**
 * Jumps to `yes` when the frame is NVGRE to `replies.providerAddress` whose inner IPv4
 * destination is `replies.probeAddress` (outer IPv4 header of any length), else to `no`.
 */
export function jumpIfProbeReply(p: BpfProgram, replies: ProbeReplies, yes: string, no: string): BpfProgram {
  p.ldAbs(BPF_H, ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_IPV4, null, no)
  p.ldAbs(BPF_B, ETH_HEADER + IPV4_OFF_PROTOCOL).jumpK(BPF_JEQ, IPPROTO_GRE, null, no)
  p.ldAbs(BPF_W, ETH_HEADER + IPV4_OFF_DST).jumpK(BPF_JEQ, replies.providerAddress >>> 0, null, no)
  p.ldxIpHeaderLength(ETH_HEADER)
  p.ldInd(BPF_H, GRE_FLAGS).jumpK(BPF_JEQ, NVGRE_FLAGS_VERSION, null, no)
  p.ldInd(BPF_H, GRE_PROTOCOL).jumpK(BPF_JEQ, ETHERTYPE_TEB, null, no)
  p.ldInd(BPF_H, INNER_ETHERNET + ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_IPV4, null, no)
  p.ldInd(BPF_W, INNER_IP + IPV4_OFF_DST).jumpK(BPF_JEQ, replies.probeAddress >>> 0, yes, no)
  return p
}

/**
 * Socket filter for the packet workers' sockets: drops frames this host sent (for
 * kernels without PACKET_FANOUT_FLAG_IGNORE_OUTGOING), ARP replies when every worker
 * also has an ARP-reply socket (they arrive there), and health probes' replies when
 * probes run (the probe tunnel's own socket takes them: a packet worker is not woken
 * for them).
 */
export function memberFilter(dropArpReplies: boolean, probeReplies: ProbeReplies | null = null): Buffer {
  const p = new BpfProgram()
  p.ldAbs(BPF_W, SKF_AD_PKTTYPE).jumpK(BPF_JEQ, PACKET_OUTGOING, 'drop', null)
  if (dropArpReplies) {
    p.ldAbs(BPF_H, ETH_TYPE).jumpK(BPF_JEQ, ETHERTYPE_ARP, null, 'probe')
    p.ldAbs(BPF_H, ARP_OPCODE_OFFSET).jumpK(BPF_JEQ, ARP_OP_REPLY, 'drop', 'accept')
  }
  p.label('probe')
  if (probeReplies !== null) jumpIfProbeReply(p, probeReplies, 'drop', 'accept')
  p.label('accept').retK(ACCEPT)
  p.label('drop').retK(0)
  return p.encode()
}
