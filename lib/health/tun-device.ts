/**
 * A TUN device (IFF_TUN | IFF_NO_PI: bare IP packets) opened through libc with
 * koffi, non-blocking, for the probe tunnel. The device lives as long as its
 * file descriptor: closing it (or the process ending) removes the interface.
 */
import koffi from 'koffi'
import { ErrorCodes, NvlbError } from '../errors'
import { errno, ioctl, strerror, close as closeFd } from '../io/libc'

const libc = koffi.load('libc.so.6')
const openC: (path: string, flags: number) => number = libc.func('int open(const char *path, int flags)')
const readC: (fd: number, buf: Buffer, count: number) => number = libc.func('long read(int fd, void *buf, unsigned long count)')
const writeC: (fd: number, buf: Buffer, count: number) => number = libc.func('long write(int fd, void *buf, unsigned long count)')
/** The same calls on a native address (a byte inside a Buffer the caller keeps alive): no view per packet. */
const readAtC: (fd: number, address: number, count: number) => number = libc.func('long read(int fd, uintptr_t buf, unsigned long count)')
const writeAtC: (fd: number, address: number, count: number) => number = libc.func('long write(int fd, uintptr_t buf, unsigned long count)')

const O_RDWR = 2
const O_NONBLOCK = 0x800
const O_CLOEXEC = 0x80000
/** _IOW('T', 202, int) */
const TUNSETIFF = 0x400454ca
const IFF_TUN = 0x0001
const IFF_NO_PI = 0x1000
const IFNAMSIZ = 16
const IFREQ_SIZE = 40
const EAGAIN = 11

export class TunDevice {
  readonly fd: number
  readonly name: string
  private closed = false

  /** `pattern` may hold `%d` (the kernel picks the first free number). */
  constructor(pattern = 'nvlbprobe%d') {
    if (Buffer.byteLength(pattern) >= IFNAMSIZ) throw new NvlbError(ErrorCodes.SOCKET_SETUP, `TUN name '${pattern}' is too long`)
    const fd = openC('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC)
    if (fd < 0) {
      const code = errno()
      throw new NvlbError(ErrorCodes.SOCKET_SETUP, `cannot open /dev/net/tun: ${strerror(code)}${code === 1 ? ' (needs root or CAP_NET_ADMIN)' : ''}`, undefined, 500)
    }
    const ifreq = Buffer.alloc(IFREQ_SIZE)
    ifreq.write(pattern, 0, 'latin1')
    ifreq.writeUInt16LE(IFF_TUN | IFF_NO_PI, IFNAMSIZ)
    if (ioctl(fd, TUNSETIFF, ifreq) < 0) {
      const code = errno()
      closeFd(fd)
      throw new NvlbError(ErrorCodes.SOCKET_SETUP, `TUNSETIFF ${pattern} failed: ${strerror(code)}`, undefined, 500)
    }
    this.fd = fd
    const nul = ifreq.indexOf(0)
    this.name = ifreq.toString('latin1', 0, nul < 0 || nul > IFNAMSIZ ? IFNAMSIZ : nul)
  }

  /** One packet into buf (from offset 0); its length, 0 when none is waiting, -1 on error. */
  read(buf: Buffer): number {
    const n = readC(this.fd, buf, buf.length)
    if (n >= 0) return n
    return errno() === EAGAIN ? 0 : -1
  }

  /**
   * One packet into the `capacity` bytes at native address `address` (lib/io/libc
   * bufferAddress of a Buffer the caller keeps alive, plus an offset); as read().
   */
  readAt(address: number, capacity: number): number {
    const n = readAtC(this.fd, address, capacity)
    if (n >= 0) return n
    return errno() === EAGAIN ? 0 : -1
  }

  /** write() of the `length` bytes at native address `address` (as readAt). */
  writeAt(address: number, length: number): boolean {
    return writeAtC(this.fd, address, length) === length
  }

  /** Hands one IP packet to the kernel; false when it refused it. */
  write(packet: Buffer): boolean {
    return writeC(this.fd, packet, packet.length) === packet.length
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    closeFd(this.fd)
  }
}
