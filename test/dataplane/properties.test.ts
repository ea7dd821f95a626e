/**
 * Properties (fast-check): no frame, however malformed, makes the engine
 * throw or emit traffic into a tenant other than the one the frame belongs
 * to; a NAT round trip restores the client's view of the connection.
 */
import t from 'tap'
import fc from 'fast-check'
import { parseFrame, type ParsedFrame } from '../../lib/packet/frame'
import { HEADROOM, Verdict } from '../../lib/dataplane/engine'
import { Harness, fromAppTier, fromClient, replyTo } from '../helpers/engine-harness'

const DOMAIN_OF_VSID: Record<number, string> = { 5001: 'blue', 5002: 'blue', 6001: 'red', 6002: 'red' }
const DOMAIN_OF_PUBLIC_VIP: Record<string, string> = { '203.0.113.10': 'blue', '203.0.113.20': 'red' }
const LOOKUP = new Set(['5001/10.1.6.20', '5001/10.1.6.21', '5001/10.1.6.22', '5001/10.1.6.23', '5002/10.1.5.20', '6001/10.1.6.21', '6001/10.1.6.22', '6002/10.1.5.20'])

/** The tenant a frame belongs to, as far as it can be told from the frame. */
function tenantOf(f: ParsedFrame | null): string | undefined {
  if (f === null) return undefined
  if (f.gre !== null) return DOMAIN_OF_VSID[f.gre.vsid]
  if (f.ipv4 !== null) return DOMAIN_OF_PUBLIC_VIP[f.ipv4.dst]
  return undefined
}

function base(h: Harness): Buffer[] {
  const client = fromClient({ sport: 61000 })
  const vm = fromAppTier({ vsid: 5002, sport: 62000 })
  const redVm = fromAppTier({ vsid: 6002, sport: 62001, vmMac: '00:15:5d:02:05:20' })
  const frames = [client, vm, redVm, fromClient({ sport: 61001, vip: '203.0.113.20' })]
  for (const f of [client, vm, redVm]) {
    const r = h.send(f)
    if (r.out.length > 0) frames.push(replyTo(r.out[0]!.frame, { vsid: parseFrame(f)!.gre?.vsid }))
  }
  return frames
}

t.test('malformed frames never throw and never cross tenants', async (t) => {
  const h = new Harness()
  const seeds = base(h)
  let crossings = 0
  let sent = 0
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.integer({ min: 0, max: 200 }),
      (which, flips, cut) => {
        const frame = Buffer.from(seeds[which]!)
        for (const [at, value] of flips) frame[at % frame.length] = value
        const input = frame.subarray(0, Math.max(0, frame.length - cut))
        const owner = tenantOf(parseFrame(input))
        const r = h.send(input)
        sent++
        for (const o of r.out) {
          const f = parseFrame(o.frame)
          if (f === null || f.gre === null) continue
          const key = `${f.gre.vsid}/${f.inner?.ipv4?.dst ?? ''}`
          if (f.inner?.ipv4 !== null && f.inner?.ipv4 !== undefined && !LOOKUP.has(key)) crossings++
          if (owner !== undefined && DOMAIN_OF_VSID[f.gre.vsid] !== owner) crossings++
        }
        return true
      },
    ),
    { numRuns: 3000, seed: 42 },
  )
  t.equal(crossings, 0, `no output into another tenant or to an unknown CA (${sent} frames)`)
})

t.test('random bytes never throw, at any offset and length', async (t) => {
  const h = new Harness()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 80 }), (bytes, off) => {
      const buf = Buffer.alloc(off + bytes.length + HEADROOM)
      buf.set(bytes, off + HEADROOM)
      const v = h.engine.process(buf, off + HEADROOM, bytes.length)
      h.engine.extra.clear()
      return v === Verdict.DROP || v === Verdict.TX || v === Verdict.CONSUMED
    }),
    { numRuns: 5000, seed: 7 },
  )
  t.pass('no exception')
})

t.test("a NAT round trip restores the client's view", async (t) => {
  const h = new Harness()
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 254 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.constantFrom('203.0.113.10', '203.0.113.20'),
      fc.string({ maxLength: 40 }),
      (host, sport, vip, payload) => {
        const client = `198.51.100.${host}`
        const sent = h.send(fromClient({ client, sport, vip, flags: ['ack', 'psh'], payload }))
        if (sent.verdict !== Verdict.TX) return false
        const back = h.send(replyTo(sent.out[0]!.frame, { flags: ['ack', 'psh'], payload }))
        if (back.verdict !== Verdict.TX) return false
        const f = parseFrame(back.out[0]!.frame)!
        return f.ipv4!.src === vip && f.ipv4!.dst === client && f.tcp!.srcPort === 80 && f.tcp!.dstPort === sport && f.tcp!.checksumValid === true && f.ipv4!.checksumValid && f.payload.toString() === Buffer.from(payload).toString()
      },
    ),
    { numRuns: 300, seed: 3 },
  )
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(5002, 6002), (sport, vsid) => {
      const sent = h.send(fromAppTier({ vsid, sport, vmMac: vsid === 5002 ? '00:15:5d:01:05:20' : '00:15:5d:02:05:20' }))
      if (sent.verdict !== Verdict.TX) return false
      const back = h.send(replyTo(sent.out[0]!.frame, { vsid }))
      const f = parseFrame(back.out[0]!.frame)!
      return f.gre!.vsid === vsid && f.inner!.ipv4!.src === '10.1.5.100' && f.inner!.ipv4!.dst === '10.1.5.20' && f.inner!.tcp!.srcPort === 80 && f.inner!.tcp!.dstPort === sport && f.inner!.tcp!.checksumValid === true
    }),
    { numRuns: 300, seed: 4 },
  )
  t.pass('round trips restore addresses, ports and checksums')
})

t.test('prefetch() changes no verdict and no output byte', async (t) => {
  const plain = new Harness()
  const prefetched = new Harness()
  const seeds = base(plain)
  base(prefetched)
  const SLOT = 2048
  let compared = 0
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 64 }),
      (batch) => {
        const frames = batch.map(([which, at, value, mutate]) => {
          const f = Buffer.from(seeds[which]!)
          if (mutate) f[at % f.length] = value
          return f
        })
        const a = Buffer.alloc(frames.length * SLOT)
        const b = Buffer.alloc(frames.length * SLOT)
        const offsets = new Int32Array(frames.length)
        const lengths = new Int32Array(frames.length)
        frames.forEach((f, i) => {
          offsets[i] = i * SLOT + HEADROOM
          lengths[i] = f.length
          f.copy(a, offsets[i]!)
          f.copy(b, offsets[i]!)
        })
        prefetched.engine.prefetch(b, offsets, lengths, frames.length)
        for (let i = 0; i < frames.length; i++) {
          const va = plain.engine.process(a, offsets[i]!, lengths[i]!)
          const oa = plain.engine.outOffset
          const la = plain.engine.outLength
          const vb = prefetched.engine.process(b, offsets[i]!, lengths[i]!)
          if (va !== vb) return false
          if (va === Verdict.TX && (oa !== prefetched.engine.outOffset || !a.subarray(oa, oa + la).equals(b.subarray(oa, oa + la)))) return false
          compared++
        }
        plain.engine.extra.clear()
        prefetched.engine.extra.clear()
        return true
      },
    ),
    { numRuns: 300, seed: 11 },
  )
  t.ok(compared > 1000, `${compared} frames compared`)
  t.same(prefetched.engine.statsReport().drops, plain.engine.statsReport().drops, 'same drops by reason')
})
