import { AfPacketPort, openPacketSocket, type AfPacketPortOptions } from './af-packet-socket'
import * as c from './libc'
import { PacketRingPort } from './packet-ring'

export interface OpenedFramePort {
  port: AfPacketPort | PacketRingPort
  /** Why the port reads with recvmmsg/sendmmsg instead of rings (undefined: rings). */
  ringFallback?: string
}

/**
 * A FramePort that owns its socket: on memory-mapped rings where the kernel
 * allows them (packet-ring.ts), on recvmmsg/sendmmsg otherwise. For one
 * thread's own ports (the host emulator); packet workers get sockets the main
 * thread opened (worker-pool.ts).
 */
export function openFramePort(options: Omit<AfPacketPortOptions, 'socket' | 'rings'>): OpenedFramePort {
  const socket = openPacketSocket({ ...options, rings: { slotSize: options.slotSize }, qdiscBypass: options.qdiscBypass ?? true })
  if (socket.ring !== null) {
    try {
      const port = new PacketRingPort({
        interfaceName: options.interfaceName,
        fd: socket.fd,
        layout: socket.ring,
        batchSize: options.batchSize,
        counters: options.counters,
        ownsSocket: true,
      })
      return { port }
    } catch (error) {
      c.close(socket.fd)
      return { port: new AfPacketPort({ ...options, rings: false }), ringFallback: (error as Error).message }
    }
  }
  c.close(socket.fd)
  return { port: new AfPacketPort({ ...options, rings: false }), ringFallback: socket.ringFallback }
}
