/**
 * Probe connections of the kernel's TCP, driven without an event loop: the
 * probe tunnel's thread opens each probe as a non-blocking kernel socket
 * (socket, connect, send, recv, close through libc), and `step()` moves every
 * connection in flight on with one poll(2) of timeout 0. The kernel does all of
 * TCP (handshake, retransmission, windows, FIN/RST); this file only decides
 * what a probe's outcome is:
 *
 * - `tcp`: the handshake completed (SO_ERROR 0 once writable). The socket is
 *   then closed with SO_LINGER 0 (an RST), as HAProxy ends its TCP checks: no
 *   TIME_WAIT on nvlb's side, two packets fewer.
 * - `http`: `GET path` (HTTP/1.1, `Connection: close`) is sent once connected;
 *   the answer's status line decides (200–399). The connection then stays until
 *   the server closes it (the server closes first, as it does for any client
 *   that asks `Connection: close`), and is closed normally; a server that does
 *   not close by the probe's deadline gets an RST.
 *   Its ACKs ride on its own segments: TCP_QUICKACK 0 before connect makes the
 *   kernel hold the handshake's last ACK for the request (what HAProxy's
 *   `tcp-smart-connect` does; RFC 1122 allows ACKs to be delayed), and again
 *   once the request is sent, so the ACKs of the answer and of the server's FIN
 *   go with nvlb's FIN. Three segments from nvlb per probe instead of five; the
 *   exchange is the same TCP, only fewer bare ACKs.
 *
 * Why not node:net: a net.Socket costs tens of microseconds of JavaScript per
 * probe and wakes the main thread's event loop for every packet; here a probe
 * costs a handful of system calls on a thread that handles its sockets, the TUN
 * and the provider socket in one batch per tick (bench/health.ts measures it).
 *
 * Slots are structure-of-arrays reused through a free list; a probe allocates
 * nothing but what its result message needs.
 */
import koffi from 'koffi'
import * as c from '../io/libc'

const libc = koffi.load('libc.so.6')
const connectC: (fd: number, addr: Buffer, len: number) => number = libc.func('int connect(int fd, void *addr, uint32_t len)')
const sendC: (fd: number, buf: Buffer, len: number, flags: number) => number = libc.func('long send(int fd, void *buf, unsigned long len, int flags)')
const recvC: (fd: number, buf: Buffer, len: number, flags: number) => number = libc.func('long recv(int fd, void *buf, unsigned long len, int flags)')

const SOCK_STREAM = 1
const SOCK_NONBLOCK = 0x800
const SO_ERROR = 4
const SO_LINGER = 13
const IPPROTO_TCP = 6
const TCP_QUICKACK = 12
const MSG_NOSIGNAL = 0x4000
const POLLOUT = 0x4
const POLL_FAILED = c.POLLERR | c.POLLHUP
/** The peer shut down its side (its FIN arrived). */
const POLLRDHUP = 0x2000
const POLL_READ = c.POLLIN | POLLRDHUP
const EINPROGRESS = 115
const SOCKADDR_IN_SIZE = 16

/** errno names a probe reports (the ones node:net would, e.g. ECONNREFUSED). */
const ERRNO_NAMES: Record<number, string> = {
  24: 'EMFILE',
  32: 'EPIPE',
  99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH',
  103: 'ECONNABORTED',
  104: 'ECONNRESET',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  112: 'EHOSTDOWN',
  113: 'EHOSTUNREACH',
}

export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code} (${c.strerror(code)})`
}

export const PROBE_TCP = 0
export const PROBE_HTTP = 1

/** One probe for the tunnel thread. */
export interface ProbeJob {
  id: number
  /** PROBE_TCP or PROBE_HTTP. */
  kind: number
  /** Where the kernel connects (unsigned IPv4: a probe target, or any address in tests). */
  address: number
  port: number
  /** The whole HTTP request (http only). */
  request: string
  timeoutMs: number
}

/** Called once per probe, from step() or start(). */
export type ProbeDone = (id: number, ok: boolean, error: string | null, latencyMs: number) => void

const PHASE_FREE = 0
const PHASE_CONNECTING = 1
const PHASE_SENDING = 2
const PHASE_READING = 3
/** Judged; waiting for the server's FIN (http) before a normal close. */
const PHASE_DRAINING = 4

const HEAD_BYTES = 64
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/
/** Request texts are the same for every probe of a check: encoded once (bounded by the number of checks). */
const REQUEST_CACHE_MAX = 65536

export class ProbeConnections {
  private capacity = 0
  private phase = new Uint8Array(0)
  private fds = new Int32Array(0)
  private ids = new Float64Array(0)
  private kinds = new Uint8Array(0)
  private started = new Float64Array(0)
  private deadlines = new Float64Array(0)
  private sent = new Int32Array(0)
  private headLength = new Int32Array(0)
  private heads = Buffer.alloc(0)
  private requests: (Buffer | null)[] = []
  private readonly free: number[] = []
  private readonly live: number[] = []
  private pollfds = Buffer.alloc(0)
  private pollWords = new Int32Array(0)
  /** Calls that made the kernel send (connect, send, close): the caller's cue to read the TUN. */
  emitted = 0
  private readonly requestCache = new Map<string, Buffer>()
  private readonly sockaddr = Buffer.alloc(SOCKADDR_IN_SIZE)
  private readonly intBuf = Buffer.alloc(4)
  private readonly lenBuf = Buffer.alloc(4)
  private readonly linger = Buffer.alloc(8)
  private readonly zero = Buffer.alloc(4)
  private readonly scratch = Buffer.alloc(4096)

  constructor(
    private readonly done: ProbeDone,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.sockaddr.writeUInt16LE(c.AF_INET, 0)
    this.linger.writeInt32LE(1, 0)
    this.linger.writeInt32LE(0, 4)
  }

  /** Connections in flight (including those waiting for the server to close). */
  get active(): number {
    return this.live.length
  }

  /** Opens the probe's connection; a probe that cannot even start is reported at once. */
  start(job: ProbeJob): void {
    this.open(job.id, job.kind, job.address, job.port, job.kind === PROBE_HTTP ? this.requestBytes(job.request) : null, job.timeoutMs)
  }

  /**
   * start() without a job object: `request` is the HTTP request's bytes (http), kept
   * by the caller and sent as they are.
   */
  open(id: number, kind: number, address: number, port: number, request: Buffer | null, timeoutMs: number): void {
    if (kind === PROBE_HTTP && request === null) {
      this.done(id, false, 'no HTTP request to send', 0)
      return
    }
    const now = this.now()
    const fd = c.socket(c.AF_INET, SOCK_STREAM | SOCK_NONBLOCK | c.SOCK_CLOEXEC, 0)
    if (fd < 0) {
      this.done(id, false, errnoName(c.errno()), 0)
      return
    }
    // http: hold the handshake's last ACK for the request (see the top of this file).
    if (kind === PROBE_HTTP) c.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, this.zero, 4)
    this.sockaddr.writeUInt16BE(port, 2)
    this.sockaddr.writeUInt32BE(address >>> 0, 4)
    if (connectC(fd, this.sockaddr, SOCKADDR_IN_SIZE) < 0) {
      const code = c.errno()
      if (code !== EINPROGRESS) {
        this.abort(fd)
        this.done(id, false, errnoName(code), this.now() - now)
        return
      }
    }
    const slot = this.allocate()
    this.phase[slot] = PHASE_CONNECTING
    this.fds[slot] = fd
    this.ids[slot] = id
    this.kinds[slot] = kind
    this.started[slot] = now
    this.deadlines[slot] = now + timeoutMs
    this.sent[slot] = 0
    this.headLength[slot] = 0
    this.requests[slot] = kind === PROBE_HTTP ? request : null
    this.live.push(slot)
    this.emitted++
  }

  /**
   * Moves every connection on: one poll(2) without waiting, then reads, writes,
   * verdicts and deadlines. `extraFd` (≥ 0: the tunnel's TUN device) is polled for
   * POLLIN in the same call; returns its revents (0 without it).
   */
  step(extraFd = -1): number {
    const n = this.live.length
    const count = n + (extraFd >= 0 ? 1 : 0)
    if (count === 0) return 0
    if (this.pollWords.length < count * 2) {
      this.pollfds = Buffer.alloc(Math.max(64, count * 2) * c.POLLFD_SIZE)
      this.pollWords = new Int32Array(this.pollfds.buffer, this.pollfds.byteOffset, this.pollfds.length >> 2)
    }
    // struct pollfd { int fd; short events; short revents; }: two words (little-endian).
    const w = this.pollWords
    for (let i = 0; i < n; i++) {
      const slot = this.live[i]!
      w[i * 2] = this.fds[slot]!
      const phase = this.phase[slot]
      w[i * 2 + 1] = phase === PHASE_CONNECTING || phase === PHASE_SENDING ? POLLOUT : POLL_READ
    }
    if (extraFd >= 0) {
      w[n * 2] = extraFd
      w[n * 2 + 1] = c.POLLIN
    }
    c.poll(this.pollfds, count, 0)
    const now = this.now()
    // Backwards: finish() removes from `live` by swapping in its last element.
    for (let i = n - 1; i >= 0; i--) {
      const slot = this.live[i]!
      const revents = w[i * 2 + 1]! >>> 16
      if (revents !== 0) this.progress(slot, revents, now)
      if (this.phase[slot] !== PHASE_FREE && now >= this.deadlines[slot]!) this.expire(slot, now)
    }
    return extraFd >= 0 ? w[n * 2 + 1]! >>> 16 : 0
  }

  /** Closes every connection (stop). */
  closeAll(): void {
    for (const slot of [...this.live]) this.release(slot, true)
  }

  private progress(slot: number, revents: number, now: number): void {
    const fd = this.fds[slot]!
    let phase = this.phase[slot]
    if (phase === PHASE_CONNECTING) {
      // Writable without an error or hang-up: connected. Otherwise SO_ERROR says why not.
      if ((revents & POLL_FAILED) !== 0) {
        this.lenBuf.writeUInt32LE(4, 0)
        const error = c.getsockopt(fd, c.SOL_SOCKET, SO_ERROR, this.intBuf, this.lenBuf) < 0 ? c.errno() : this.intBuf.readInt32LE(0)
        return this.fail(slot, error !== 0 ? errnoName(error) : 'connection closed while connecting', now)
      }
      if ((revents & POLLOUT) === 0) return
      if (this.kinds[slot] === PROBE_TCP) {
        this.report(slot, true, null, now)
        this.release(slot, true)
        return
      }
      this.phase[slot] = phase = PHASE_SENDING
    }
    if (phase === PHASE_SENDING) {
      const request = this.requests[slot]!
      const offset = this.sent[slot]!
      const chunk = offset === 0 ? request : request.subarray(offset)
      const w = sendC(fd, chunk, chunk.length, MSG_NOSIGNAL)
      if (w < 0) {
        const code = c.errno()
        if (code !== c.ERRNO.EAGAIN) this.fail(slot, errnoName(code), now)
        return
      }
      this.sent[slot] = offset + w
      this.emitted++
      if (offset + w >= request.length) {
        this.phase[slot] = PHASE_READING
        // The answer's ACK waits for nvlb's FIN (see the top of this file).
        c.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, this.zero, 4)
      }
      return
    }
    if (phase === PHASE_READING) {
      const have = this.headLength[slot]!
      const r = recvC(fd, this.scratch, this.scratch.length, 0)
      if (r < 0) {
        const code = c.errno()
        if (code !== c.ERRNO.EAGAIN) this.fail(slot, errnoName(code), now)
        return
      }
      if (r === 0) return this.fail(slot, 'connection closed before an HTTP status line', now)
      const take = Math.min(r, HEAD_BYTES - have)
      this.scratch.copy(this.heads, slot * HEAD_BYTES + have, 0, take)
      const length = have + take
      this.headLength[slot] = length
      const head = this.heads.toString('latin1', slot * HEAD_BYTES, slot * HEAD_BYTES + length)
      const m = STATUS_LINE.exec(head)
      if (m !== null) {
        const status = Number(m[1])
        if (status >= 200 && status <= 399) this.report(slot, true, null, now)
        else this.report(slot, false, `HTTP ${status}`, now)
        this.phase[slot] = phase = PHASE_DRAINING
        // The server's FIN came with the answer (poll said so, and this read took all there was):
        // close now, not a tick later.
        if ((revents & (POLLRDHUP | c.POLLHUP)) === 0 || r === this.scratch.length) return
      } else {
        if (length >= 12 || head.includes('\n')) this.fail(slot, 'the answer is not HTTP', now)
        return
      }
    }
    if (phase === PHASE_DRAINING) {
      for (;;) {
        const r = recvC(fd, this.scratch, this.scratch.length, 0)
        if (r > 0) continue
        if (r === 0) this.release(slot, false)
        else if (c.errno() !== c.ERRNO.EAGAIN) this.release(slot, true)
        return
      }
    }
  }

  private expire(slot: number, now: number): void {
    if (this.phase[slot] === PHASE_DRAINING) this.release(slot, true)
    else this.fail(slot, `no answer within ${Math.round(this.deadlines[slot]! - this.started[slot]!) / 1000} s`, now)
  }

  private fail(slot: number, error: string, now: number): void {
    this.report(slot, false, error, now)
    this.release(slot, true)
  }

  private report(slot: number, ok: boolean, error: string | null, now: number): void {
    this.done(this.ids[slot]!, ok, error, now - this.started[slot]!)
  }

  /** Closes the slot's socket (abortive: an RST, no TIME_WAIT) and frees the slot. */
  private release(slot: number, abortive: boolean): void {
    const fd = this.fds[slot]!
    if (abortive) this.abort(fd)
    else c.close(fd)
    this.emitted++
    this.phase[slot] = PHASE_FREE
    this.requests[slot] = null
    const i = this.live.indexOf(slot)
    const last = this.live.pop()!
    if (i >= 0 && i < this.live.length) this.live[i] = last
    this.free.push(slot)
  }

  private abort(fd: number): void {
    c.setsockopt(fd, c.SOL_SOCKET, SO_LINGER, this.linger, 8)
    c.close(fd)
  }

  private requestBytes(text: string): Buffer {
    let bytes = this.requestCache.get(text)
    if (bytes === undefined) {
      if (this.requestCache.size >= REQUEST_CACHE_MAX) this.requestCache.clear()
      bytes = Buffer.from(text, 'latin1')
      this.requestCache.set(text, bytes)
    }
    return bytes
  }

  private allocate(): number {
    const slot = this.free.pop()
    if (slot !== undefined) return slot
    if (this.capacity === this.phase.length) this.grow()
    return this.capacity++
  }

  private grow(): void {
    const size = Math.max(64, this.phase.length * 2)
    const grow = <T extends Uint8Array | Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(size)
      b.set(a as never)
      return b
    }
    this.phase = grow(this.phase, (n) => new Uint8Array(n))
    this.fds = grow(this.fds, (n) => new Int32Array(n))
    this.ids = grow(this.ids, (n) => new Float64Array(n))
    this.kinds = grow(this.kinds, (n) => new Uint8Array(n))
    this.started = grow(this.started, (n) => new Float64Array(n))
    this.deadlines = grow(this.deadlines, (n) => new Float64Array(n))
    this.sent = grow(this.sent, (n) => new Int32Array(n))
    this.headLength = grow(this.headLength, (n) => new Int32Array(n))
    const heads = Buffer.alloc(size * HEAD_BYTES)
    this.heads.copy(heads)
    this.heads = heads
    this.requests.length = size
  }
}

/** The request an HTTP probe sends (HTTP/1.1 on a fresh connection, `Connection: close`). */
export function httpProbeRequest(path: string, host: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: nvlb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n`
}
