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
import { ID_DAY_STRIDE, derivePatient, emptyPatient, type Patient } from './patients.js';
import { Rng, STREAM, streamTag } from './prng.js';

/** Share of appointments booked by a patient registered on an earlier day. */
export const RETURNING_SHARE = 0.65;
/** Longest gap, in days, between a returning patient's registration and this appointment. */
export const MAX_RETURN_LAG = 1_000;
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
  readonly appointmentTag: number;
  readonly patientTag: number;
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
    appointmentTag: streamTag(seed, STREAM.appointment),
    patientTag: streamTag(seed, STREAM.patient),
  };
}

/** How far to derive a visit: the appointment alone, plus its record, plus its feedback. */
export const Depth = { Appointment: 0, Record: 1, Feedback: 2 } as const;
export type Depth = (typeof Depth)[keyof typeof Depth];

/** One appointment and what follows from it; a single mutable instance is reused per shard. */
export interface Visit {
  index: number;
  appointmentId: number;
  patientId: number;
  /** Registration day of the patient (the day part of patient_id). */
  patientDay: number;
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

/** Lead-time buckets used by the no-show model: 0, 1-2, 3-7, 8-14, 15-30, 31+ days. */
function leadBucket(lead: number): number {
  return lead === 0 ? 0 : lead <= 2 ? 1 : lead <= 7 ? 2 : lead <= 14 ? 3 : lead <= 30 ? 4 : 5;
}
/** Age groups used by the no-show model: 0-17, 18-30, 31-59, 60+. */
function ageGroup(years: number): number {
  return years < 18 ? 0 : years <= 30 ? 1 : years < 60 ? 2 : 3;
}

/**
 * P(no-show | lead bucket, SMS, age group), precomputed from odds so the hot loop does one lookup.
 * Base rates by lead time follow the public data (same-day ~5%, a month ahead ~33%); an SMS lowers
 * the odds by a quarter, young adults (18-30) miss more and people over 60 less.
 */
const NO_SHOW = (() => {
  const baseByLead = [0.05, 0.22, 0.28, 0.33, 0.36, 0.38];
  const ageOdds = [1.05, 1.35, 0.95, 0.72];
  const smsOdds = 0.72;
  const table = new Float64Array(6 * 2 * 4);
  for (let l = 0; l < 6; l++) {
    for (let s = 0; s < 2; s++) {
      for (let a = 0; a < 4; a++) {
        const p = baseByLead[l] as number;
        const odds = (p / (1 - p)) * (s ? smsOdds : 1) * (ageOdds[a] as number);
        table[(l * 2 + s) * 4 + a] = odds / (1 + odds);
      }
    }
  }
  return table;
})();

/** Every comment, CSV-encoded: good ones, then neutral, then bad. */
export const COMMENT_POOL: readonly string[] = [...COMMENTS.good, ...COMMENTS.neutral, ...COMMENTS.bad].map(csvField);
const NEUTRAL_FROM = COMMENTS.good.length;
const BAD_FROM = NEUTRAL_FROM + COMMENTS.neutral.length;
const GP = SPECIALTIES.indexOf('general_practice');
const CARDIOLOGY = SPECIALTIES.indexOf('cardiology');

/** A reusable visit deriver for one day: owns the two PRNGs and the output object. */
export class VisitDeriver {
  private readonly rng = new Rng();
  private readonly patientRng = new Rng();
  readonly visit: Visit;

  /** `fullPatients`: derive every patient attribute even at Depth.Appointment (for the patients file). */
  constructor(
    private readonly ctx: DayContext,
    private readonly fullPatients = false,
  ) {
    this.visit = {
      index: 0,
      appointmentId: 0,
      patientId: 0,
      patientDay: 0,
      patient: emptyPatient(),
      ageYears: 0,
      doctor: ctx.roster[0] as Doctor,
      leadDays: 0,
      scheduledMinute: 0,
      scheduledSecond: 0,
      sms: false,
      noShow: false,
      diagnosis: 0,
      amountCents: 0,
      hasFeedback: false,
      rating: 0,
      comment: -1,
      submittedSecond: 0,
    };
  }

  /**
   * Derives appointment `index` of the day down to `depth`. Draws happen in a fixed order
   * (appointment, then record, then feedback) from the appointment's own stream, so stopping early
   * for the appointments file never changes what the records or feedback files see.
   */
  derive(index: number, depth: Depth): Visit {
    const { ctx, rng, visit: v } = this;
    const day = ctx.day;
    rng.reseed(ctx.appointmentTag, day, index);
    v.index = index;
    v.appointmentId = day * ID_DAY_STRIDE + index;

    // Patient: new today, or registered `lag` days ago under the same index (injective per day).
    const returning = rng.chance(RETURNING_SHARE);
    const lagDraw = rng.next(); // drawn either way: the draw sequence must not depend on the outcome
    let patientDay = day;
    if (returning && day > 0) {
      // Lag: exponential with a mean of ~150 days, folded into 1..MAX_RETURN_LAG.
      const lag = 1 + (Math.floor(-Math.log(1 - lagDraw) * 150) % MAX_RETURN_LAG);
      patientDay = day - Math.min(lag, day);
    }
    v.patientDay = patientDay;
    v.patientId = patientDay * ID_DAY_STRIDE + index;
    this.patientRng.reseed(ctx.patientTag, patientDay, index);
    const p = derivePatient(this.patientRng, patientDay, v.patient, this.fullPatients || depth !== Depth.Appointment);
    const ageYears = Math.floor((p.ageDaysAtRegistration + day - patientDay) / 365.25);
    v.ageYears = ageYears;

    // Booking: a third same-day (walk-ins, booked in the morning), the rest up to 60 days ahead.
    let lead = 0;
    if (rng.chance(0.35)) {
      v.scheduledMinute = 420 + rng.int(240);
    } else {
      lead = 1 + (Math.floor(-Math.log(1 - rng.next()) * 12) % MAX_LEAD_DAYS);
      v.scheduledMinute = 420 + rng.int(660);
    }
    v.leadDays = lead;
    v.scheduledSecond = rng.int(60);
    // SMS reminders go out for bookings at least 3 days ahead, more often the further ahead.
    const sms = lead >= 3 && rng.chance(0.45 + (0.3 * Math.min(lead, 30)) / 30);
    v.sms = sms;
    const doctor = ctx.picker.pick(rng, ageYears, p.female);
    v.doctor = doctor;
    v.noShow = rng.chance(NO_SHOW[(leadBucket(lead) * 2 + (sms ? 1 : 0)) * 4 + ageGroup(ageYears)] as number);
    if (depth === Depth.Appointment || v.noShow) return v;

    // Record: chronic conditions steer primary care and cardiology toward their diagnosis.
    const dx = DIAGNOSIS_TABLES[doctor.specialtyIndex] as (typeof DIAGNOSIS_TABLES)[number];
    const steer = rng.next();
    const si = doctor.specialtyIndex;
    if (p.hypertension && (si === GP || si === CARDIOLOGY) && steer < 0.4 && dx.hypertension >= 0) {
      v.diagnosis = dx.hypertension;
    } else if (p.diabetes && si === GP && steer < 0.7 && dx.diabetes >= 0) {
      v.diagnosis = dx.diabetes;
    } else {
      v.diagnosis = dx.table.pick(rng);
    }
    // Lognormal-ish around the diagnosis mean (sigma 0.35, mean-preserving).
    const amount = (dx.means[v.diagnosis] as number) * Math.exp(0.35 * rng.normal() - 0.06125);
    v.amountCents = Math.max(1, Math.round(amount * 100));
    if (depth === Depth.Record) return v;

    // Feedback: ~30% of attended visits; the rating follows the doctor's stable quality.
    v.hasFeedback = rng.chance(0.3);
    if (!v.hasFeedback) return v;
    const latent = 3.75 + 0.55 * doctor.quality + 0.85 * rng.normal();
    const rating = Math.max(1, Math.min(5, Math.round(latent)));
    v.rating = rating;
    if (rng.chance(0.35)) {
      v.comment =
        rating >= 4
          ? rng.int(NEUTRAL_FROM)
          : rating === 3
            ? NEUTRAL_FROM + rng.int(BAD_FROM - NEUTRAL_FROM)
            : BAD_FROM + rng.int(COMMENT_POOL.length - BAD_FROM);
    } else {
      v.comment = -1;
    }
    v.submittedSecond = 12 * 3600 + rng.int(12 * 3600);
    return v;
  }
}
