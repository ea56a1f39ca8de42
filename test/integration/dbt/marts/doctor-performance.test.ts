/**
 * marts.doctor_performance on the hand-made fixture (test/support/dbt-fixture.ts) after a full dbt build as of B2, against the real
 * local PostgreSQL: a copy of the built fixture (test/support/dbt-built.ts), checked against numbers computed by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useBuiltFixture } from '../../../support/dbt-built.js';

describe('marts.doctor_performance', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_perf');

  test('one row per doctor and month: appointments, no-shows, billing and ratings computed by hand', async () => {
    const { rows } = fixture();
    const perf =
      await rows(`select doctor_id, to_char(month_start_on, 'YYYY-MM') as month, full_name, clinic_name, appointments, patients,
              no_shows, no_show_rate::text, billing_total_amount::text, avg_billing_per_patient_amount::text,
              avg_rating::text, rating_count
         from marts.doctor_performance order by month, doctor_id`);
    assert.deepEqual(perf, [
      // D1 in February: A1 (P1, attended, 150.00, rated 5) and A2 (P2, no-show).
      {
        doctor_id: 'D1',
        month: '2026-02',
        full_name: 'Ana Souza',
        clinic_name: 'North Clinic',
        appointments: '2',
        patients: '2',
        no_shows: '1',
        no_show_rate: '0.5000',
        billing_total_amount: '150.00',
        avg_billing_per_patient_amount: '75.00',
        avg_rating: '5.00',
        rating_count: '1',
      },
      // D3 left after the first batch but keeps February: A3 (P2, 80.00, not rated).
      {
        doctor_id: 'D3',
        month: '2026-02',
        full_name: 'Carla Dias',
        clinic_name: 'South Clinic',
        appointments: '1',
        patients: '1',
        no_shows: '0',
        no_show_rate: '0.0000',
        billing_total_amount: '80.00',
        avg_billing_per_patient_amount: '80.00',
        avg_rating: null,
        rating_count: '0',
      },
      // D1 in March: A4 (P1, 250.50, rated 3) and A5 (P3, 120.00, rated 4).
      {
        doctor_id: 'D1',
        month: '2026-03',
        full_name: 'Ana Souza',
        clinic_name: 'North Clinic',
        appointments: '2',
        patients: '2',
        no_shows: '0',
        no_show_rate: '0.0000',
        billing_total_amount: '370.50',
        avg_billing_per_patient_amount: '185.25',
        avg_rating: '3.50',
        rating_count: '2',
      },
      // D2 in March: A6 (P4, 60.00, rated 2) and A7 (P3, no-show).
      {
        doctor_id: 'D2',
        month: '2026-03',
        full_name: 'Bruno Lima',
        clinic_name: 'South Clinic',
        appointments: '2',
        patients: '2',
        no_shows: '1',
        no_show_rate: '0.5000',
        billing_total_amount: '60.00',
        avg_billing_per_patient_amount: '30.00',
        avg_rating: '2.00',
        rating_count: '1',
      },
    ]);
  });
});
