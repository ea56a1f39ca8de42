/**
 * A hand-written scored schedule for the reminder tests and recordings: what the pipeline leaves for a run date
 * after predictNoShows (raw.schedule, raw.doctors, raw.clinics of the batch, marts.no_show_risk scored on it), at a
 * size of a few rows, with one clinic and one doctor whose shift start is the appointments' start.
 */
import type { Warehouse } from '../../src/activities/warehouse/index.js';

export interface ScoredAppointment {
  appointmentId: number;
  patientId: number;
  probability: number;
}

/**
 * Replaces `runDate`'s batch rows of those tables with one clinic, one doctor starting at `shift` (HH:MM:SS) and
 * `appointments` on `appointmentOn` scored on `runDate`. Creates the tables when missing.
 */
export async function writeScoredSchedule(
  warehouse: Warehouse,
  opts: {
    runDate: string;
    appointmentOn: string;
    shift: string;
    doctorName: string;
    clinicName: string;
    appointments: ScoredAppointment[];
  },
): Promise<void> {
  const { runDate, appointmentOn } = opts;
  await warehouse.ensureRawTables();
  await warehouse.ensureModelTables();
  const q = (sql: string, params: unknown[]) => warehouse.query(sql, params);
  for (const table of ['raw.schedule', 'raw.doctors', 'raw.clinics']) {
    await q(`delete from ${table} where batch_date = $1`, [runDate]);
  }
  await q(`delete from marts.no_show_risk where scored_on = $1`, [runDate]);
  await q(
    `insert into raw.clinics (clinic_id, clinic_name, neighbourhood, capacity, opened_on, batch_date)
     values (1, $1, 'CENTRO', 10, '2000-01-01', $2)`,
    [opts.clinicName, runDate],
  );
  await q(
    `insert into raw.doctors (doctor_id, full_name, specialty, clinic_id, shift_start, shift_end, hired_on, batch_date)
     values (1, $1, 'general_practice', 1, $2, '23:59:59', '2000-01-01', $3)`,
    [opts.doctorName, opts.shift, runDate],
  );
  for (const a of opts.appointments) {
    await q(
      `insert into raw.schedule (appointment_id, patient_id, doctor_id, scheduled_at, appointment_day, sms_received, batch_date)
       values ($1, $2, 1, $3, $4, false, $5)`,
      [a.appointmentId, a.patientId, `${runDate} 09:00:00`, appointmentOn, runDate],
    );
    await q(
      `insert into marts.no_show_risk (appointment_id, appointment_day, doctor_id, clinic_id, probability, risk_decile, model_version, scored_on)
       values ($1, $2, '1', '1', $3, 10, 'fixture', $4)`,
      [String(a.appointmentId), appointmentOn, a.probability, runDate],
    );
  }
}
