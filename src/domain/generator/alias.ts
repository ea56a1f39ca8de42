/**
 * Walker/Vose alias tables: O(1) sampling from a fixed discrete distribution with one random number,
 * which keeps weighted picks (neighbourhoods, ages, doctors) out of the generator's cost profile.
 */
import type { Rng } from './prng.js';

export class AliasTable {
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;
  readonly size: number;

  /** Builds the table for non-negative `weights` (at least one positive). */
  constructor(weights: readonly number[]) {
    const n = weights.length;
    const total = weights.reduce((a, b) => a + b, 0);
    if (n === 0 || !(total > 0)) throw new Error('AliasTable needs at least one positive weight');
    this.size = n;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = weights.map((w) => (w * n) / total);
    const small: number[] = [];
    const large: number[] = [];
    scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
    while (small.length > 0 && large.length > 0) {
      const s = small.pop() as number;
      const l = large.pop() as number;
      this.prob[s] = scaled[s] as number;
      this.alias[s] = l;
      scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
      (scaled[l] < 1 ? small : large).push(l);
    }
    for (const i of [...small, ...large]) {
      this.prob[i] = 1;
      this.alias[i] = i;
    }
  }

  /** Draws an index with probability proportional to its weight. */
  pick(rng: Rng): number {
    return this.at(rng.next());
  }

  /** The index for a uniform `u` in [0, 1): what {@link pick} returns when its draw is `u`. */
  at(u: number): number {
    const x = u * this.size;
    const i = x | 0;
    return x - i < (this.prob[i] as number) ? i : (this.alias[i] as number);
  }
}
