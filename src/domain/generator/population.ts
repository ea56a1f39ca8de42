/**
 * The patient population of a seed: who has an appointment on a given day, derived for that day
 * alone (no day depends on an earlier one).
 *
 * A scale of A appointments a day has a population of about {@link SLOTS_PER_APPOINTMENT} × A slots.
 * Each slot belongs to a visit class (chronic patients come every few days, most patients a few times
 * a year or less: a heavy tail, as in the public data where 44% of six weeks' appointments are by a
 * patient already seen in them). A slot is held by successive patients, one per tenure (they move
 * away and someone new registers): patient_id = tenure × 10^9 + slot.
 *
 * Every day, class c gets a fixed share A_c of the day's appointment indexes (which ones, a keyed
 * permutation of the day decides), and its j-th appointment goes to a position drawn from (seed, day,
 * class, j) inside the j-th of A_c equal strata of the class's N_c positions: each slot of the class
 * has an appointment that day with probability A_c / N_c, independently of other days, and no slot
 * twice a day. Positions map to slots through a fixed bijection of the whole population, so neither
 * an appointment's index nor a patient's slot says which class it belongs to. Both permutations are
 * the same cheap integer bijection ({@link permute}).
 */
import { fmix32, hash32 } from './prng.js';

/** Patient ids are `tenure * PATIENT_ID_STRIDE + slot`; slots stay below it (population ≤ 81 × 10^7). */
export const PATIENT_ID_STRIDE = 1_000_000_000;

/**
 * Visit classes: share of the population, chance of an appointment on a given day, and the scale of the hidden part
 * of a patient's no-show propensity (patients.ts; a logistic on the log-odds, 0 = none). Tuned with
 * bench/population.ts against the public data (repeat visits, no-show concentration) and, for the hidden part, with
 * bench/hidden-propensity.py: only the chronic patients' attendance has a hidden part. They come every second
 * weekday, so their fifteen or so visits in six weeks reveal it; a hidden part of a patient seen once or twice in the
 * window is noise no model can learn, and with one for every patient (scale 0.62) the best possible model stayed
 * 0.08 AUC below the true probabilities'.
 */
export const VISIT_CLASSES: ReadonlyArray<{
  readonly share: number;
  readonly rate: number;
  readonly hiddenScale: number;
}> = [
  { share: 0.007, rate: 1 / 2, hiddenScale: 1.3 }, // chronic: dialysis, physiotherapy, treatment series
  { share: 0.08, rate: 1 / 20, hiddenScale: 0 }, // frequent: about monthly
  { share: 0.3, rate: 1 / 90, hiddenScale: 0 }, // occasional: a few times a year
  { share: 0.613, rate: 1 / 400, hiddenScale: 0 }, // rare
];

/** Where an appointment of the day goes: filled by {@link slotForAppointment}. */
export interface Placement {
  /** Index into VISIT_CLASSES of the slot's class. */
  visitClass: number;
}

const MEAN_RATE = VISIT_CLASSES.reduce((s, c) => s + c.share * c.rate, 0);
/** Each visit class's share of all appointments (its patients' share times their daily rate, normalized). */
export const VISIT_CLASS_APPOINTMENT_SHARE: readonly number[] = VISIT_CLASSES.map(
  (c) => (c.share * c.rate) / MEAN_RATE,
);
/** Population slots per daily appointment (about 81). */
export const SLOTS_PER_APPOINTMENT = 1 / MEAN_RATE;

/** Shortest and longest tenure of a patient in a slot, in days (1 to 6 years). */
const MIN_TENURE_DAYS = 365;
const TENURE_SPAN_DAYS = 5 * 365;

/** A domain [0, n) of {@link permute}: the power of two above it, as a mask, and the shift of its rounds. */
export interface Domain {
  readonly n: number;
  readonly mask: number;
  readonly shift: number;
}

function domain(n: number): Domain {
  let bits = 1;
  while (2 ** bits < n) bits++;
  return { n, mask: 2 ** bits - 1, shift: (bits >>> 1) + 1 };
}

/**
 * A keyed bijection of [0, d.n): two rounds of xor or add a key, multiply by an odd constant and
 * xor-shift (each invertible modulo the power of two above n), walked until the value lands below n
 * (at most two rounds on average). Int32 arithmetic only.
 */
export function permute(d: Domain, k1: number, k2: number, x: number): number {
  const { n, mask, shift } = d;
  do {
    x = Math.imul((x ^ k1) & mask, 0x2c1b3c6d) & mask;
    x ^= x >>> shift;
    x = Math.imul((x + k2) & mask, 0x297a2d39) & mask;
    x ^= x >>> shift;
  } while (x >= n);
  return x;
}

/** The population of a scale: class sizes and their daily appointments (both summed over classes). */
export interface Population {
  /** All slots, and the fixed keys of the position-to-slot bijection. */
  readonly all: Domain;
  readonly k1: number;
  readonly k2: number;
  /** Per class: its first position, its positions, its appointments a day. */
  readonly start: readonly number[];
  readonly slots: readonly number[];
  readonly daily: readonly number[];
  /** Stream tag of the seed's tenures. */
  readonly tenureTag: number;
}

const INV_2_32 = 1 / 4294967296;
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
  return {
    all: domain(size),
    k1: hash32(POPULATION_TAG, seed, 1) | 0,
    k2: hash32(POPULATION_TAG, seed, 2) | 0,
    start,
    slots,
    daily,
    tenureTag: hash32(TENURE_TAG, seed) | 0,
  };
}

/** Which slots have appointments on one day: the keys of the day's permutations. */
export interface DayPlan {
  readonly pop: Population;
  /** The day's appointment indexes as a domain, and the keys of their permutation. */
  readonly indexes: Domain;
  readonly k1: number;
  readonly k2: number;
  /** Per class: the first day position of the class (and the end, last), the key of its day, and N_c / A_c. */
  readonly from: Int32Array;
  readonly keys: Int32Array;
  readonly perStratum: Float64Array;
}

/** The plan of `day`. */
export function planDay(pop: Population, seed: number, day: number, appointments: number): DayPlan {
  const classes = pop.slots.length;
  const from = new Int32Array(classes + 1);
  const keys = new Int32Array(classes);
  const perStratum = new Float64Array(classes);
  for (let c = 0; c < classes; c++) {
    const daily = pop.daily[c] as number;
    from[c + 1] = (from[c] as number) + daily;
    keys[c] = hash32(DAY_TAG, seed, day, c + 1);
    perStratum[c] = daily > 0 ? (pop.slots[c] as number) / daily : 0;
  }
  return {
    pop,
    indexes: domain(appointments),
    k1: hash32(DAY_TAG, seed, day, 0x7ffffffe) | 0,
    k2: hash32(DAY_TAG, seed, day, 0x7fffffff) | 0,
    from,
    keys,
    perStratum,
  };
}

/** The population slot with appointment `index` on the plan's day; its visit class goes to `placement`. */
export function slotForAppointment(plan: DayPlan, index: number, placement: Placement): number {
  const pos = permute(plan.indexes, plan.k1, plan.k2, index);
  const from = plan.from;
  // The class (VISIT_CLASSES has four): branch-free, as the classes of consecutive appointments are random.
  const c = +(pos >= (from[1] as number)) + +(pos >= (from[2] as number)) + +(pos >= (from[3] as number));
  placement.visitClass = c;
  const pop = plan.pop;
  // The class's j-th appointment of the day goes to a position of the j-th of A_c equal strata of the
  // class's N_c positions, drawn from (seed, day, class, j): distinct strata, so no position twice a day;
  // each position has an appointment with probability A_c / N_c, independently of other days.
  const j = pos - (from[c] as number);
  const n = pop.slots[c] as number;
  const perStratum = plan.perStratum[c] as number;
  const lo = Math.floor(j * perStratum);
  const width = Math.floor((j + 1) * perStratum) - lo;
  const u = (fmix32((plan.keys[c] as number) ^ Math.imul(j, 0x9e3779b1)) >>> 0) * INV_2_32;
  const x = lo + Math.floor(u * width);
  return permute(pop.all, pop.k1, pop.k2, (pop.start[c] as number) + (x < n ? x : n - 1));
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
  const h = fmix32(pop.tenureTag ^ Math.imul(slot, 0x9e3779b1));
  const length = MIN_TENURE_DAYS + (((h >>> 16) * TENURE_SPAN_DAYS) >>> 16);
  const phase = ((h & 0xffff) * length) >>> 16;
  const tenure = ((day + phase) / length) | 0;
  out.tenure = tenure;
  const start = tenure * length - phase;
  out.registeredOn = Math.max(0, start);
  out.middle = start + (length >>> 1);
  return out;
}
