/**
 * The care network: clinics and the doctors working on a given day, derived from the seed alone.
 *
 * Clinics are a stable list whose length grows with the scale. Doctors occupy "slots": each slot
 * has a sequence of tenures (hired, works some years, leaves; a successor is hired after a short
 * vacancy), so the roster has a stable size, new hires appear over time and a doctor never appears
 * before their hired_on. Everything is a pure function of (seed, day, scale): no database reads.
 */
import { SPECIALTIES, type Specialty } from '../entities.js';
import { AliasTable } from './alias.js';
import { pack, type Packed } from './bytes.js';
import { dayString, timeString } from './calendar.js';
import { DIAGNOSES, SHIFTS, SPECIALTY_WEIGHTS, VITORIA_NEIGHBOURHOODS } from './catalog.js';
import { csvField } from './csv.js';
import { namePools } from './pools.js';
import { Rng, STREAM, streamTag } from './prng.js';

/** Doctor ids are `generation * DOCTOR_ID_STRIDE + slot + 1`, so successive occupants of a slot differ. */
export const DOCTOR_ID_STRIDE = 100_000;

/** Piecewise log-log interpolation through (appointments, count) anchors, extrapolating the end segments. */
function logInterp(n: number, anchors: ReadonlyArray<readonly [number, number]>): number {
  const x = Math.log(n);
  let i = 0;
  while (i < anchors.length - 2 && x > Math.log((anchors[i + 1] as readonly [number, number])[0])) i++;
  const [x0, y0] = anchors[i] as readonly [number, number];
  const [x1, y1] = anchors[i + 1] as readonly [number, number];
  const t = (x - Math.log(x0)) / (Math.log(x1) - Math.log(x0));
  return Math.exp(Math.log(y0) + t * (Math.log(y1) - Math.log(y0)));
}

/** Clinics for a number of daily appointments: 8 at 1k (small), 40 at 100k (medium), 120 at 1M (large). */
export function clinicCount(appointments: number): number {
  return Math.max(
    1,
    Math.round(
      logInterp(appointments, [
        [1_000, 8],
        [100_000, 40],
        [1_000_000, 120],
      ]),
    ),
  );
}

/** Doctor slots: 40 at 1k, 600 at 100k, 3000 at 1M (about 25-330 appointments per doctor per day). */
export function doctorSlots(appointments: number): number {
  const n = Math.round(
    logInterp(appointments, [
      [1_000, 40],
      [100_000, 600],
      [1_000_000, 3_000],
    ]),
  );
  return Math.min(DOCTOR_ID_STRIDE - 1, Math.max(2, n));
}

export interface Clinic {
  readonly id: number;
  /** The full CSV row without batch_date and line end. */
  readonly csv: string;
  /** Relative size; doctors are assigned in proportion to it. */
  readonly weight: number;
}

const CLINIC_PREFIXES = ['Unidade de Saúde', 'Unidade Básica de Saúde', 'Clínica da Família', 'Policlínica'];
const ROMAN = ['', ' II', ' III', ' IV', ' V', ' VI', ' VII', ' VIII', ' IX', ' X'];

/** The clinic list for a seed and scale (ids 1..count; a larger scale only appends clinics). */
export function buildClinics(seed: number, appointments: number): Clinic[] {
  const count = clinicCount(appointments);
  const tag = streamTag(seed, STREAM.clinic);
  const rng = new Rng();
  // Neighbourhood order: weighted sampling without replacement (Efraimidis-Spirakis keys), so big
  // neighbourhoods get the first clinics, and the order depends on the seed only.
  rng.reseed(tag, 0, 0);
  const order = VITORIA_NEIGHBOURHOODS.map(([name, w]) => ({ name, key: Math.log(rng.next() + 1e-12) / w }))
    .sort((a, b) => b.key - a.key)
    .map((n) => n.name);
  const drafts = Array.from({ length: count }, (_, k) => {
    const id = k + 1;
    rng.reseed(tag, id, 1);
    const prefix = CLINIC_PREFIXES[rng.int(CLINIC_PREFIXES.length)] as string;
    const hood = order[k % order.length] as string;
    const round = Math.floor(k / order.length);
    const name = `${prefix} ${hood}${ROMAN[round] ?? ` ${round + 1}`}`;
    const weight = 0.5 + 1.5 * rng.next();
    const openedOn = -25 * 365 + rng.int(25 * 365); // 1975-2000: open before any valid run date
    return { id, name, hood, weight, openedOn };
  });
  const meanWeight = drafts.reduce((a, c) => a + c.weight, 0) / count;
  return drafts.map((c) => {
    const capacity = Math.max(1, Math.round(((1.25 * appointments) / count) * (c.weight / meanWeight)));
    return {
      id: c.id,
      weight: c.weight,
      csv: `${c.id},${csvField(c.name)},${csvField(c.hood)},${capacity},${dayString(c.openedOn)}`,
    };
  });
}

export interface Doctor {
  readonly id: number;
  /** `,<id>,`: the doctor_id field with the commas around it, packed for the row writers. */
  readonly idField: Packed;
  readonly specialty: Specialty;
  /** Index of the specialty in SPECIALTIES, for table lookups in the hot loop. */
  readonly specialtyIndex: number;
  readonly clinicId: number;
  /** Shift length in hours: appointments are assigned in proportion to it. */
  readonly shiftHours: number;
  /** Stable quality in about [-3.5, 3.5]: good doctors get consistently better ratings. */
  readonly quality: number;
  /** The full CSV row without batch_date and line end. */
  readonly csv: string;
}

const specialtyTable = new AliasTable(SPECIALTIES.map((s) => SPECIALTY_WEIGHTS[s]));
const shiftTable = new AliasTable(SHIFTS.map((s) => s.weight));

/**
 * The occupant of `slot` on `day`: its generation (0 = hired before 2000) and hire day, or
 * undefined while the slot is vacant between two doctors.
 */
export function slotOccupant(
  seed: number,
  slot: number,
  day: number,
): { generation: number; hiredOn: number } | undefined {
  const rng = new Rng().reseed(streamTag(seed, STREAM.doctorSlot), slot, 0);
  let start = -1 - rng.int(20 * 365);
  for (let generation = 0; ; generation++) {
    // Tenure: at least a year, exponential tail with a mean of about ten years.
    const end = start + 365 + Math.floor(-Math.log(1 - rng.next()) * 9 * 365);
    if (day < start) return undefined; // vacancy before this occupant's hire day
    if (day < end) return { generation, hiredOn: start };
    start = end + rng.int(60);
  }
}

/** The doctors employed on `day` (slots whose occupant's hired_on <= day), ordered by slot. */
export function buildRoster(seed: number, appointments: number, day: number, clinics: readonly Clinic[]): Doctor[] {
  const slots = doctorSlots(appointments);
  const pools = namePools(seed);
  const tag = streamTag(seed, STREAM.doctor);
  const clinicTable = new AliasTable(clinics.map((c) => c.weight));
  const rng = new Rng();
  const roster: Doctor[] = [];
  for (let slot = 0; slot < slots; slot++) {
    const occupant = slotOccupant(seed, slot, day);
    if (!occupant) continue;
    const id = occupant.generation * DOCTOR_ID_STRIDE + slot + 1;
    rng.reseed(tag, slot, occupant.generation);
    const female = rng.chance(0.5);
    const specialtyIndex = specialtyTable.pick(rng);
    const specialty = SPECIALTIES[specialtyIndex] as Specialty;
    const clinic = clinics[clinicTable.pick(rng)] as Clinic;
    const shift = SHIFTS[shiftTable.pick(rng)] as (typeof SHIFTS)[number];
    const quality = rng.normal();
    const names = female ? pools.femalePlain : pools.malePlain;
    const name = `${female ? 'Dra.' : 'Dr.'} ${names[rng.int(names.length)] as string}`;
    roster.push({
      id,
      idField: pack(`,${id},`),
      specialty,
      specialtyIndex,
      clinicId: clinic.id,
      shiftHours: (shift.end - shift.start) / 3600,
      quality,
      csv: `${id},${csvField(name)},${specialty},${clinic.id},${timeString(shift.start)},${timeString(shift.end)},${dayString(occupant.hiredOn)}`,
    });
  }
  return roster;
}

/**
 * Doctor choice for an appointment, weighted by shift length: children mostly see pediatricians,
 * adults see the other specialties, men are not booked with gynecologists.
 */
export class DoctorPicker {
  private readonly child: AliasTable;
  private readonly adultFemale: AliasTable;
  private readonly adultMale: AliasTable;

  constructor(private readonly roster: readonly Doctor[]) {
    if (roster.length === 0) throw new Error('no doctor is employed on this day; cannot book appointments');
    const table = (keep: (d: Doctor) => boolean) => {
      const weights = roster.map((d) => (keep(d) ? d.shiftHours : 0));
      return new AliasTable(weights.some((w) => w > 0) ? weights : roster.map((d) => d.shiftHours));
    };
    this.child = table((d) => d.specialty === 'pediatrics');
    this.adultFemale = table((d) => d.specialty !== 'pediatrics');
    this.adultMale = table((d) => d.specialty !== 'pediatrics' && d.specialty !== 'gynecology');
  }

  /**
   * The doctor for a patient, from two uniforms: `childDraw` decides whether a child under 14 goes
   * to pediatrics (85%; the rest, and teenagers from 14, go to adult care), `draw` picks the doctor.
   */
  pick(childDraw: number, draw: number, ageYears: number, female: boolean): Doctor {
    const child = ageYears < 14 && childDraw < 0.85;
    const table = child ? this.child : female ? this.adultFemale : this.adultMale;
    return this.roster[table.at(draw)] as Doctor;
  }
}

/** Per-specialty diagnosis tables with their CSV-encoded labels, indexed like SPECIALTIES. */
export const DIAGNOSIS_TABLES = SPECIALTIES.map((s) => {
  const list = DIAGNOSES[s];
  return {
    table: new AliasTable(list.map((d) => d.weight)),
    labels: list.map((d) => csvField(d.label)),
    means: list.map((d) => d.meanAmount),
    hypertension: list.findIndex((d) => d.label.startsWith('I10 ')),
    diabetes: list.findIndex((d) => d.label.startsWith('E11.')),
  };
});
