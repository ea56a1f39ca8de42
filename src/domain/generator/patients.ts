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
import type { Rng } from './prng.js';

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

/**
 * Fills `out` with the patient registered on `day` at `index`. `rng` must already be seeded for
 * this patient (tag = seed's patient stream, x = day, y = index); the draw order is part of the
 * data format: changing it changes every generated patient. With `full = false` only gender and
 * age are drawn (the first draws, so the values are the same as in a full derivation).
 */
export function derivePatient(rng: Rng, day: number, out: Patient, full = true): Patient {
  out.registeredOn = day;
  const female = rng.chance(0.65); // the public data set is 65% women
  out.female = female;
  const ageDays = Math.floor((ageBands.pick(rng) + rng.next()) * DAYS_PER_BAND);
  out.ageDaysAtRegistration = ageDays;
  if (!full) return out; // gender and age are all an appointment row needs
  out.neighbourhood = neighbourhoods.pick(rng);
  out.name = rng.int(NAME_POOL_SIZE);
  const years = ageDays / 365.25;
  const decade = Math.min(9, (years / 10) | 0);
  out.scholarship = rng.chance(years < 18 ? 0.1 : female ? 0.12 : 0.07);
  const hypertension = rng.chance(HYPERTENSION_BY_DECADE[decade] as number);
  out.hypertension = hypertension;
  out.diabetes = rng.chance((DIABETES_BY_DECADE[decade] as number) * (hypertension ? 1.8 : 0.7));
  out.alcoholism = years >= 18 && rng.chance(female ? 0.02 : 0.065);
  out.handicap = handicaps.pick(rng);
  return out;
}
