/**
 * A 32-bit hash read as unsigned, modulo `size` (1 … 2^31): the slot a flow's hash picks in a
 * Maglev table, a start among NAT ports, the packet worker that owns a frame. `(hash >>> 0) % size`
 * gives the same number, but V8 compiles a modulo of a value that may exceed int32 to the x87
 * remainder loop (fprem), several times slower than a division: for x < 2^32 the quotient
 * x / size, correctly rounded, never crosses an integer, so its floor is exact, and so is
 * x − floor(x / size) · size.
 */
export function hashMod(hash: number, size: number): number {
  const x = hash >>> 0
  return x - Math.floor(x / size) * size
}
