/**
 * marts.appointments_monthly on the hand-made fixture (test/support/dbt-fixture.ts) after a full dbt build as of B2, against the real
 * local PostgreSQL: a copy of the built fixture (test/support/dbt-built.ts), checked against numbers computed by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useBuiltFixture } from '../../../support/dbt-built.js';

describe('marts.appointments_monthly', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_monthly');

  test('one row per month and clinic with the numbers computed by hand', async () => {
    const { rows } = fixture();
    const monthly =
      await rows(`select to_char(month_start_on, 'YYYY-MM') as month, clinic_id, appointments, attended_appointments, no_shows,
              sms_reminders, patients, doctors, billing_total_amount::text
         from marts.appointments_monthly order by month, clinic_id`);
    assert.deepEqual(monthly, [
      {
        month: '2026-02',
        clinic_id: 'C1',
        appointments: '2',
        attended_appointments: '1',
        no_shows: '1',
        sms_reminders: '1',
        patients: '2',
        doctors: '1',
        billing_total_amount: '150.00',
      },
      {
        month: '2026-02',
        clinic_id: 'C2',
        appointments: '1',
        attended_appointments: '1',
        no_shows: '0',
        sms_reminders: '1',
        patients: '1',
        doctors: '1',
        billing_total_amount: '80.00',
      },
      {
        month: '2026-03',
        clinic_id: 'C1',
        appointments: '2',
        attended_appointments: '2',
        no_shows: '0',
        sms_reminders: '1',
        patients: '2',
        doctors: '1',
        billing_total_amount: '370.50',
      },
      {
        month: '2026-03',
        clinic_id: 'C2',
        appointments: '2',
        attended_appointments: '1',
        no_shows: '1',
        sms_reminders: '1',
        patients: '2',
        doctors: '1',
        billing_total_amount: '60.00',
      },
    ]);
  });
});
