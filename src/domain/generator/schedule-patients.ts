/**
 * Who tomorrow's schedule holds, without generating or loading it: the appointments of the weekday after `runDate`
 * booked on or before `runDate`, derived exactly as the `schedule` part files derive them (stream.ts, fillSchedule),
 * with each appointment's true no-show probability (the patient's latent propensity, age, lead time and SMS; no
 * reminder). The demo's simulated patients use it to link before the day's run, as real patients would have linked
 * before their appointment was scored.
 */
import { appointmentsPerDay } from '../shards.js';
import type { ScaleInput } from '../types.js';
import { parseDayIndex } from './calendar.js';
import { ID_DAY_STRIDE } from './patients.js';
import { PATIENT_ID_STRIDE } from './population.js';
import { nextWeekday } from './stream.js';
import { buildDayContext, Depth, VisitDeriver } from './visits.js';

/** One appointment of tomorrow's schedule. */
export interface ScheduledAppointment {
  appointmentId: number;
  patientId: number;
  /** The probability its no-show is drawn with when nobody reminds the patient (the truth file's value). */
  noShowProbability: number;
}

/**
 * The appointments raw.schedule gets for `runDate` (a pure function of seed, date and scale, as every generated row
 * is). Costs one appointment derivation per appointment of the day: about 1 ms per thousand.
 */
export function scheduledAppointments(seed: number, runDate: string, scale: ScaleInput): ScheduledAppointment[] {
  const day = parseDayIndex(runDate);
  if (day === undefined) throw new Error(`runDate must be a calendar date YYYY-MM-DD, got ${JSON.stringify(runDate)}`);
  const visitDay = nextWeekday(day);
  const appointments = appointmentsPerDay(scale);
  const deriver = new VisitDeriver(buildDayContext(seed, visitDay, appointments));
  const minLead = visitDay - day;
  const out: ScheduledAppointment[] = [];
  for (let i = 0; i < appointments; i++) {
    const v = deriver.derive(i, Depth.Appointment);
    if (v.leadDays < minLead) continue;
    out.push({
      appointmentId: visitDay * ID_DAY_STRIDE + i,
      patientId: v.patient.tenure * PATIENT_ID_STRIDE + v.patient.slot,
      noShowProbability: v.noShowProbability,
    });
  }
  return out;
}
