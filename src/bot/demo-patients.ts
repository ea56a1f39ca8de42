/**
 * How the demo's simulated patients behave (`npm run demo -- --days N`): who links before their appointment, and
 * which button each presses on a reminder or a rating request. Pure functions of (seed, patient, appointment) through
 * {@link draw} / {@link choose}, so a seed gives the same links and answers on every run and machine; the patient's
 * true no-show probability (the generator's latent propensity, with age, lead time and SMS) makes a patient likely
 * to miss the appointment also likely to cancel it or to leave the reminder unanswered, as the public data's
 * no-show patients are less reachable.
 */
import type { ScheduledAppointment } from '../domain/generator/index.js';
import { choose, planPatients } from './simulator.js';

/** Share of the schedule's patients who link when nothing else is said (`--link-share`). */
export const DEFAULT_LINK_SHARE = 0.6;

/** A patient of tomorrow's schedule who opens their deep link, in the language their Telegram is set to. */
export interface PlannedLink {
  patientId: number;
  languageCode: string;
}

/**
 * The patients of `schedule` who link (each about `linkShare` of the time, the same ones for a seed), minus those in
 * `linked` already, in the schedule's order, at most `limit`. A patient with two appointments is planned once.
 */
export function plannedLinks(
  schedule: readonly ScheduledAppointment[],
  opts: { seed: number; linkShare: number; linked?: ReadonlySet<number>; limit?: number },
): PlannedLink[] {
  const ids = [...new Set(schedule.map((a) => a.patientId))].filter((id) => !opts.linked?.has(id));
  const plan = planPatients(ids, { seed: opts.seed, linkShare: opts.linkShare });
  return plan
    .filter((p) => p.links)
    .slice(0, opts.limit ?? Number.POSITIVE_INFINITY)
    .map((p) => ({ patientId: p.patientId, languageCode: p.languageCode }));
}

/** What a patient does with a reminder: press Confirm, press Cancel, or leave it. */
export type ReminderReply = 'confirm' | 'cancel' | 'ignore';

/**
 * The reply to the reminder of appointment `appointmentId` from a patient whose no-show probability is
 * `noShowProbability`: ignored with 0.15 + 0.6 p, cancelled with 0.05 + 0.35 p, confirmed otherwise (at least 5%).
 * At the schedule's typical p of 0.2 that is about 27% ignored, 12% cancelled and 61% confirmed.
 */
export function reminderReply(
  seed: number,
  patientId: number,
  appointmentId: number,
  noShowProbability: number,
): ReminderReply {
  const p = Math.min(1, Math.max(0, noShowProbability));
  const ignore = 0.15 + 0.6 * p;
  const cancel = 0.05 + 0.35 * p;
  const confirm = Math.max(0.05, 1 - ignore - cancel);
  return choose(seed, patientId, `reminder:${appointmentId}`, ['confirm', 'cancel', 'ignore'] as const, [
    confirm,
    cancel,
    ignore,
  ]);
}

/** Stars pressed on a rating request when the patient answers (most visits are rated well, as in the feedback). */
const STAR_WEIGHTS = [0.04, 0.06, 0.15, 0.35, 0.4];

/**
 * The stars (1–5) a patient presses on the rating request of `appointmentId`, or undefined when they leave it:
 * left with 0.2 + 0.4 p, where p is the appointment's no-show probability when known (else 0.2).
 */
export function ratingReply(
  seed: number,
  patientId: number,
  appointmentId: number,
  noShowProbability = 0.2,
): number | undefined {
  const p = Math.min(1, Math.max(0, noShowProbability));
  const answers = choose(seed, patientId, `rating-answers:${appointmentId}`, [true, false] as const, [
    0.8 - 0.4 * p,
    0.2 + 0.4 * p,
  ]);
  if (!answers) return undefined;
  return choose(seed, patientId, `rating:${appointmentId}`, [1, 2, 3, 4, 5] as const, STAR_WEIGHTS);
}
