/**
 * Probe connections of the kernel's TCP, driven without an event loop: the
 * probe tunnel's thread opens each probe as a non-blocking kernel socket
 * (socket, connect, send, recv, close through libc), and `step()` moves every
 * connection in flight on with one poll(2) of timeout 0. The kernel does all of
 * TCP (handshake, retransmission, windows, FIN/RST); this file only decides
 * what a probe's outcome is and which connection it runs on:
 *
 * - `tcp`: a fresh handshake every time (that is what a tcp probe proves):
 *   the handshake completed (SO_ERROR 0 once writable). The socket is then
 *   closed with SO_LINGER 0 (an RST), as HAProxy ends its TCP checks: no
 *   TIME_WAIT on nvlb's side, two packets fewer.
 * - `http`: `GET path` (HTTP/1.1); the final answer's status decides
 *   (200–399), framed by node's HTTP parser (http-answer.ts). A probe with
 *   `keepMs` > 0 keeps its connection for the backend's next probe, as an HTTP
 *   client with keep-alive and one socket per host does (node's http.Agent with
 *   keepAlive and maxSockets 1): the next `GET` goes on it when it comes within
 *   `keepMs` and the connection is younger than KEEP_MAX_AGE_MS; a new
 *   connection is opened when there is none (first probe, the server closed it,
 *   an answer said `Connection: close`, a probe failed on it, it is too old).
 *   A request on a kept connection that the server closed or reset before any
 *   byte of an answer (its keep-alive timeout crossing the request) is sent
 *   again once on a new connection, within the same deadline (RFC 9112 §9.3.1:
 *   a client may retry an idempotent request then). A probe that fails in any
 *   other way (timeout, error status, broken answer) ends its connection, so a
 *   probe never fails twice for one dead connection and every failure after the
 *   first is judged on a fresh one. Idle kept connections are checked once a
 *   second (IDLE_SWEEP_MS): one the server closed is closed, one unused for
 *   `keepMs` too. Without `keepMs` the request asks `Connection: close`; the
 *   connection then stays until the server closes it and is closed normally; a
 *   server that does not close by the probe's deadline gets an RST.
 *   A new connection's ACKs ride on its own segments: TCP_QUICKACK 0 before
 *   connect makes the kernel hold the handshake's last ACK for the request
 *   (what HAProxy's `tcp-smart-connect` does; RFC 1122 allows ACKs to be
 *   delayed), and with `Connection: close` again once the request is sent, so
 *   the ACKs of the answer and of the server's FIN go with nvlb's FIN.
 *
 * Why not node:net: a net.Socket costs tens of microseconds of JavaScript per
 * probe and wakes the main thread's event loop for every packet; here a probe
 * costs a handful of system calls on a thread that handles its sockets, the TUN
 * and the provider socket in one batch per tick (bench/health.ts measures it).
 *
 * Slots are structure-of-arrays reused through a free list, each with its own
 * answer parser.
 */
import koffi from 'koffi'
import * as c from '../io/libc'
import { HttpAnswer } from './http-answer'
import { PairTable } from './pair-table'

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

/** The address of a connection key (address · 2^16 + port). */
function keyAddress(key: number): number {
  return Math.floor(key / 65536)
}

export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code} (${c.strerror(code)})`
}

export const PROBE_TCP = 0
export const PROBE_HTTP = 1

/**
 * A kept connection carries probes that start within this long of its opening; the next
 * one opens a new connection. It bounds how long a listener that stopped accepting goes
 * unnoticed while its process keeps serving the connection it already has.
 */
export const KEEP_MAX_AGE_MS = 60000
/** Idle kept connections are looked at this often (closed by the server, or unused too long). */
export const IDLE_SWEEP_MS = 1000
/** How long past its interval a check's connection waits for its next probe (the wheel's and the event loop's lateness). */
const KEEP_SLACK_MS = 1000

/** How long an HTTP check that runs every `intervalMs` keeps its connection idle for its next probe. */
export function keepAliveMs(intervalMs: number): number {
  return intervalMs + KEEP_SLACK_MS
}

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
  /** http: keep the connection this long for the next probe of the same address and port (0: do not). */
  keepMs?: number
}

/** Called once per probe, from step() or start(). */
export type ProbeDone = (id: number, ok: boolean, error: string | null, latencyMs: number) => void

const PHASE_FREE = 0
const PHASE_CONNECTING = 1
const PHASE_SENDING = 2
/** Reading the answer (and, once judged, the rest of it, or the server's close). */
const PHASE_READING = 3
/** Kept for the next probe of its address and port: not polled with the others. */
const PHASE_IDLE = 4

/** This attempt runs on a connection kept from an earlier probe. */
const F_REUSED = 1
/** A byte of the answer arrived. */
const F_ANSWERED = 2
/** The outcome is reported. */
const F_JUDGED = 4

/** Request texts are the same for every probe of a check: encoded once (bounded by the number of checks). */
const REQUEST_CACHE_MAX = 65536

export class ProbeConnections {
  private capacity = 0
  private phase = new Uint8Array(0)
  private fds = new Int32Array(0)
  private ids = new Float64Array(0)
  private kinds = new Uint8Array(0)
  private flags = new Uint8Array(0)
  /** address · 2^16 + port. */
  private keys = new Float64Array(0)
  private started = new Float64Array(0)
  /** The probe's deadline; while idle, when the connection is closed unless a probe takes it. */
  private deadlines = new Float64Array(0)
  /** When the connection was opened. */
  private opened = new Float64Array(0)
  private keepMs = new Float64Array(0)
  private sent = new Int32Array(0)
  private requests: (Buffer | null)[] = []
  private answers: (HttpAnswer | null)[] = []
  private readonly free: number[] = []
  private readonly live: number[] = []
  /** Kept connections (slots) by address and port. */
  private readonly idle = new PairTable()
  private nextSweep = 0
  private readonly sweepSlots: number[] = []
  private pollfds = Buffer.alloc(0)
  private pollWords = new Int32Array(0)
  /** Calls that made the kernel send (connect, send, close): the caller's cue to read the TUN. */
  emitted = 0
  /** Connections opened (each a handshake). */
  connects = 0
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

  /** Connections in flight (including those reading the rest of an answer or waiting for the server to close). */
  get active(): number {
    return this.live.length
  }

  /** Connections kept idle for the next probe. */
  get kept(): number {
    return this.idle.size
  }

  /** Opens the probe's connection; a probe that cannot even start is reported at once. */
  start(job: ProbeJob): void {
    this.open(job.id, job.kind, job.address, job.port, job.kind === PROBE_HTTP ? this.requestBytes(job.request) : null, job.timeoutMs, job.keepMs ?? 0)
  }

  /**
   * start() without a job object: `request` is the HTTP request's bytes (http), kept
   * by the caller and sent as they are.
   */
  open(id: number, kind: number, address: number, port: number, request: Buffer | null, timeoutMs: number, keepMs = 0): void {
    if (kind === PROBE_HTTP && request === null) {
      this.done(id, false, 'no HTTP request to send', 0)
      return
    }
    const now = this.now()
    const key = (address >>> 0) * 65536 + port
    if (kind === PROBE_HTTP && keepMs > 0) {
      const kept = this.idle.get(address, port)
      if (kept >= 0) {
        if (now - this.opened[kept]! < KEEP_MAX_AGE_MS) {
          this.idle.delete(address, port)
          this.begin(kept, id, kind, request, now, timeoutMs, keepMs, F_REUSED)
          this.phase[kept] = PHASE_SENDING
          this.live.push(kept)
          this.send(kept, now)
          return
        }
        this.release(kept, false)
      }
    }
    const fd = this.connect(key, kind)
    if (fd < 0) {
      this.done(id, false, errnoName(-fd), this.now() - now)
      return
    }
    const slot = this.allocate()
    this.fds[slot] = fd
    this.keys[slot] = key
    this.opened[slot] = now
    this.begin(slot, id, kind, request, now, timeoutMs, keepMs, 0)
    this.phase[slot] = PHASE_CONNECTING
    this.live.push(slot)
  }

  /**
   * Moves every connection on: one poll(2) without waiting, then reads, writes,
   * verdicts and deadlines. `extraFd` (≥ 0: the tunnel's TUN device) is polled for
   * POLLIN in the same call; returns its revents (0 without it). Idle kept
   * connections are looked at once every IDLE_SWEEP_MS.
   */
  step(extraFd = -1): number {
    if (this.idle.size > 0) {
      const now = this.now()
      if (now >= this.nextSweep) {
        this.nextSweep = now + IDLE_SWEEP_MS
        this.sweep(now)
      }
    }
    const n = this.live.length
    const count = n + (extraFd >= 0 ? 1 : 0)
    if (count === 0) return 0
    const w = this.pollBuffer(count)
    // struct pollfd { int fd; short events; short revents; }: two words (little-endian).
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
    // Backwards: a slot leaving `live` is replaced by its last element.
    for (let i = n - 1; i >= 0; i--) {
      const slot = this.live[i]!
      const revents = w[i * 2 + 1]! >>> 16
      if (revents !== 0) this.progress(slot, revents, now)
      const phase = this.phase[slot]
      if (phase !== PHASE_FREE && phase !== PHASE_IDLE && now >= this.deadlines[slot]!) this.expire(slot, now)
    }
    return extraFd >= 0 ? w[n * 2 + 1]! >>> 16 : 0
  }

  /** Closes every connection (stop). */
  closeAll(): void {
    for (const slot of [...this.live]) this.release(slot, true)
    const idle: number[] = []
    this.idle.forEachValue((slot) => idle.push(slot))
    for (const slot of idle) this.release(slot, false)
  }

  /** A new non-blocking socket connecting to `key`'s address and port; −errno when it cannot. */
  private connect(key: number, kind: number): number {
    const fd = c.socket(c.AF_INET, SOCK_STREAM | SOCK_NONBLOCK | c.SOCK_CLOEXEC, 0)
    if (fd < 0) return -c.errno()
    // http: hold the handshake's last ACK for the request (see the top of this file).
    if (kind === PROBE_HTTP) c.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, this.zero, 4)
    this.sockaddr.writeUInt16BE(key % 65536, 2)
    this.sockaddr.writeUInt32BE(keyAddress(key), 4)
    this.connects++
    this.emitted++
    if (connectC(fd, this.sockaddr, SOCKADDR_IN_SIZE) < 0) {
      const code = c.errno()
      if (code !== EINPROGRESS) {
        this.abort(fd)
        return -code
      }
    }
    return fd
  }

  private begin(slot: number, id: number, kind: number, request: Buffer | null, now: number, timeoutMs: number, keepMs: number, flags: number): void {
    this.ids[slot] = id
    this.kinds[slot] = kind
    this.flags[slot] = flags
    this.started[slot] = now
    this.deadlines[slot] = now + timeoutMs
    this.keepMs[slot] = kind === PROBE_HTTP ? keepMs : 0
    this.sent[slot] = 0
    this.requests[slot] = kind === PROBE_HTTP ? request : null
    if (kind === PROBE_HTTP) (this.answers[slot] ??= new HttpAnswer()).begin((flags & F_REUSED) === 0)
  }

  private progress(slot: number, revents: number, now: number): void {
    const fd = this.fds[slot]!
    const phase = this.phase[slot]
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
      this.phase[slot] = PHASE_SENDING
      return this.send(slot, now)
    }
    if (phase === PHASE_SENDING) return this.send(slot, now)
    if (phase === PHASE_READING) this.read(slot, revents, now)
  }

  private send(slot: number, now: number): void {
    const request = this.requests[slot]!
    const offset = this.sent[slot]!
    const chunk = offset === 0 ? request : request.subarray(offset)
    const w = sendC(this.fds[slot]!, chunk, chunk.length, MSG_NOSIGNAL)
    if (w < 0) {
      const code = c.errno()
      if (code !== c.ERRNO.EAGAIN) this.broken(slot, errnoName(code), now)
      return
    }
    this.sent[slot] = offset + w
    this.emitted++
    if (offset + w >= request.length) {
      this.phase[slot] = PHASE_READING
      // Connection: close: the answer's ACK waits for nvlb's FIN (see the top of this file).
      if (this.keepMs[slot] === 0) c.setsockopt(this.fds[slot]!, IPPROTO_TCP, TCP_QUICKACK, this.zero, 4)
    }
  }

  private read(slot: number, revents: number, now: number): void {
    const fd = this.fds[slot]!
    const answer = this.answers[slot]!
    for (;;) {
      const r = recvC(fd, this.scratch, this.scratch.length, 0)
      if (r < 0) {
        const code = c.errno()
        if (code !== c.ERRNO.EAGAIN) this.broken(slot, errnoName(code), now)
        return
      }
      if (r === 0) {
        // The server closed its side: an answer delimited by the close ends here.
        answer.end()
        if ((this.flags[slot]! & F_JUDGED) === 0) this.judge(slot, answer, now)
        if ((this.flags[slot]! & F_JUDGED) === 0) return this.broken(slot, 'connection closed before an HTTP status line', now)
        return this.release(slot, false)
      }
      this.flags[slot]! |= F_ANSWERED
      answer.feed(r === this.scratch.length ? this.scratch : this.scratch.subarray(0, r))
      if ((this.flags[slot]! & F_JUDGED) === 0) this.judge(slot, answer, now)
      if (answer.error !== null || answer.extra) return this.release(slot, true)
      if (answer.complete && answer.keepAlive) return this.finish(slot, revents, now)
      // A short read took everything there was, unless the server's FIN is waiting behind it.
      if (r < this.scratch.length && (revents & (POLLRDHUP | c.POLLHUP)) === 0) return
    }
  }

  /** Reports the probe once its final answer's head (or a broken answer) is in. */
  private judge(slot: number, answer: HttpAnswer, now: number): void {
    if (answer.status !== 0) {
      const status = answer.status
      if (status >= 200 && status <= 399) this.report(slot, true, null, now)
      else this.report(slot, false, `HTTP ${status}`, now)
    } else if (answer.error !== null) this.report(slot, false, answer.error, now)
  }

  /** The answer is complete and the server keeps the connection: kept for the next probe, or closed. */
  private finish(slot: number, revents: number, now: number): void {
    const key = this.keys[slot]!
    const keep = this.keepMs[slot]!
    // Only a connection that just answered a probe well, and that the server did not close behind
    // its answer, carries the next one.
    const closing = (revents & (POLLRDHUP | c.POLLHUP)) !== 0
    if (keep <= 0 || closing || this.answers[slot]!.status > 399 || now - this.opened[slot]! >= KEEP_MAX_AGE_MS || this.idle.has(keyAddress(key), key % 65536)) {
      return this.release(slot, false)
    }
    this.unlist(slot)
    this.phase[slot] = PHASE_IDLE
    this.deadlines[slot] = now + keep
    this.requests[slot] = null
    this.idle.set(keyAddress(key), key % 65536, slot)
  }

  /**
   * The connection failed (closed, reset) before the probe was judged. On a kept connection
   * before any byte of an answer, the request goes once more on a new connection; otherwise
   * the probe fails.
   */
  private broken(slot: number, error: string, now: number): void {
    const flags = this.flags[slot]!
    if ((flags & F_JUDGED) !== 0) return this.release(slot, true)
    if ((flags & (F_REUSED | F_ANSWERED)) !== F_REUSED) return this.fail(slot, error, now)
    this.abort(this.fds[slot]!)
    this.emitted++
    const fd = this.connect(this.keys[slot]!, PROBE_HTTP)
    if (fd < 0) {
      this.fds[slot] = -1
      this.report(slot, false, errnoName(-fd), now)
      return this.forget(slot)
    }
    this.fds[slot] = fd
    this.opened[slot] = now
    this.flags[slot] = 0
    this.sent[slot] = 0
    this.answers[slot]!.begin(true)
    this.phase[slot] = PHASE_CONNECTING
  }

  private expire(slot: number, now: number): void {
    if ((this.flags[slot]! & F_JUDGED) !== 0) this.release(slot, true)
    else this.fail(slot, `no answer within ${Math.round(this.deadlines[slot]! - this.started[slot]!) / 1000} s`, now)
  }

  private fail(slot: number, error: string, now: number): void {
    this.report(slot, false, error, now)
    this.release(slot, true)
  }

  private report(slot: number, ok: boolean, error: string | null, now: number): void {
    this.flags[slot]! |= F_JUDGED
    this.done(this.ids[slot]!, ok, error, now - this.started[slot]!)
  }

  /** Looks at every idle kept connection: closed by the server, sent something unasked, or unused too long. */
  private sweep(now: number): void {
    const count = this.idle.size
    const w = this.pollBuffer(count)
    const slots = this.sweepSlots
    slots.length = 0
    this.idle.forEachValue((slot) => {
      w[slots.length * 2] = this.fds[slot]!
      w[slots.length * 2 + 1] = POLL_READ
      slots.push(slot)
    })
    c.poll(this.pollfds, count, 0)
    for (let i = 0; i < count; i++) {
      const slot = slots[i]!
      const revents = w[i * 2 + 1]! >>> 16
      if (revents !== 0) {
        // The server's FIN (a read of 0: an orderly close) or anything else (an RST, bytes nobody asked for).
        const r = recvC(this.fds[slot]!, this.scratch, 1, 0)
        this.release(slot, r !== 0)
      } else if (now >= this.deadlines[slot]!) this.release(slot, false)
    }
  }

  /** Closes the slot's socket (abortive: an RST, no TIME_WAIT) and frees the slot. */
  private release(slot: number, abortive: boolean): void {
    this.close(slot, abortive)
    this.forget(slot)
  }

  private close(slot: number, abortive: boolean): void {
    const fd = this.fds[slot]!
    if (fd < 0) return
    if (abortive) this.abort(fd)
    else c.close(fd)
    this.fds[slot] = -1
    this.emitted++
  }

  private forget(slot: number): void {
    if (this.phase[slot] === PHASE_IDLE) this.idle.delete(keyAddress(this.keys[slot]!), this.keys[slot]! % 65536)
    else this.unlist(slot)
    this.phase[slot] = PHASE_FREE
    this.requests[slot] = null
    this.free.push(slot)
  }

  /** Removes the slot from `live` (its place taken by the last element). */
  private unlist(slot: number): void {
    const i = this.live.indexOf(slot)
    const last = this.live.pop()!
    if (i >= 0 && i < this.live.length) this.live[i] = last
  }

  private abort(fd: number): void {
    c.setsockopt(fd, c.SOL_SOCKET, SO_LINGER, this.linger, 8)
    c.close(fd)
  }

  private pollBuffer(count: number): Int32Array {
    if (this.pollWords.length < count * 2) {
      this.pollfds = Buffer.alloc(Math.max(64, count * 2) * c.POLLFD_SIZE)
      this.pollWords = new Int32Array(this.pollfds.buffer, this.pollfds.byteOffset, this.pollfds.length >> 2)
    }
    return this.pollWords
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
    this.flags = grow(this.flags, (n) => new Uint8Array(n))
    this.keys = grow(this.keys, (n) => new Float64Array(n))
    this.started = grow(this.started, (n) => new Float64Array(n))
    this.deadlines = grow(this.deadlines, (n) => new Float64Array(n))
    this.opened = grow(this.opened, (n) => new Float64Array(n))
    this.keepMs = grow(this.keepMs, (n) => new Float64Array(n))
    this.sent = grow(this.sent, (n) => new Int32Array(n))
    this.requests.length = size
    this.answers.length = size
  }
}

/**
 * The request an HTTP probe sends: HTTP/1.1, persistent when `keepAlive` (the
 * connection carries the backend's next probe), else `Connection: close`.
 */
export function httpProbeRequest(path: string, host: string, keepAlive = false): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: nvlb-health\r\nAccept: */*\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`
}
