import { ErrorCodes, NvlbError } from '../errors'
import * as c from './libc'

/**
 * Reads and turns off an interface's offloads (what `ethtool -k/-K DEV …`
 * does, through the legacy SIOCETHTOOL requests, so no ethtool binary is
 * needed), in the calling thread's network namespace (lib/host/link-offload
 * enters another one first).
 *
 * Why, on the interfaces nvlb itself reads (worker-pool.ts turns them off at
 * start): with GRO or LRO on, the kernel merges consecutive TCP segments into
 * one super-frame of up to 64 KiB before an AF_PACKET socket sees it; nvlb
 * would count it truncated (larger than a receive slot) or, forwarded, send a
 * frame larger than the provider MTU.
 *
 * Why, on the peers (the VMs' and the client's interfaces): a kernel TCP/UDP
 * stack sending over a veth with offloads on hands the other end packets whose
 * transport checksum is only the pseudo-header sum (CHECKSUM_PARTIAL) and TCP
 * segments up to 64 KiB (TSO/GSO). An AF_PACKET reader sees exactly those
 * bytes; frames it sends on are then dropped by the next kernel for a bad
 * checksum, and large segments do not fit a receive slot. Features survive
 * moving a device to another namespace, so this may be called before the move.
 */
export type OffloadFeature = 'gro' | 'lro' | 'gso' | 'tso' | 'tx-checksumming' | 'rx-checksumming'

/** [get, set] ethtool commands (struct ethtool_value { u32 cmd; u32 data }); LRO is a bit of the flags word. */
const COMMANDS: Record<OffloadFeature, [number, number]> = {
  gro: [0x2b, 0x2c],
  lro: [0x25, 0x26],
  gso: [0x23, 0x24],
  tso: [0x1e, 0x1f],
  'tx-checksumming': [0x16, 0x17],
  'rx-checksumming': [0x14, 0x15],
}
const ETH_FLAG_LRO = 1 << 15
const EOPNOTSUPP = 95

/** What nvlb turns off on its own interfaces and on the peers of the reference deployment. */
export const RECEIVE_AND_SEND_OFFLOADS: readonly OffloadFeature[] = ['gro', 'lro', 'gso', 'tso', 'tx-checksumming']

const IFNAMSIZ = 16
const IFREQ_SIZE = 40

export interface OffloadResult {
  /** Features that were on and are now off. */
  changed: OffloadFeature[]
  /** Settings the driver refused (EOPNOTSUPP): harmless when the feature does not exist. */
  refused: OffloadFeature[]
}

function checkName(interfaceName: string): void {
  if (Buffer.byteLength(interfaceName) >= IFNAMSIZ) {
    throw new NvlbError(ErrorCodes.INTERFACE_NOT_FOUND, `interface name too long: ${interfaceName}`, undefined, 500)
  }
  c.interfaceIndex(interfaceName)
}

function withSocket<T>(body: (fd: number) => T): T {
  const fd = c.socket(c.AF_INET, c.SOCK_DGRAM | c.SOCK_CLOEXEC, 0)
  if (fd < 0) throw new NvlbError(ErrorCodes.SOCKET_SETUP, `socket(AF_INET) failed: ${c.strerror(c.errno())}`, undefined, 500)
  try {
    return body(fd)
  } finally {
    c.close(fd)
  }
}

/** One SIOCETHTOOL request; returns the value word, or −errno. */
function ethtool(fd: number, interfaceName: string, command: number, data: number): number {
  const value = Buffer.alloc(8)
  value.writeUInt32LE(command, 0)
  value.writeUInt32LE(data >>> 0, 4)
  const ifreq = Buffer.alloc(IFREQ_SIZE)
  ifreq.write(interfaceName, 0, 'latin1')
  ifreq.writeBigUInt64LE(BigInt(c.bufferAddress(value)), IFNAMSIZ)
  if (c.ioctl(fd, c.SIOCETHTOOL, ifreq) < 0) return -c.errno()
  return value.readUInt32LE(4)
}

function read(fd: number, interfaceName: string, feature: OffloadFeature): number {
  const result = ethtool(fd, interfaceName, COMMANDS[feature][0], 0)
  if (result < 0) return result
  return feature === 'lro' ? ((result & ETH_FLAG_LRO) !== 0 ? 1 : 0) : result !== 0 ? 1 : 0
}

function write(fd: number, interfaceName: string, feature: OffloadFeature, on: boolean): number {
  if (feature === 'lro') {
    const flags = ethtool(fd, interfaceName, COMMANDS.lro[0], 0)
    if (flags < 0) return flags
    return ethtool(fd, interfaceName, COMMANDS.lro[1], on ? flags | ETH_FLAG_LRO : flags & ~ETH_FLAG_LRO)
  }
  return ethtool(fd, interfaceName, COMMANDS[feature][1], on ? 1 : 0)
}

function failure(what: string, interfaceName: string, code: number): NvlbError {
  return new NvlbError(ErrorCodes.SOCKET_SETUP, `SIOCETHTOOL ${what} on ${interfaceName} failed: ${c.strerror(code)}`, undefined, 500)
}

/**
 * Turns `features` off (default: GRO, LRO, GSO, TSO, tx checksums; with
 * `receiveChecksum: false` also rx checksums). A feature the driver does not
 * have is reported in `refused`, any other failure throws.
 */
export function disableOffloads(
  interfaceName: string,
  options: { features?: readonly OffloadFeature[]; receiveChecksum?: boolean } = {},
): OffloadResult {
  checkName(interfaceName)
  const features = [...(options.features ?? RECEIVE_AND_SEND_OFFLOADS)]
  if (options.receiveChecksum === false && !features.includes('rx-checksumming')) features.push('rx-checksumming')
  const result: OffloadResult = { changed: [], refused: [] }
  withSocket((fd) => {
    for (const feature of features) {
      const state = read(fd, interfaceName, feature)
      if (state === 0) continue
      if (state === -EOPNOTSUPP) {
        result.refused.push(feature)
        continue
      }
      const written = write(fd, interfaceName, feature, false)
      if (written === -EOPNOTSUPP) result.refused.push(feature)
      else if (written < 0) throw failure(`${feature} off`, interfaceName, -written)
      else if (state > 0) result.changed.push(feature)
    }
  })
  return result
}

/** Turns one feature on or off (tests use it to reproduce what a NIC's defaults do). */
export function setOffload(interfaceName: string, feature: OffloadFeature, on: boolean): void {
  checkName(interfaceName)
  withSocket((fd) => {
    const written = write(fd, interfaceName, feature, on)
    if (written < 0) throw failure(`${feature} ${on ? 'on' : 'off'}`, interfaceName, -written)
  })
}

/** Which of `features` are on (a feature the driver does not report reads as off). */
export function readOffloads(interfaceName: string, features: readonly OffloadFeature[] = RECEIVE_AND_SEND_OFFLOADS): Record<OffloadFeature, boolean> {
  checkName(interfaceName)
  const state = {} as Record<OffloadFeature, boolean>
  withSocket((fd) => {
    for (const feature of features) {
      const value = read(fd, interfaceName, feature)
      if (value < 0 && value !== -EOPNOTSUPP) throw failure(`read ${feature}`, interfaceName, -value)
      state[feature] = value > 0
    }
  })
  return state
}
