/**
 * Patients as a pure function of (seed, patient_id). patient_id = tenure * 10^9 + slot (see
 * population.ts): a returning patient gets the same attributes every day they appear, whichever day
 * is generated first.
 */
import { AliasTable } from './alias.js';
import {
  AGE_BAND_WEIGHTS,
  DIABETES_BY_DECADE,
  HANDICAP_WEIGHTS,
  HYPERTENSION_BY_DECADE,
  VITORIA_NEIGHBOURHOODS,
} from './catalog.js';
import { csvField } from './csv.js';
import { PATIENT_NAME_PARTS } from './pools.js';
import { fmix32, keyHash } from './prng.js';
import { VISIT_CLASS_APPOINTMENT_SHARE, VISIT_CLASSES, type Tenure } from './population.js';

/** Appointment ids encode `day * ID_DAY_STRIDE + index`; indexes run below the scale, at most 10^7 (parseScale's limit). */
export const ID_DAY_STRIDE = 10_000_000;

const ageBands = new AliasTable(AGE_BAND_WEIGHTS);
const neighbourhoods = new AliasTable(VITORIA_NEIGHBOURHOODS.map(([, w]) => w));
const handicaps = new AliasTable(HANDICAP_WEIGHTS);
const DAYS_PER_BAND = 5 * 365.25;

/** CSV-encoded neighbourhood names, indexed like VITORIA_NEIGHBOURHOODS. */
export const NEIGHBOURHOOD_CSV: readonly string[] = VITORIA_NEIGHBOURHOODS.map(([n]) => csvField(n));

/** A patient's attributes as numbers and indexes (mutable so the hot loop reuses one object). */
export interface Patient {
  tenure: number;
  slot: number;
  registeredOn: number;
  female: boolean;
  /** Age in days on the registration day. */
  ageDaysAtRegistration: number;
  neighbourhood: number;
  /** Name parts: indexes into PATIENT_NAME_PARTS (first and middle by gender, two distinct family names). */
  first: number;
  middle: number;
  family1: number;
  family2: number;
  /**
   * The patient's stable no-show propensity as a log-odds offset, quantized to a level
   * 0..NO_SHOW_LEVELS-1 (offset = level / 8 - 8): part from visible attributes, part hidden (chronic patients).
   */
  noShowLevel: number;
  scholarship: boolean;
  hypertension: boolean;
  diabetes: boolean;
  alcoholism: boolean;
  handicap: number;
}

export function emptyPatient(): Patient {
  return {
    tenure: 0,
    slot: 0,
    registeredOn: 0,
    female: false,
    ageDaysAtRegistration: 0,
    neighbourhood: 0,
    first: 0,
    middle: 0,
    family1: 0,
    family2: 0,
    noShowLevel: 0,
    scholarship: false,
    hypertension: false,
    diabetes: false,
    alcoholism: false,
    handicap: 0,
  };
}

/** Quantized no-show offsets: levels 0..127 stand for log-odds offsets -8 .. +7.875 in steps of 1/8. */
export const NO_SHOW_LEVELS = 128;
const LEVELS_PER_UNIT = 8;
const LEVEL_ZERO = 64;

/** A stable log-odds effect per neighbourhood in [-0.35, 0.35] (fixed, like the neighbourhoods). */
const NEIGHBOURHOOD_EFFECT = Float64Array.from(
  VITORIA_NEIGHBOURHOODS,
  (_, n) => ((fmix32(n + 0x6e656967) >>> 0) / 4294967296 - 0.5) * 0.7,
);
/**
 * The hidden part of the propensity, per visit class: a logistic distribution (heavier tails than a normal, so a few
 * patients miss most of their appointments) with the class's `hiddenScale` (chronic patients: 1.3, sd 2.4; the other
 * classes none), by a 12-bit uniform. In no-show levels (eighths of a log-odds unit), rounded: 4 KiB a class, so the
 * lookup stays in L1.
 */
const HIDDEN_LEVELS: readonly Int8Array[] = VISIT_CLASSES.map(({ hiddenScale }) =>
  Int8Array.from({ length: 4096 }, (_, k) => {
    const u = (k + 0.5) / 4096;
    return Math.max(-127, Math.min(127, Math.round(hiddenScale * Math.log(u / (1 - u)) * LEVELS_PER_UNIT)));
  }),
);
/** The visible part's mean over patients (about 0.05), taken off so offsets centre on 0. */
const VISIBLE_MEAN = 0.05;

const PARTS = PATIENT_NAME_PARTS;
const FAMILIES = PARTS.family.length;

const FEMALE_BELOW = 0.65 * 4294967296; // the public data set is 65% women
const INV_2_16 = 1 / 65536;
const INV_2_32 = 1 / 4294967296;
const INV_2_8 = 1 / 256;
/** 16 random bits (the high or low half of a hashed word) as a uniform in [0, 1). */
const hi16 = (w: number) => (w >>> 16) * INV_2_16;
const lo16 = (w: number) => (w & 0xffff) * INV_2_16;

/**
 * Fills `out` with the patient of tenure `t` of `slot` (`tag` = the seed's patient stream). Patients
 * need few random bits, so instead of re-seeding a PRNG per patient they come from the key's hash
 * and a short chain of further mixes of it (about 2 ns each), mostly as 16-bit uniforms: enough for
 * the probabilities here (smallest ~7e-4, resolved within ~0.3%); the rare handicap levels (down to
 * 1e-4) get a full word. Each word mixes the slot in again, so two patients share attributes only if
 * their keys collide twice. Changing this derivation changes every generated patient: it is part of
 * the data format. `full` adds what only the patients file shows (handicap, name); the rest is
 * what an appointment's outcome needs.
 */
export function derivePatient(
  tag: number,
  t: Tenure,
  slot: number,
  visitClass: number,
  out: Patient,
  full: boolean,
): Patient {
  const tenure = t.tenure;
  const h = keyHash(tag, tenure, slot);
  const salt = Math.imul(slot, 0x27d4eb2f);
  const w2 = fmix32(h ^ 0x5bd1e995);
  out.tenure = tenure;
  out.slot = slot;
  const registeredOn = t.registeredOn;
  out.registeredOn = registeredOn;
  const female = h >>> 0 < FEMALE_BELOW;
  out.female = female;
  // The 5-year band, then the birthday inside it (~1 day resolution): the age in the middle of the
  // tenure, so the ages of any day's patients follow the pyramid. Newborns register at birth.
  const ageAtMiddle = Math.floor((ageBands.at(hi16(w2)) + lo16(w2)) * DAYS_PER_BAND);
  const ageDays = Math.max(0, registeredOn - (t.middle - ageAtMiddle));
  out.ageDaysAtRegistration = ageDays;

  const w3 = fmix32(w2 ^ salt ^ 0x68e31da4);
  const years = ageDays / 365.25;
  const decade = Math.min(9, (years / 10) | 0);
  const hypertension = hi16(w3) < (HYPERTENSION_BY_DECADE[decade] as number);
  out.hypertension = hypertension;
  const diabetes = lo16(w3) < (DIABETES_BY_DECADE[decade] as number) * (hypertension ? 1.8 : 0.7);
  out.diabetes = diabetes;

  // Neighbourhood (16 bits), alcoholism and scholarship (8 bits each: their rates within 0.2%).
  const w4 = fmix32(w3 ^ salt ^ 0x1b873593);
  const neighbourhood = neighbourhoods.at(hi16(w4));
  out.neighbourhood = neighbourhood;
  const alcoholism = years >= 18 && (w4 & 0xff) * INV_2_8 < (female ? 0.02 : 0.065);
  out.alcoholism = alcoholism;
  const scholarship = ((w4 >>> 8) & 0xff) * INV_2_8 < (years < 18 ? 0.1 : female ? 0.12 : 0.07);
  out.scholarship = scholarship;
  if (full) {
    const w5 = fmix32(w4 ^ salt ^ 0xcc9e2d51);
    const w6 = fmix32(w5 ^ salt ^ 0xe6546b64);
    const w7 = fmix32(w6 ^ salt ^ 0x85ebca6b);
    const w8 = fmix32(w7 ^ salt ^ 0xc2b2ae35);
    out.handicap = handicaps.at((w6 >>> 0) * INV_2_32);
    const g = female ? 0 : 1;
    out.first = (hi16(w7) * (PARTS.first[g] as readonly unknown[]).length) | 0;
    out.middle = (lo16(w7) * (PARTS.middle[g] as readonly unknown[]).length) | 0;
    const family1 = (hi16(w8) * FAMILIES) | 0;
    const other = (lo16(w8) * (FAMILIES - 1)) | 0;
    out.family1 = family1;
    out.family2 = other < family1 ? other : other + 1;
  }

  // Propensity: scholarship holders, drinkers and some neighbourhoods miss more, patients with a
  // chronic condition a little less; the hidden part (12 bits of the first word) only history reveals.
  const level =
    visibleNoShowLevel(scholarship, alcoholism, hypertension || diabetes, neighbourhood) +
    ((HIDDEN_LEVELS[visitClass] as Int8Array)[(h >>> 4) & 0xfff] as number);
  out.noShowLevel = clampNoShowLevel(level);
  return out;
}

/**
 * The visible part of a patient's no-show level, before the hidden part is added and the sum clamped: what the
 * patient's attributes (scholarship, alcoholism, a chronic condition, the neighbourhood's index in
 * VITORIA_NEIGHBOURHOODS) say. Exported for the benchmark's attainable bound (bench/model-bound.ts), truth side only.
 */
export function visibleNoShowLevel(
  scholarship: boolean,
  alcoholism: boolean,
  chronic: boolean,
  neighbourhood: number,
): number {
  const visible =
    (scholarship ? 0.3 : 0) +
    (alcoholism ? 0.3 : 0) -
    (chronic ? 0.15 : 0) +
    (NEIGHBOURHOOD_EFFECT[neighbourhood] as number) -
    VISIBLE_MEAN;
  return Math.floor(visible * LEVELS_PER_UNIT + LEVEL_ZERO + 0.5);
}

/** A no-show level kept inside 0..NO_SHOW_LEVELS-1. */
export const clampNoShowLevel = (level: number): number =>
  level < 0 ? 0 : level >= NO_SHOW_LEVELS ? NO_SHOW_LEVELS - 1 : level;

/**
 * The prior of the hidden part per visit class: each hidden level offset (in no-show levels) with its share of the
 * class's patients. Exported for the benchmark's attainable bound, truth side only.
 */
export const HIDDEN_LEVEL_PRIORS: ReadonlyArray<ReadonlyArray<{ offset: number; share: number }>> = HIDDEN_LEVELS.map(
  (levels) => {
    const counts = new Map<number, number>();
    for (const offset of levels) counts.set(offset, (counts.get(offset) ?? 0) + 1);
    return [...counts].map(([offset, n]) => ({ offset, share: n / levels.length }));
  },
);

/** The log-odds offset of a no-show level. */
export const noShowOffset = (level: number): number => (level - LEVEL_ZERO) / LEVELS_PER_UNIT;

/**
 * The share of appointments at each no-show level, from 16,384 patients of a fixed stream in each visit class,
 * weighted by the class's share of appointments: what the no-show table's calibration averages over.
 */
export const PROPENSITY_WEIGHTS: Float64Array = (() => {
  const n = 16_384;
  const weights = new Float64Array(NO_SHOW_LEVELS);
  const p = emptyPatient();
  const t: Tenure = { tenure: 0, registeredOn: 0, middle: 0 };
  VISIT_CLASS_APPOINTMENT_SHARE.forEach((share, c) => {
    const w = share / n;
    for (let slot = 0; slot < n; slot++) {
      const level = derivePatient(0x63616c69, t, slot, c, p, false).noShowLevel;
      weights[level] = (weights[level] as number) + w;
    }
  });
  return weights;
})();
