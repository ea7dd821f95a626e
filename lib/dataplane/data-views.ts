/**
 * DataViews of the last two buffers the packet path rewrote (a port's receive
 * buffer and the transmit queue), so 16- and 32-bit big-endian stores need no
 * new view per packet.
 */
export class DataViews {
  private bufferA: Uint8Array | null = null
  private viewA: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))
  private bufferB: Uint8Array | null = null
  private viewB: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))

  of(buf: Uint8Array): DataView<ArrayBufferLike> {
    if (buf === this.bufferA) return this.viewA
    if (buf === this.bufferB) return this.viewB
    this.bufferB = this.bufferA
    this.viewB = this.viewA
    this.bufferA = buf
    this.viewA = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    return this.viewA
  }
}
