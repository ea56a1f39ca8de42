/**
 * stg_telegram_ratings under retention, on a copy of the built fixture (test/support/dbt-built.ts) against the real
 * local PostgreSQL and dbt: a rating whose appointment is older than the oldest appointments batch left (retention
 * deleted the appointment) is not a Telegram rating any more, so the relationships test to stg_appointments, which
 * the weekly full test run checks, keeps passing; the ratings of appointments still there stay.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { DBT_PROJECT_DIR, dbtProfileEnv, resolveDbtBin } from '../../../src/activities/dbt.js';
import { addDays } from '../../../src/domain/dates.js';
import { useBuiltFixture } from '../../support/dbt-built.js';
import { B1, B2 } from '../../support/dbt-fixture.js';

describe('stg_telegram_ratings and retention', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_tg_retention');

  test('a rating older than the oldest appointments batch is left out; the relationships test passes', async () => {
    const { db, config, dataDir, rows } = fixture();
    // The fixture's appointment ids are text ('A1'); raw.rating_requests keys by bigint in the warehouse. The view
    // goes while the column changes type; the build below makes it again.
    await db.query('drop view staging.stg_telegram_ratings');
    await db.query('alter table raw.rating_requests alter column appointment_id type text');
    const rate = (id: string, day: string) =>
      db.query(
        `insert into raw.rating_requests
           (appointment_id, patient_id, appointment_day, status, rating, comment, answered_at, recorded_at)
         values ($1, 1, $2, 'rated', 4, null, $3, $3)`,
        [id, day, `${day} 19:00:00`],
      );
    await rate('A1', B1); // its appointment is in the B1 batch
    await rate('A6', B2);
    // A0 was an appointment of a day retention has since deleted (a day before the oldest batch left).
    await rate('A0', addDays(B1, -400));

    const dbtTest = await execa(
      resolveDbtBin(config),
      [
        'build',
        '--select',
        'stg_telegram_ratings',
        '--vars',
        JSON.stringify({ run_date: B2 }),
        ...['--project-dir', DBT_PROJECT_DIR, '--profiles-dir', DBT_PROJECT_DIR, '--no-use-colors'],
        ...['--target-path', path.join(dataDir, 'tg-test'), '--log-path', path.join(dataDir, 'tg-test')],
      ],
      { env: { ...process.env, ...dbtProfileEnv(config) }, reject: false, all: true },
    );
    assert.equal(dbtTest.exitCode, 0, dbtTest.all);
    assert.match(dbtTest.all ?? '', /PASS relationships_stg_telegram_ratings_appointment_id/);
    assert.deepEqual(
      await rows(`select appointment_id, appointment_on::text from staging.stg_telegram_ratings order by 1`),
      [
        { appointment_id: 'A1', appointment_on: B1 },
        { appointment_id: 'A6', appointment_on: B2 },
      ],
    );
  });
});
