import { ErrorCodes, NvlbError } from '../errors'
import * as c from './libc'

/**
 * Turns off checksum and segmentation offloads on an interface (what
 * `ethtool -K DEV tx off tso off gso off gro off` does, through the legacy
 * SIOCETHTOOL requests, so no ethtool binary is needed).
 *
 * Why: a kernel TCP/UDP stack sending over a veth with offloads on hands the
 * peer packets whose transport checksum is only the pseudo-header sum
 * (CHECKSUM_PARTIAL) and TCP segments up to 64 KiB (TSO). An AF_PACKET reader
 * sees exactly those bytes; frames it sends on are then dropped by the next
 * kernel for a bad checksum, and large segments do not fit a receive slot.
 * Call this for every interface a real TCP/IP stack sends from towards nvlb or
 * the host emulator (the VMs' and the client's interfaces) — in that
 * interface's network namespace (features survive moving a device to another
 * namespace, so it may also be called before the move).
 */
const ETHTOOL_SRXCSUM = 0x15
const ETHTOOL_STXCSUM = 0x17
const ETHTOOL_STSO = 0x1f
const ETHTOOL_SGSO = 0x24
const ETHTOOL_SGRO = 0x2c

const IFNAMSIZ = 16
const IFREQ_SIZE = 40

export interface OffloadResult {
  /** Settings the driver refused (EOPNOTSUPP): harmless when the feature does not exist. */
  refused: string[]
}

export function disableOffloads(interfaceName: string, options: { receiveChecksum?: boolean } = {}): OffloadResult {
  if (Buffer.byteLength(interfaceName) >= IFNAMSIZ) {
    throw new NvlbError(ErrorCodes.INTERFACE_NOT_FOUND, `interface name too long: ${interfaceName}`, undefined, 500)
  }
  if (c.ifNameToIndex(interfaceName) === 0) {
    throw new NvlbError(ErrorCodes.INTERFACE_NOT_FOUND, `no interface named ${interfaceName}`, undefined, 500)
  }
  const fd = c.socket(c.AF_INET, c.SOCK_DGRAM | c.SOCK_CLOEXEC, 0)
  if (fd < 0) throw new NvlbError(ErrorCodes.SOCKET_SETUP, `socket(AF_INET) failed: ${c.strerror(c.errno())}`, undefined, 500)
  const refused: string[] = []
  try {
    const settings: [string, number][] = [
      ['gro', ETHTOOL_SGRO],
      ['gso', ETHTOOL_SGSO],
      ['tso', ETHTOOL_STSO],
      ['tx-checksumming', ETHTOOL_STXCSUM],
    ]
    if (options.receiveChecksum === false) settings.push(['rx-checksumming', ETHTOOL_SRXCSUM])
    for (const [name, command] of settings) {
      const value = Buffer.alloc(8) // struct ethtool_value { u32 cmd; u32 data }
      value.writeUInt32LE(command, 0)
      value.writeUInt32LE(0, 4)
      const ifreq = Buffer.alloc(IFREQ_SIZE)
      ifreq.write(interfaceName, 0, 'latin1')
      ifreq.writeBigUInt64LE(BigInt(c.bufferAddress(value)), IFNAMSIZ)
      if (c.ioctl(fd, c.SIOCETHTOOL, ifreq) < 0) {
        const code = c.errno()
        if (code === 95 /* EOPNOTSUPP */) refused.push(name)
        else throw new NvlbError(ErrorCodes.SOCKET_SETUP, `SIOCETHTOOL ${name} off on ${interfaceName} failed: ${c.strerror(code)}`, undefined, 500)
      }
    }
  } finally {
    c.close(fd)
  }
  return { refused }
}
