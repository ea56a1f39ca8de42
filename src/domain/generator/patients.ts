/**
 * Patients as a pure function of (seed, patient_id). patient_id = registrationDay * 10^7 + index,
 * so the id alone says when the patient registered, and a returning patient gets the same
 * attributes every day they appear.
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
import { NAME_POOL_SIZE } from './pools.js';
import { fmix32, keyHash } from './prng.js';

/** Ids encode `day * ID_DAY_STRIDE + index`; indexes run below the scale, at most 10^7 (parseScale's limit). */
export const ID_DAY_STRIDE = 10_000_000;

const ageBands = new AliasTable(AGE_BAND_WEIGHTS);
const neighbourhoods = new AliasTable(VITORIA_NEIGHBOURHOODS.map(([, w]) => w));
const handicaps = new AliasTable(HANDICAP_WEIGHTS);
const DAYS_PER_BAND = 5 * 365.25;

/** CSV-encoded neighbourhood names, indexed like VITORIA_NEIGHBOURHOODS. */
export const NEIGHBOURHOOD_CSV: readonly string[] = VITORIA_NEIGHBOURHOODS.map(([n]) => csvField(n));

/** A patient's attributes as numbers and indexes (mutable so the hot loop reuses one object). */
export interface Patient {
  registeredOn: number;
  female: boolean;
  /** Age in days on the registration day. */
  ageDaysAtRegistration: number;
  neighbourhood: number;
  name: number;
  scholarship: boolean;
  hypertension: boolean;
  diabetes: boolean;
  alcoholism: boolean;
  handicap: number;
}

export function emptyPatient(): Patient {
  return {
    registeredOn: 0,
    female: false,
    ageDaysAtRegistration: 0,
    neighbourhood: 0,
    name: 0,
    scholarship: false,
    hypertension: false,
    diabetes: false,
    alcoholism: false,
    handicap: 0,
  };
}

/** How much of a patient to derive: an appointment needs gender and age, a record also the conditions. */
export const PatientLevel = { Basic: 0, Conditions: 1, Full: 2 } as const;
export type PatientLevel = (typeof PatientLevel)[keyof typeof PatientLevel];

const FEMALE_BELOW = 0.65 * 4294967296; // the public data set is 65% women
const INV_2_16 = 1 / 65536;
const INV_2_32 = 1 / 4294967296;
/** 16 random bits (the high or low half of a hashed word) as a uniform in [0, 1). */
const hi16 = (w: number) => (w >>> 16) * INV_2_16;
const lo16 = (w: number) => (w & 0xffff) * INV_2_16;

/**
 * Fills `out` with the patient registered on `day` at `index` (`tag` = the seed's patient stream),
 * down to `level`. Patients need few random bits, so instead of re-seeding a PRNG per patient they
 * come from the key's hash and a short chain of further mixes of it (about 2 ns each), mostly as
 * 16-bit uniforms: enough for the probabilities here (smallest ~7e-4, resolved within ~0.3%); the
 * rare handicap levels (down to 1e-4) get a full word. Each word mixes the index in again, so two
 * patients share attributes only if their keys collide twice. Changing this derivation changes
 * every generated patient: it is part of the data format.
 */
export function derivePatient(tag: number, day: number, index: number, out: Patient, level: PatientLevel): Patient {
  const h = keyHash(tag, day, index);
  const salt = Math.imul(index, 0x27d4eb2f);
  const w2 = fmix32(h ^ 0x5bd1e995);
  out.registeredOn = day;
  const female = h >>> 0 < FEMALE_BELOW;
  out.female = female;
  // The 5-year band, then the birthday inside it (~1 day resolution).
  const ageDays = Math.floor((ageBands.at(hi16(w2)) + lo16(w2)) * DAYS_PER_BAND);
  out.ageDaysAtRegistration = ageDays;
  if (level === PatientLevel.Basic) return out;

  const w3 = fmix32(w2 ^ salt ^ 0x68e31da4);
  const years = ageDays / 365.25;
  const decade = Math.min(9, (years / 10) | 0);
  const hypertension = hi16(w3) < (HYPERTENSION_BY_DECADE[decade] as number);
  out.hypertension = hypertension;
  out.diabetes = lo16(w3) < (DIABETES_BY_DECADE[decade] as number) * (hypertension ? 1.8 : 0.7);
  if (level === PatientLevel.Conditions) return out;

  const w4 = fmix32(w3 ^ salt ^ 0x1b873593);
  const w5 = fmix32(w4 ^ salt ^ 0xcc9e2d51);
  const w6 = fmix32(w5 ^ salt ^ 0xe6546b64);
  out.neighbourhood = neighbourhoods.at(hi16(w4));
  out.alcoholism = years >= 18 && lo16(w4) < (female ? 0.02 : 0.065);
  out.name = (hi16(w5) * NAME_POOL_SIZE) | 0;
  out.scholarship = lo16(w5) < (years < 18 ? 0.1 : female ? 0.12 : 0.07);
  out.handicap = handicaps.at((w6 >>> 0) * INV_2_32);
  return out;
}
