/**
 * marts.patient_conditions_monthly on the hand-made fixture (test/support/dbt-fixture.ts) after a full dbt build as of B2, against the real
 * local PostgreSQL: a copy of the built fixture (test/support/dbt-built.ts), checked against numbers computed by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useBuiltFixture } from '../../../support/dbt-built.js';

describe('marts.patient_conditions_monthly', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_conditions');

  test('one row per month and diagnosis with the numbers computed by hand', async () => {
    const { rows } = fixture();
    const conditions =
      await rows(`select to_char(month_start_on, 'YYYY-MM') as month, diagnosis, records, patients, billing_total_amount::text,
              patients_with_hypertension, patients_with_diabetes, patients_with_handicap
         from marts.patient_conditions_monthly order by month, diagnosis`);
    assert.deepEqual(conditions, [
      {
        month: '2026-02',
        diagnosis: 'bronchitis',
        records: '1',
        patients: '1',
        billing_total_amount: '80.00',
        patients_with_hypertension: '0',
        patients_with_diabetes: '0',
        patients_with_handicap: '0',
      },
      {
        month: '2026-02',
        diagnosis: 'hypertension',
        records: '1',
        patients: '1',
        billing_total_amount: '150.00',
        patients_with_hypertension: '1',
        patients_with_diabetes: '0',
        patients_with_handicap: '0',
      },
      {
        month: '2026-03',
        diagnosis: 'arrhythmia',
        records: '1',
        patients: '1',
        billing_total_amount: '120.00',
        patients_with_hypertension: '0',
        patients_with_diabetes: '0',
        patients_with_handicap: '1',
      },
      {
        month: '2026-03',
        diagnosis: 'bronchitis',
        records: '1',
        patients: '1',
        billing_total_amount: '60.00',
        patients_with_hypertension: '1',
        patients_with_diabetes: '1',
        patients_with_handicap: '0',
      },
      {
        month: '2026-03',
        diagnosis: 'hypertension',
        records: '1',
        patients: '1',
        billing_total_amount: '250.50',
        patients_with_hypertension: '1',
        patients_with_diabetes: '0',
        patients_with_handicap: '0',
      },
    ]);
  });
});
