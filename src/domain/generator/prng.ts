/**
 * Seeded randomness for the generator: a hash to derive independent streams and a small, fast PRNG.
 *
 * Every value the generator writes comes from a stream keyed by what it describes (seed + appointment,
 * seed + patient id, seed + doctor slot …), never from a shared sequential stream, so any shard can be
 * generated alone and the same key always yields the same values.
 */

/** murmur3's 32-bit finaliser: a cheap bijective mixer with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes up to four 32-bit words (and a purpose tag) into one 32-bit value. Order matters. */
export function hash32(tag: number, a: number, b = 0, c = 0): number {
  let h = fmix32((tag ^ 0x9e3779b9) >>> 0);
  h = fmix32((h ^ a) >>> 0);
  h = fmix32((h + Math.imul(b, 0x27d4eb2f)) >>> 0);
  h = fmix32((h ^ Math.imul(c, 0x165667b1)) >>> 0);
  return h;
}

const INV_2_32 = 1 / 4294967296;

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, 128-bit state), re-seedable in place so
 * the hot loop reuses one object instead of allocating a generator per row.
 *
 * Seeding uses two raw words (the caller passes an injective key such as day and row index, so
 * different keys never share an initial state) and two hashed words, then discards a few outputs
 * to decorrelate neighbouring keys. A 32-bit-seeded generator would give birthday collisions
 * (identical rows) among a million appointments; the 128-bit state avoids that.
 */
export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 1;

  /** Re-seeds for the stream (tag, x, y): tag names the purpose (seed + what), x and y identify the item. */
  reseed(tag: number, x: number, y: number): this {
    const h = fmix32((fmix32((tag ^ Math.imul(x, 0x9e3779b1)) >>> 0) ^ Math.imul(y, 0x85ebca77)) >>> 0);
    this.a = h;
    this.b = x | 0;
    this.c = y | 0;
    this.d = fmix32((h ^ 0x5bd1e995) >>> 0);
    // Five rounds diffuse the hashed words into the raw ones; the realism tests check that
    // neighbouring rows show the intended statistics and no visible correlation.
    for (let k = 0; k < 5; k++) this.nextU32();
    return this;
  }

  /** Next unsigned 32-bit value. */
  nextU32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.c = (r + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() * INV_2_32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return (this.nextU32() * INV_2_32 * n) | 0;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.nextU32() * INV_2_32 < p;
  }

  /** Approximately standard normal (Irwin-Hall with 4 uniforms, rescaled): cheap and bounded to ±3.46. */
  normal(): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * 1.7320508075688772;
  }
}

/** Tags separating the generator's streams, so e.g. a patient and an appointment with equal numbers differ. */
export const STREAM = {
  appointment: 0x61707074,
  patient: 0x70617469,
  clinic: 0x636c696e,
  doctorSlot: 0x646f6373,
  doctor: 0x646f6374,
} as const;

/** Combines the run seed with a stream tag. */
export function streamTag(seed: number, stream: number): number {
  return hash32(stream, seed >>> 0);
}
