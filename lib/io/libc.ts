import koffi, { type TypeObject } from 'koffi'
import { ErrorCodes, NvlbError } from '../errors'

/**
 * The few libc calls the AF_PACKET ports need, bound with koffi (Linux, LP64).
 * Every memory argument is a Buffer: koffi hands its bytes to C in place, so
 * the caller owns the memory and can prepare it once (no marshalling copies).
 * Calls return the raw C result; read the error with `errno()` right after.
 */
const libc = koffi.load('libc.so.6')

export const socket: (domain: number, type: number, protocol: number) => number =
  libc.func('int socket(int domain, int type, int protocol)')
export const bind: (fd: number, addr: Buffer, addrLength: number) => number =
  libc.func('int bind(int fd, void *addr, uint32_t len)')
export const setsockopt: (fd: number, level: number, name: number, value: Buffer, valueLength: number) => number =
  libc.func('int setsockopt(int fd, int level, int name, void *value, uint32_t len)')
/** `valueLength` is a 4-byte Buffer holding the in/out socklen_t. */
export const getsockopt: (fd: number, level: number, name: number, value: Buffer, valueLength: Buffer) => number =
  libc.func('int getsockopt(int fd, int level, int name, void *value, void *len)')
export const recvmmsg: (fd: number, messages: Buffer, count: number, flags: number, timeout: null) => number =
  libc.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)')
export const sendmmsg: (fd: number, messages: Buffer, count: number, flags: number) => number =
  libc.func('int sendmmsg(int fd, void *msgvec, unsigned int vlen, int flags)')
export const poll: (fds: Buffer, count: number, timeoutMs: number) => number =
  libc.func('int poll(void *fds, unsigned long nfds, int timeout)')
export const close: (fd: number) => number = libc.func('int close(int fd)')
export const read: (fd: number, buf: Buffer, count: number) => number = libc.func('long read(int fd, void *buf, unsigned long count)')
export const write: (fd: number, buf: Buffer, count: number) => number = libc.func('long write(int fd, void *buf, unsigned long count)')
/** Gives the core to another runnable thread, if there is one (returns at once otherwise). */
export const schedYield: () => number = libc.func('int sched_yield()')
export const eventfd: (initial: number, flags: number) => number = libc.func('int eventfd(unsigned int initval, int flags)')
const pthreadSelf: () => number = libc.func('unsigned long pthread_self()')
const pthreadSetName: (thread: number, name: string) => number = libc.func('int pthread_setname_np(unsigned long thread, const char *name)')
/** Name the calling thread (what top -H, ps -L and /proc/PID/task/TID/comm show; at most 15 bytes); 0 on success. */
export function nameThisThread(name: string): number {
  return pthreadSetName(pthreadSelf(), name.slice(0, 15))
}
/** syscall(2) with three arguments (x86-64: glibc passes them through in registers). */
export const syscall3: (number: number, a: number, b: Buffer, c: number) => number = libc.func('long syscall(long number, long a, void *b, long c)')
export const ifNameToIndex: (name: string) => number = libc.func('unsigned int if_nametoindex(const char *ifname)')

/** The index of interface `name`; throws NVLB_ERR_INTERFACE_NOT_FOUND when there is none. */
export function interfaceIndex(name: string): number {
  const ifindex = ifNameToIndex(name)
  if (ifindex === 0) throw new NvlbError(ErrorCodes.INTERFACE_NOT_FOUND, `no interface named ${name}`, undefined, 500)
  return ifindex
}
export const ioctl: (fd: number, request: number, argument: Buffer) => number =
  libc.func('int ioctl(int fd, unsigned long request, void *arg)')
export const sendto: (fd: number, buf: null, length: number, flags: number, address: null, addressLength: number) => number =
  libc.func('long sendto(int fd, void *buf, unsigned long len, int flags, void *addr, uint32_t alen)')
/** Returns the mapping's address (koffi pointer), or a pointer equal to MAP_FAILED (−1). */
export const mmap: (address: null, length: number, protection: number, flags: number, fd: number, offset: number) => unknown =
  libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)')
export const munmap: (address: unknown, length: number) => number = libc.func('int munmap(void *addr, size_t length)')
/** munmap by the mapping's address as a number (pointerAddress), for memory another thread mapped. */
export const munmapAddress: (address: number, length: number) => number = libc.func('int munmap(uintptr_t addr, size_t length)')
/** glibc: give free pages of every malloc arena back to the kernel; 1 when some were released. */
export const mallocTrim: (pad: number) => number = libc.func('int malloc_trim(size_t pad)')
const strerrorC: (code: number) => string = libc.func('const char *strerror(int errnum)')

export function errno(): number {
  return koffi.errno()
}

export function strerror(code: number): string {
  return strerrorC(code)
}

/** Bytes at a native address as an ArrayBuffer, without copying (koffi.view). */
export function viewOf(pointer: unknown, length: number): ArrayBuffer {
  return koffi.view(pointer, length)
}

/** Native address of a koffi pointer. */
export function pointerAddress(pointer: unknown): number {
  return Number(koffi.address(pointer))
}

/** Native address of a Buffer's first byte (its backing store never moves). */
export function bufferAddress(buffer: Buffer): number {
  return Number(koffi.address(buffer))
}

export const ERRNO = {
  EINTR: 4,
  EAGAIN: 11,
  ENOBUFS: 105,
  ENODEV: 19,
  EINVAL: 22,
  EPERM: 1,
  ENXIO: 6,
  EMSGSIZE: 90,
  ENETDOWN: 100,
} as const

export const AF_PACKET = 17
export const AF_INET = 2
export const SOCK_RAW = 3
export const SOCK_DGRAM = 2
export const SOCK_CLOEXEC = 0x80000
export const EFD_CLOEXEC = 0x80000
export const EFD_NONBLOCK = 0x800
export const ETH_P_ALL = 0x0003

export const SOL_SOCKET = 1
export const SO_SNDBUF = 7
export const SO_RCVBUF = 8
export const SO_ATTACH_FILTER = 26
export const SO_SNDBUFFORCE = 32
export const SO_RCVBUFFORCE = 33

export const SOL_PACKET = 263
export const PACKET_ADD_MEMBERSHIP = 1
export const PACKET_STATISTICS = 6
export const PACKET_FANOUT = 18
export const PACKET_QDISC_BYPASS = 20
export const PACKET_FANOUT_DATA = 22
export const PACKET_IGNORE_OUTGOING = 23
export const PACKET_MR_PROMISC = 1
export const PACKET_RX_RING = 5
export const PACKET_VERSION = 10
export const PACKET_RESERVED = 12
export const PACKET_TX_RING = 13
export const PACKET_LOSS = 14
export const TPACKET_V2 = 1

export const PROT_READ = 0x1
export const PROT_WRITE = 0x2
export const MAP_SHARED = 0x1
export const MAP_LOCKED = 0x2000
export const MAP_POPULATE = 0x8000

export const PACKET_FANOUT_HASH = 0
export const PACKET_FANOUT_LB = 1
export const PACKET_FANOUT_CPU = 2
export const PACKET_FANOUT_CBPF = 6
export const PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000

export const MSG_TRUNC = 0x20
export const MSG_DONTWAIT = 0x40

export const POLLIN = 0x1
export const POLLERR = 0x8
export const POLLHUP = 0x10
export const POLLNVAL = 0x20

export const SIOCETHTOOL = 0x8946

/** struct iovec { void *iov_base; size_t iov_len } */
export const Iovec = koffi.struct('nvlb_iovec', { iov_base: 'void *', iov_len: 'size_t' })
/** struct msghdr (glibc, LP64). */
export const Msghdr = koffi.struct('nvlb_msghdr', {
  msg_name: 'void *',
  msg_namelen: 'uint32_t',
  msg_iov: 'void *',
  msg_iovlen: 'size_t',
  msg_control: 'void *',
  msg_controllen: 'size_t',
  msg_flags: 'int',
})
/** struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len } */
export const Mmsghdr = koffi.struct('nvlb_mmsghdr', { msg_hdr: Msghdr, msg_len: 'unsigned int' })
/** struct pollfd { int fd; short events; short revents } */
export const Pollfd = koffi.struct('nvlb_pollfd', { fd: 'int', events: 'short', revents: 'short' })
/** struct sockaddr_ll */
export const SockaddrLl = koffi.struct('nvlb_sockaddr_ll', {
  sll_family: 'uint16_t',
  sll_protocol: 'uint16_t',
  sll_ifindex: 'int',
  sll_hatype: 'uint16_t',
  sll_pkttype: 'uint8_t',
  sll_halen: 'uint8_t',
  sll_addr: koffi.array('uint8_t', 8),
})
/** struct packet_mreq */
export const PacketMreq = koffi.struct('nvlb_packet_mreq', {
  mr_ifindex: 'int',
  mr_type: 'uint16_t',
  mr_alen: 'uint16_t',
  mr_address: koffi.array('uint8_t', 8),
})
/** struct sock_fprog { unsigned short len; struct sock_filter *filter } */
export const SockFprog = koffi.struct('nvlb_sock_fprog', { len: 'uint16_t', filter: 'void *' })
/** struct tpacket_stats { unsigned int tp_packets; unsigned int tp_drops } */
export const TpacketStats = koffi.struct('nvlb_tpacket_stats', { tp_packets: 'uint32_t', tp_drops: 'uint32_t' })

export const MMSGHDR_SIZE = koffi.sizeof(Mmsghdr)
export const MSG_IOV_OFFSET = koffi.offsetof(Msghdr, 'msg_iov')
export const MSG_IOVLEN_OFFSET = koffi.offsetof(Msghdr, 'msg_iovlen')
export const MSG_FLAGS_OFFSET = koffi.offsetof(Msghdr, 'msg_flags')
export const MSG_LEN_OFFSET = koffi.offsetof(Mmsghdr, 'msg_len')
export const IOVEC_SIZE = koffi.sizeof(Iovec)
export const IOV_LEN_OFFSET = koffi.offsetof(Iovec, 'iov_len')
export const POLLFD_SIZE = koffi.sizeof(Pollfd)
export const SOCKADDR_LL_SIZE = koffi.sizeof(SockaddrLl)
export const PACKET_MREQ_SIZE = koffi.sizeof(PacketMreq)
export const SOCK_FPROG_SIZE = koffi.sizeof(SockFprog)
export const TPACKET_STATS_SIZE = koffi.sizeof(TpacketStats)

/**
 * Frames the kernel dropped in front of an AF_PACKET socket (a full receive queue or ring) since the
 * last call (PACKET_STATISTICS resets its counts when read); −1 when the kernel refused the call.
 */
export function packetDropsSinceLastRead(fd: number): number {
  const stats = Buffer.alloc(TPACKET_STATS_SIZE)
  const length = Buffer.alloc(4)
  length.writeInt32LE(stats.length)
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, stats, length) < 0) return -1
  return stats.readUInt32LE(4)
}

/** Encodes a koffi struct value into a fresh Buffer (control path only). */
export function encodeStruct(type: TypeObject, value: Record<string, unknown>): Buffer {
  const buffer = Buffer.alloc(koffi.sizeof(type))
  koffi.encode(buffer, type, value)
  return buffer
}

/** Decodes a koffi struct from a Buffer (control path only). */
export function decodeStruct<T>(buffer: Buffer, type: TypeObject): T {
  return koffi.decode(buffer, type) as T
}
