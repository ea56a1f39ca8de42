/**
 * Seeded randomness for the generator: a hash to derive independent streams and a small, fast PRNG.
 *
 * Every value the generator writes comes from a stream keyed by what it describes (seed + appointment,
 * seed + patient id, seed + doctor slot …), never from a shared sequential stream, so any shard can be
 * generated alone and the same key always yields the same values.
 */

/**
 * murmur3's 32-bit finaliser: a cheap bijective mixer with full avalanche. Returns the 32 bits as a
 * signed int32: V8 keeps those as small integers, while a uint32 above 2^31 returned from a call
 * that is not inlined is boxed in a fresh heap number (40 bytes of garbage per appointment, when
 * this returned uint32). Use `>>> 0` where the unsigned value matters.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Hashes up to four 32-bit words (and a purpose tag) into one 32-bit value. Order matters. */
export function hash32(tag: number, a: number, b = 0, c = 0): number {
  let h = fmix32(tag ^ 0x9e3779b9);
  h = fmix32(h ^ a);
  h = fmix32((h + Math.imul(b, 0x27d4eb2f)) | 0);
  h = fmix32(h ^ Math.imul(c, 0x165667b1));
  return h >>> 0;
}

const INV_2_32 = 1 / 4294967296;

/**
 * The hashed word of the stream key (tag, x, y), as an int32 (see {@link fmix32}). {@link Rng.reseed} starts from it, and values that
 * need only a few random bits per item (a patient's gender and age) take them from it directly, which
 * costs two mixes instead of a re-seed.
 */
export function keyHash(tag: number, x: number, y: number): number {
  return fmix32(fmix32(tag ^ Math.imul(x, 0x9e3779b1)) ^ Math.imul(y, 0x85ebca77));
}

/** Outputs the generator computes at a time; at least the most any caller claims at once (an appointment's 10). */
const BLOCK = 12;

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
  // The state words always hold int32 values (`| 0`): V8 then keeps them as small integers in the
  // object. A uint32 above 2^31 stored once would turn the fields into boxed doubles, which made
  // every draw about twice as slow.
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 1;
  /**
   * Buffered outputs, already scaled to [0, 1): `draws[used..BLOCK)` are the next ones. Generating
   * them in one tight loop and handing them out by index keeps the row code free of calls (V8 stops
   * inlining in large functions, and a call per draw cost more than the draw). Buffering does not
   * change the sequence.
   */
  readonly draws = new Float64Array(BLOCK);
  private used = BLOCK;

  /** Re-seeds for the stream (tag, x, y): tag names the purpose (seed + what), x and y identify the item. */
  reseed(tag: number, x: number, y: number): this {
    const h = keyHash(tag, x, y);
    let a = h;
    let b = x | 0;
    let c = y | 0;
    let d = fmix32(h ^ 0x5bd1e995);
    // Five rounds diffuse the hashed words into the raw ones (the same steps as generate, on locals);
    // the realism tests check that neighbouring rows show the intended statistics and no visible correlation.
    for (let k = 0; k < 5; k++) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (((c << 21) | (c >>> 11)) + t) | 0;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    this.refill();
    return this;
  }

  /** Computes the next BLOCK outputs into `draws`. */
  private refill(): void {
    this.generate(0);
    this.used = 0;
  }

  /** Moves the unused draws to the front of `draws` and fills the rest with new outputs. */
  private compact(): void {
    const left = BLOCK - this.used;
    this.draws.copyWithin(0, this.used);
    this.generate(left);
    this.used = 0;
  }

  /** Writes the generator's next outputs into draws[from..BLOCK). */
  private generate(from: number): void {
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    const draws = this.draws;
    for (let k = from; k < BLOCK; k++) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (((c << 21) | (c >>> 11)) + t) | 0;
      draws[k] = (t >>> 0) * INV_2_32;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  /**
   * Takes the next `n` draws (n <= BLOCK) and returns the index in {@link draws} where they lie,
   * consecutively: hot code reads `draws[k]`, `draws[k + 1]` … instead of calling {@link next}.
   */
  claim(n: number): number {
    if (this.used + n > BLOCK) this.compact();
    const k = this.used;
    this.used = k + n;
    return k;
  }

  /** Uniform in [0, 1): the next 32-bit output / 2^32. */
  next(): number {
    if (this.used === BLOCK) this.refill();
    return this.draws[this.used++] as number;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return (this.next() * n) | 0;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
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
