/**
 * marts.doctor_rating on the hand-made fixture (test/support/dbt-fixture.ts), against the real local PostgreSQL and
 * the real dbt binary: the ranking of a full build as of B2 computed by hand, then one ranking per run date kept
 * incrementally. Runs on a copy of the built fixture (test/support/dbt-built.ts).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { DBT_PROJECT_DIR, createDbtActivities, dbtProfileEnv, resolveDbtBin } from '../../../../src/activities/dbt.js';
import { rowsOf, useBuiltFixture } from '../../../support/dbt-built.js';
import { B1, B2 } from '../../../support/dbt-fixture.js';

describe('marts.doctor_rating', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_rating');

  test('the ranking as of B2: shrunk ratings and billing per patient within the specialty, computed by hand', async () => {
    // doctor_rating as of B2 (90-day window covers everything), C = 10:
    //   m = (5+3+4+2)/4 = 3.5; shrunk D1 = (35+12)/13 = 3.6154, D2 = (35+2)/11 = 3.3636, D3 = 35/10 = 3.5
    //   billing per patient D1 520.50/3 = 173.50 (only cardiologist -> index 1 -> 0.5),
    //   D2 60/2 = 30.00 and D3 80/1 = 80.00 (pediatrics mean 55 -> parts 0.2727 and 0.7273)
    //   score D1 = 100*(0.75*0.65385 + 0.25*0.5) = 61.54, D2 = 100*(0.75*0.59091 + 0.25*0.27273) = 51.14,
    //         D3 = 100*(0.75*0.625 + 0.25*0.72727) = 65.06
    const { rows } = fixture();
    const rating =
      await rows(`select doctor_id, full_name, specialty, clinic_name, rating_count, avg_rating::text, patients,
              billing_per_patient_amount::text, score::text, score_rank, shrunk_rating::text,
              as_of_on::text, window_start_on::text
         from marts.doctor_rating order by score_rank`);
    assert.deepEqual(rating, [
      {
        doctor_id: 'D3',
        full_name: 'Carla Dias',
        specialty: 'pediatrics',
        clinic_name: 'South Clinic',
        rating_count: '0',
        avg_rating: null,
        patients: '1',
        billing_per_patient_amount: '80.00',
        score: '65.06',
        score_rank: '1',
        shrunk_rating: '3.5000',
        as_of_on: B2,
        window_start_on: '2025-12-03',
      },
      {
        doctor_id: 'D1',
        full_name: 'Ana Souza',
        specialty: 'cardiology',
        clinic_name: 'North Clinic',
        rating_count: '3',
        avg_rating: '4.00',
        patients: '3',
        billing_per_patient_amount: '173.50',
        score: '61.54',
        score_rank: '2',
        shrunk_rating: '3.6154',
        as_of_on: B2,
        window_start_on: '2025-12-03',
      },
      {
        doctor_id: 'D2',
        full_name: 'Bruno Lima',
        specialty: 'pediatrics',
        clinic_name: 'South Clinic',
        rating_count: '1',
        avg_rating: '2.00',
        patients: '2',
        billing_per_patient_amount: '30.00',
        score: '51.14',
        score_rank: '3',
        shrunk_rating: '3.3636',
        as_of_on: B2,
        window_start_on: '2025-12-03',
      },
    ]);
  });

  test('doctor_rating keeps one ranking per run date; a rerun replaces its own date; a full refresh starts over', async () => {
    const { db, config, dataDir } = fixture();
    const { runDbt } = createDbtActivities({ config });
    const ranking = async (asOf: string) =>
      await rowsOf(
        db,
        `select doctor_id, rating_count, score::text, score_rank, shrunk_rating::text, window_start_on::text
             from marts.doctor_rating where as_of_on = $1 order by score_rank`,
        [asOf],
      );
    const dates = async () =>
      await rowsOf(
        db,
        `select as_of_on::text as as_of_on, count(*)::int as n from marts.doctor_rating group by 1 order by 1`,
      );
    const b2Before = await ranking(B2);
    assert.equal(b2Before.length, 3, 'the build as of B2 made its ranking');

    // As of B1 (window 2025-11-30 .. 2026-02-27): A1 (D1, 150.00, rated 5 on B1), A2 (D1, no-show), A3 (D3, 80.00).
    // m = 5, so both shrunk ratings are 5; each doctor is alone in his specialty (billing part 0.5):
    // score 100 * (0.75 * 1 + 0.25 * 0.5) = 87.50 for both; the tie goes to the lower doctor_id.
    const b1 = await runDbt({ runDate: B1, select: 'doctor_rating' });
    assert.equal(b1.success, true);
    assert.equal(b1.modelsBuilt, 1);
    const b1Expected = [
      {
        doctor_id: 'D1',
        rating_count: '1',
        score: '87.50',
        score_rank: '1',
        shrunk_rating: '5.0000',
        window_start_on: '2025-11-30',
      },
      {
        doctor_id: 'D3',
        rating_count: '0',
        score: '87.50',
        score_rank: '2',
        shrunk_rating: '5.0000',
        window_start_on: '2025-11-30',
      },
    ];
    assert.deepEqual(await ranking(B1), b1Expected);
    assert.deepEqual(await ranking(B2), b2Before, 'building B1 must leave the B2 ranking as it was');
    assert.deepEqual(await dates(), [
      { as_of_on: B1, n: 2 },
      { as_of_on: B2, n: 3 },
    ]);

    // A rerun of B1 replaces B1's rows (no duplicates: the per-date uniqueness tests passed inside the build too).
    const again = await runDbt({ runDate: B1, select: 'doctor_rating' });
    assert.ok(again.testsPassed >= 10, `doctor_rating's tests ran: ${again.testsPassed}`);
    assert.deepEqual(await ranking(B1), b1Expected);
    assert.deepEqual(await dates(), [
      { as_of_on: B1, n: 2 },
      { as_of_on: B2, n: 3 },
    ]);

    // --full-refresh recreates the table with the run date's ranking only.
    const full = await execa(
      resolveDbtBin(config),
      [
        'build',
        '--select',
        'doctor_rating',
        '--full-refresh',
        '--vars',
        JSON.stringify({ run_date: B2 }),
        ...['--project-dir', DBT_PROJECT_DIR, '--profiles-dir', DBT_PROJECT_DIR, '--no-use-colors'],
        ...['--target-path', path.join(dataDir, 'full-refresh'), '--log-path', path.join(dataDir, 'full-refresh')],
      ],
      { env: { ...process.env, ...dbtProfileEnv(config) }, reject: false, all: true },
    );
    assert.equal(full.exitCode, 0, full.all);
    assert.deepEqual(await dates(), [{ as_of_on: B2, n: 3 }]);
    assert.deepEqual(await ranking(B2), b2Before);
  });
});
