/**
 * The patient population of a seed: who has an appointment on a given day, derived for that day
 * alone (no day depends on an earlier one).
 *
 * A scale of A appointments a day has a population of about {@link SLOTS_PER_APPOINTMENT} × A slots.
 * Each slot belongs to a visit class (chronic patients come about weekly, most patients a few times
 * a year or less: a heavy tail, as in the public data where 44% of six weeks' appointments are by a
 * patient already seen in them). A slot is held by successive patients, one per tenure (they move
 * away and someone new registers): patient_id = tenure × 10^9 + slot.
 *
 * Every day, class c gets a fixed share A_c of the day's appointment indexes, and the j-th of them
 * goes to the class's position Q(j), where Q is an affine permutation of the class drawn from
 * (seed, day, class): each slot of the class has an appointment that day with probability A_c / N_c,
 * no slot twice a day. Positions map to slots through a fixed bijection of the whole population, so
 * neither an appointment's index nor a patient's slot says which class it belongs to.
 */
import { fmix32, hash32 } from './prng.js';

/** Patient ids are `tenure * PATIENT_ID_STRIDE + slot`; slots stay below it (population ≤ 78 × 10^7). */
export const PATIENT_ID_STRIDE = 1_000_000_000;

/**
 * Visit classes: share of the population and chance of an appointment on a given day. Tuned with
 * bench/population.ts against the public data (repeat visits, no-show concentration).
 */
export const VISIT_CLASSES: ReadonlyArray<{ readonly share: number; readonly rate: number }> = [
  { share: 0.02, rate: 1 / 5 }, // chronic: about weekly
  { share: 0.08, rate: 1 / 20 }, // frequent: about monthly
  { share: 0.3, rate: 1 / 90 }, // occasional: a few times a year
  { share: 0.6, rate: 1 / 400 }, // rare
];

const MEAN_RATE = VISIT_CLASSES.reduce((s, c) => s + c.share * c.rate, 0);
/** Population slots per daily appointment (about 78). */
export const SLOTS_PER_APPOINTMENT = 1 / MEAN_RATE;

/** Shortest and longest tenure of a patient in a slot, in days (1 to 6 years). */
const MIN_TENURE_DAYS = 365;
const TENURE_SPAN_DAYS = 5 * 365;

/** The population of a scale: class sizes and their daily appointments (both summed over classes). */
export interface Population {
  readonly size: number;
  /** Per class: first position, positions, appointments a day. */
  readonly start: readonly number[];
  readonly slots: readonly number[];
  readonly daily: readonly number[];
  /** The population bijection: bits, mask and keys (see {@link slotOf}). */
  readonly bits: number;
  readonly mask: number;
  readonly k1: number;
  readonly k2: number;
  /** Stream tag of the seed's tenures. */
  readonly tenureTag: number;
}

const POPULATION_TAG = 0x706f7075;
const DAY_TAG = 0x64617973;
const TENURE_TAG = 0x74656e75;

/** Sizes the population of `appointments` a day for `seed`. */
export function buildPopulation(seed: number, appointments: number): Population {
  const weights = VISIT_CLASSES.map((c) => c.share * c.rate);
  const daily = weights.map((w) => Math.floor((appointments * w) / MEAN_RATE));
  daily[daily.length - 1] = appointments - daily.slice(0, -1).reduce((a, b) => a + b, 0);
  const slots = VISIT_CLASSES.map((c, k) =>
    Math.max(daily[k] as number, 1, Math.round((appointments * c.share) / MEAN_RATE)),
  );
  const start: number[] = [];
  let size = 0;
  for (const n of slots) {
    start.push(size);
    size += n;
  }
  let bits = 1;
  while (2 ** bits < size) bits++;
  return {
    size,
    start,
    slots,
    daily,
    bits,
    mask: 2 ** bits - 1,
    k1: hash32(POPULATION_TAG, seed, 1) | 0,
    k2: hash32(POPULATION_TAG, seed, 2) | 0,
    tenureTag: hash32(TENURE_TAG, seed) | 0,
  };
}

/**
 * The slot at population position `x`: a keyed bijection of [0, 2^bits) (xor, odd multiplications
 * and xor-shifts, each invertible modulo 2^bits), walked until it lands below the population size.
 */
export function slotOf(pop: Population, x: number): number {
  const { mask, k1, k2, size } = pop;
  const shift = (pop.bits >>> 1) + 1;
  do {
    x = Math.imul((x ^ k1) & mask, 0x2c1b3c6d) & mask;
    x ^= x >>> shift;
    x = Math.imul((x + k2) & mask, 0x297a2d39) & mask;
    x ^= x >>> shift;
  } while (x >= size);
  return x;
}

/** Which slots have appointments on one day: affine permutations of the day's indexes and of each class. */
export interface DayPlan {
  readonly pop: Population;
  /** Appointment index i goes to the day position (alpha * i + beta) mod appointments. */
  readonly alpha: number;
  readonly beta: number;
  /** Per class: the first day position of the class, and its permutation j -> (a * j + b) mod slots. */
  readonly from: Float64Array;
  readonly a: Float64Array;
  readonly b: Float64Array;
}

const gcd = (x: number, y: number): number => {
  while (y !== 0) [x, y] = [y, x % y];
  return x;
};

/** A multiplier coprime to n in [1, n), from a hash. */
function coprime(n: number, h: number): number {
  if (n <= 1) return 1;
  let a = 1 + (h % (n - 1));
  while (gcd(a, n) !== 1) a = a + 1 < n ? a + 1 : 1;
  return a;
}

/** The plan of `day` (products stay below 2^53: appointments ≤ 10^7 and class slots ≤ 10^9). */
export function planDay(pop: Population, seed: number, day: number, appointments: number): DayPlan {
  const classes = pop.slots.length;
  const from = new Float64Array(classes + 1);
  const a = new Float64Array(classes);
  const b = new Float64Array(classes);
  for (let c = 0; c < classes; c++) {
    from[c + 1] = (from[c] as number) + (pop.daily[c] as number);
    const n = pop.slots[c] as number;
    a[c] = coprime(n, hash32(DAY_TAG, seed, day, 2 * c + 1));
    b[c] = hash32(DAY_TAG, seed, day, 2 * c + 2) % n;
  }
  return {
    pop,
    alpha: coprime(appointments, hash32(DAY_TAG, seed, day, 0)),
    beta: hash32(DAY_TAG, seed, day, 0x7fffffff) % appointments,
    from,
    a,
    b,
  };
}

/** The population slot with appointment `index` on the plan's day. */
export function slotForAppointment(plan: DayPlan, index: number, appointments: number): number {
  const pos = (plan.alpha * index + plan.beta) % appointments;
  const from = plan.from;
  let c = 0;
  while (pos >= (from[c + 1] as number)) c++;
  const pop = plan.pop;
  const n = pop.slots[c] as number;
  const j = pos - (from[c] as number);
  return slotOf(pop, (pop.start[c] as number) + (((plan.a[c] as number) * j + (plan.b[c] as number)) % n));
}

/** A slot's tenure on `day`, the day it began (clamped to day 0) and its middle day. */
export interface Tenure {
  tenure: number;
  registeredOn: number;
  /** The middle of the tenure: patients are drawn from the age pyramid at that day, so ages on any day follow it. */
  middle: number;
}

/**
 * Tenures of a slot last 1 to 6 years (from the slot's hash) at a fixed phase, so the tenure of any
 * day is a division away.
 */
export function tenureOn(pop: Population, slot: number, day: number, out: Tenure): Tenure {
  const h = fmix32(pop.tenureTag ^ Math.imul(slot, 0x9e3779b1)) >>> 0;
  const length = MIN_TENURE_DAYS + (h % TENURE_SPAN_DAYS);
  const phase = (h >>> 11) % length;
  const tenure = Math.floor((day + phase) / length);
  out.tenure = tenure;
  const start = tenure * length - phase;
  out.registeredOn = Math.max(0, start);
  out.middle = start + (length >>> 1);
  return out;
}
