/**
 * One day of care: every appointment of `runDate`, and the record and feedback it may lead to,
 * derived from (seed, day, appointment index) alone. Any shard of any entity re-derives exactly
 * the same appointments, which is what keeps foreign keys consistent without a database.
 */
import { SPECIALTIES } from '../entities.js';
import { dayString } from './calendar.js';
import { COMMENTS } from './catalog.js';
import { csvField } from './csv.js';
import { DIAGNOSIS_TABLES, DoctorPicker, buildClinics, buildRoster, type Clinic, type Doctor } from './network.js';
import { AliasTable } from './alias.js';
import {
  NO_SHOW_LEVELS,
  PROPENSITY_WEIGHTS,
  derivePatient,
  emptyPatient,
  noShowOffset,
  type Patient,
} from './patients.js';
import {
  buildPopulation,
  planDay,
  slotForAppointment,
  tenureOn,
  type DayPlan,
  type Placement,
  type Tenure,
} from './population.js';
import { Rng, STREAM, streamTag } from './prng.js';

/** Longest lead time (booking to appointment) in days. */
export const MAX_LEAD_DAYS = 60;

/** Everything shared by the rows of one run date, built once per shard. */
export interface DayContext {
  readonly seed: number;
  readonly day: number;
  readonly runDate: string;
  readonly appointments: number;
  readonly clinics: readonly Clinic[];
  readonly roster: readonly Doctor[];
  readonly picker: DoctorPicker;
  /** Which population slot each appointment index of the day goes to. */
  readonly plan: DayPlan;
  /** Stream tags as int32: a uint32 field holds a boxed double, and passing it to a call allocated a heap number per row. */
  readonly appointmentTag: number;
  readonly patientTag: number;
}

const populations = new Map<string, ReturnType<typeof buildPopulation>>();
/** The population of (seed, appointments a day), cached per process (a few per worker). */
function populationOf(seed: number, appointments: number): ReturnType<typeof buildPopulation> {
  const key = `${seed}:${appointments}`;
  let pop = populations.get(key);
  if (!pop) {
    pop = buildPopulation(seed, appointments);
    if (populations.size >= 8) populations.delete(populations.keys().next().value as string);
    populations.set(key, pop);
  }
  return pop;
}

/** Builds the day's shared state: clinics and the roster employed on that day. */
export function buildDayContext(seed: number, day: number, appointments: number): DayContext {
  const clinics = buildClinics(seed, appointments);
  const roster = buildRoster(seed, appointments, day, clinics);
  return {
    seed,
    day,
    runDate: dayString(day),
    appointments,
    clinics,
    roster,
    picker: new DoctorPicker(roster),
    plan: planDay(populationOf(seed, appointments), seed, day, appointments),
    appointmentTag: streamTag(seed, STREAM.appointment) | 0,
    patientTag: streamTag(seed, STREAM.patient) | 0,
  };
}

/**
 * Which part of a visit to derive: the appointment alone, the appointment and its record, or the
 * appointment and its feedback. Each part takes a fixed number of draws from the appointment's
 * stream (APPOINTMENT_DRAWS, then RECORD_DRAWS, then FEEDBACK_DRAWS), used or not, so a part
 * never depends on how far the parts before it went: the feedback file skips the record's draws
 * instead of computing the record (and the patient's conditions it depends on).
 */
export const Depth = { Appointment: 0, Record: 1, Feedback: 2 } as const;
export type Depth = (typeof Depth)[keyof typeof Depth];
const APPOINTMENT_DRAWS = 10;
const RECORD_DRAWS = 6;
const FEEDBACK_DRAWS = 8;
/** Approximately standard normal from draws u[k..k+4) (Irwin-Hall, as Rng.normal): cheap and bounded to ±3.46. */
const normal = (u: Float64Array, k: number) =>
  ((u[k] as number) + (u[k + 1] as number) + (u[k + 2] as number) + (u[k + 3] as number) - 2) * 1.7320508075688772;

/** One appointment and what follows from it; a single mutable instance is reused per shard. */
export interface Visit {
  index: number;
  patient: Patient;
  /** Age in whole years on the appointment day. */
  ageYears: number;
  doctor: Doctor;
  leadDays: number;
  /** Minute of the day the booking was made (clinic hours) and its second. */
  scheduledMinute: number;
  scheduledSecond: number;
  sms: boolean;
  noShow: boolean;
  /** The patient cancelled after a reminder (flag {@link REMINDED_CANCELLED}): no appointment, record or feedback row. */
  cancelled: boolean;
  /** The probability the no-show was drawn with (after a reminder's relative risk): the truth file's value. */
  noShowProbability: number;
  /** Record (attended only, Depth >= Record): diagnosis index within the doctor's specialty, amount in cents. */
  diagnosis: number;
  amountCents: number;
  /** Feedback (Depth >= Feedback). */
  hasFeedback: boolean;
  rating: number;
  /** Comment as an index into COMMENT_POOL (CSV-encoded), -1 for none. */
  comment: number;
  submittedSecond: number;
}

/**
 * Lead time: an exponential with a mean of 12 days, whole days from 1, folded into 1..MAX_LEAD_DAYS. Folding a geometric distribution keeps it geometric,
 * so P(k) is proportional to r^(k-1); alias tables draw it exactly with one uniform and no logarithm.
 * Entry k - 1 is day k.
 */
const geometricDays = (meanDays: number, maxDays: number): AliasTable =>
  new AliasTable(Array.from({ length: maxDays }, (_, k) => Math.exp(-k / meanDays)));
const LEAD_DAYS = geometricDays(12, MAX_LEAD_DAYS);
/** P(SMS reminder | lead days): none below 3 days, then 45% rising to 75% at 30 days and more. */
const SMS_CHANCE = Float64Array.from({ length: MAX_LEAD_DAYS + 1 }, (_, lead) =>
  lead >= 3 ? 0.45 + (0.3 * Math.min(lead, 30)) / 30 : 0,
);

/** Lead-time buckets used by the no-show model: 0, 1-2, 3-7, 8-14, 15-30, 31+ days. */
function leadBucket(lead: number): number {
  return lead === 0 ? 0 : lead <= 2 ? 1 : lead <= 7 ? 2 : lead <= 14 ? 3 : lead <= 30 ? 4 : 5;
}
/** Age groups used by the no-show model: 0-17, 18-30, 31-59, 60+. */
function ageGroup(years: number): number {
  return years < 18 ? 0 : years <= 30 ? 1 : years < 60 ? 2 : 3;
}

/**
 * P(no-show | lead bucket, SMS, age group, patient propensity level), precomputed from odds so the
 * hot loop does one lookup. Base rates by lead time follow the public data (same-day ~5%, a month
 * ahead ~33%); an SMS lowers the odds by a quarter, young adults (18-30) miss more and people over 60
 * less. The patient's propensity (patients.ts) adds its log-odds offset; each lead bucket's intercept
 * is calibrated so its mean over the population's offsets stays at the base rate.
 */
const NO_SHOW = (() => {
  const baseByLead = [0.05, 0.22, 0.28, 0.33, 0.36, 0.38];
  const ageOdds = [1.05, 1.35, 0.95, 0.72];
  const smsOdds = 0.72;
  const weights = PROPENSITY_WEIGHTS;
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  const meanAt = (logit: number) => {
    let m = 0;
    for (let q = 0; q < NO_SHOW_LEVELS; q++) m += (weights[q] as number) * sigmoid(logit + noShowOffset(q));
    return m;
  };
  // Float32 (24 KiB, within L1) rather than Float64: the lookups were a measurable share of an appointment's cost.
  const table = new Float32Array(6 * 2 * 4 * NO_SHOW_LEVELS);
  for (let l = 0; l < 6; l++) {
    const p = baseByLead[l] as number;
    // Bisection for the intercept whose mean over the propensity levels is p.
    let lo = -10;
    let hi = 10;
    for (let it = 0; it < 60; it++) {
      const mid = (lo + hi) / 2;
      if (meanAt(mid) < p) lo = mid;
      else hi = mid;
    }
    const intercept = (lo + hi) / 2;
    for (let s = 0; s < 2; s++) {
      for (let a = 0; a < 4; a++) {
        const base = intercept + Math.log((s ? smsOdds : 1) * (ageOdds[a] as number));
        for (let q = 0; q < NO_SHOW_LEVELS; q++) {
          table[((l * 2 + s) * 4 + a) * NO_SHOW_LEVELS + q] = sigmoid(base + noShowOffset(q));
        }
      }
    }
  }
  return table;
})();

/**
 * The table's no-show probability of an appointment booked `leadDays` ahead, with or without an SMS, of a patient
 * aged `ageYears` at no-show level `level` (no reminder). Exported for the benchmark's attainable bound
 * (bench/model-bound.ts), truth side only.
 */
export function noShowProbabilityAt(leadDays: number, sms: boolean, ageYears: number, level: number): number {
  return NO_SHOW[
    ((leadBucket(leadDays) * 2 + (sms ? 1 : 0)) * 4 + ageGroup(ageYears)) * NO_SHOW_LEVELS + level
  ] as number;
}

/** Every comment, CSV-encoded: good ones, then neutral, then bad. */
export const COMMENT_POOL: readonly string[] = [...COMMENTS.good, ...COMMENTS.neutral, ...COMMENTS.bad].map(csvField);
const NEUTRAL_FROM = COMMENTS.good.length;
const BAD_FROM = NEUTRAL_FROM + COMMENTS.neutral.length;
const GP = SPECIALTIES.indexOf('general_practice');
const CARDIOLOGY = SPECIALTIES.indexOf('cardiology');

/** `Reminded.indexes[i]`: appointment i got a reminder (and answered Confirm, or nothing). */
export const REMINDED = 1;
/** `Reminded.indexes[i]`: appointment i got a reminder and the patient cancelled it: it becomes a cancellation. */
export const REMINDED_CANCELLED = 2;

/**
 * The day's reminded appointments: `indexes[i]` is {@link REMINDED} or {@link REMINDED_CANCELLED} when appointment
 * index i was reminded (0 otherwise); its no-show probability is multiplied by `relativeRisk` (REMINDER_RELATIVE_RISK,
 * 0 < x <= 1). A cancelled appointment does not take place: it has no appointment row (so it is neither a show nor a
 * no-show), no record and no feedback; its draws are still made, so every other row stays as it was.
 */
export interface Reminded {
  readonly indexes: Uint8Array;
  readonly relativeRisk: number;
}

/** A reusable visit deriver for one day: owns the appointment PRNG and the output object. */
export class VisitDeriver {
  private readonly rng = new Rng();
  private readonly tenure: Tenure = { tenure: 0, registeredOn: 0, middle: 0 };
  private readonly placement: Placement = { visitClass: 0 };
  readonly visit: Visit;

  /**
   * `fullPatients`: derive every patient attribute (for the patients file). `reminded`: the day's reminded
   * appointments; without it every probability is the table's, so the output is as before reminders existed.
   */
  constructor(
    private readonly ctx: DayContext,
    private readonly fullPatients = false,
    private readonly reminded?: Reminded,
  ) {
    this.visit = {
      index: 0,
      patient: emptyPatient(),
      ageYears: 0,
      doctor: ctx.roster[0] as Doctor,
      leadDays: 0,
      scheduledMinute: 0,
      scheduledSecond: 0,
      sms: false,
      noShow: false,
      cancelled: false,
      noShowProbability: 0,
      diagnosis: 0,
      amountCents: 0,
      hasFeedback: false,
      rating: 0,
      comment: -1,
      submittedSecond: 0,
    };
  }

  /**
   * Derives appointment `index` of the day and, for Depth.Record or Depth.Feedback and an attended
   * appointment, its record or its feedback (see {@link Depth}). Fields of parts not derived keep
   * stale values.
   */
  derive(index: number, depth: Depth): Visit {
    const { ctx, rng, visit: v } = this;
    const day = ctx.day;
    rng.reseed(ctx.appointmentTag, day, index);
    v.index = index;

    // The appointment: APPOINTMENT_DRAWS draws, in this order, whatever they decide.
    const u = rng.draws;
    const k = rng.claim(APPOINTMENT_DRAWS);
    // u[k] and u[k + 1] are unused (they chose a returning patient and the return lag before the
    // population); kept so the other draws, and the rows they decide, stay as they were.
    const sameDay = (u[k + 2] as number) < 0.35;
    const leadDraw = u[k + 3] as number;
    const minuteDraw = u[k + 4] as number;
    const secondDraw = u[k + 5] as number;
    const smsDraw = u[k + 6] as number;
    const childDraw = u[k + 7] as number;
    const doctorDraw = u[k + 8] as number;
    const noShowDraw = u[k + 9] as number;

    // Patient: the population slot the day's plan gives this index, in its current tenure.
    const plan = ctx.plan;
    const slot = slotForAppointment(plan, index, this.placement);
    const p = derivePatient(
      ctx.patientTag,
      tenureOn(plan.pop, slot, day, this.tenure),
      slot,
      this.placement.visitClass,
      v.patient,
      this.fullPatients,
    );
    const ageYears = Math.floor((p.ageDaysAtRegistration + day - p.registeredOn) / 365.25);
    v.ageYears = ageYears;

    // Booking: a third same-day (walk-ins, booked in the morning), the rest up to 60 days ahead.
    const lead = sameDay ? 0 : 1 + LEAD_DAYS.at(leadDraw);
    v.leadDays = lead;
    v.scheduledMinute = 420 + ((minuteDraw * (sameDay ? 240 : 660)) | 0);
    v.scheduledSecond = (secondDraw * 60) | 0;
    // SMS reminders go out for bookings at least 3 days ahead, more often the further ahead.
    const sms = smsDraw < (SMS_CHANCE[lead] as number);
    v.sms = sms;
    const doctor = ctx.picker.pick(childDraw, doctorDraw, ageYears, p.female);
    v.doctor = doctor;
    let probability = NO_SHOW[
      ((leadBucket(lead) * 2 + (sms ? 1 : 0)) * 4 + ageGroup(ageYears)) * NO_SHOW_LEVELS + p.noShowLevel
    ] as number;
    const reminded = this.reminded;
    const flag = reminded === undefined ? 0 : (reminded.indexes[index] as number);
    if (flag !== 0) probability *= (reminded as Reminded).relativeRisk;
    v.noShowProbability = probability;
    v.cancelled = flag === REMINDED_CANCELLED;
    v.noShow = !v.cancelled && noShowDraw < probability;
    if (depth === Depth.Appointment || v.noShow || v.cancelled) return v;
    if (depth === Depth.Record) {
      this.deriveRecord(v, p, doctor);
    } else {
      rng.claim(RECORD_DRAWS); // skipped: the feedback does not depend on the record
      this.deriveFeedback(v, doctor);
    }
    return v;
  }

  /** The record of an attended visit: RECORD_DRAWS draws. */
  private deriveRecord(v: Visit, p: Patient, doctor: Doctor): void {
    const u = this.rng.draws;
    const k = this.rng.claim(RECORD_DRAWS);
    const steer = u[k] as number;
    const pick = u[k + 1] as number;
    // Chronic conditions steer primary care and cardiology toward their diagnosis.
    const dx = DIAGNOSIS_TABLES[doctor.specialtyIndex] as (typeof DIAGNOSIS_TABLES)[number];
    const si = doctor.specialtyIndex;
    if (p.hypertension && (si === GP || si === CARDIOLOGY) && steer < 0.4 && dx.hypertension >= 0) {
      v.diagnosis = dx.hypertension;
    } else if (p.diabetes && si === GP && steer < 0.7 && dx.diabetes >= 0) {
      v.diagnosis = dx.diabetes;
    } else {
      v.diagnosis = dx.table.at(pick);
    }
    // Lognormal-ish around the diagnosis mean (sigma 0.35, mean-preserving).
    const amount = (dx.means[v.diagnosis] as number) * Math.exp(0.35 * normal(u, k + 2) - 0.06125);
    v.amountCents = Math.max(1, Math.round(amount * 100));
  }

  /** The feedback on an attended visit (FEEDBACK_DRAWS draws): ~30% get one; the rating follows the doctor's stable quality. */
  private deriveFeedback(v: Visit, doctor: Doctor): void {
    const u = this.rng.draws;
    const k = this.rng.claim(FEEDBACK_DRAWS);
    v.hasFeedback = (u[k] as number) < 0.3;
    if (!v.hasFeedback) return;
    const latent = 3.75 + 0.55 * doctor.quality + 0.85 * normal(u, k + 1);
    const rating = Math.max(1, Math.min(5, Math.round(latent)));
    v.rating = rating;
    const commented = (u[k + 5] as number) < 0.35;
    const which = u[k + 6] as number;
    v.comment = !commented
      ? -1
      : rating >= 4
        ? (which * NEUTRAL_FROM) | 0
        : rating === 3
          ? NEUTRAL_FROM + ((which * (BAD_FROM - NEUTRAL_FROM)) | 0)
          : BAD_FROM + ((which * (COMMENT_POOL.length - BAD_FROM)) | 0);
    v.submittedSecond = 12 * 3600 + (((u[k + 7] as number) * 12 * 3600) | 0);
  }
}
