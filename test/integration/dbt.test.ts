/**
 * The dbt project and the runDbt activity against the real local PostgreSQL and the real dbt binary.
 *
 * Each run creates its own database (hs_dbt_test_<random>) with raw tables built from the entity definitions and
 * a small hand-made fixture, runs `dbt build` through runDbt, checks the marts against numbers computed by hand,
 * then breaks a relationship and expects a DbtTestFailure naming the failing tests. The database is dropped at the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config.js';
import { DBT_PROJECT_DIR, createDbtActivities, dbtProfileEnv, resolveDbtBin } from '../../src/activities/dbt.js';
import type { DbtSummary } from '../../src/domain/types.js';
import { RAW_SCHEMA } from '../../src/domain/entities.js';
import { ensureDbt } from '../../src/stack/toolchain.js';
import { B1, B2, appt, createFixtureDatabase, insertRows, type FixtureDatabase } from '../support/dbt-fixture.js';

describe('dbt project on PostgreSQL', { timeout: 600_000 }, () => {
  let fixture: FixtureDatabase;
  let dbName: string;
  let db: pg.Client;
  let config: Config;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-dbt-test-'));
    fixture = await createFixtureDatabase('hs_dbt_test', dataDir);
    dbName = fixture.name;
    config = fixture.config;
    db = new pg.Client({ connectionString: fixture.url });
    await db.connect();
  });

  after(async () => {
    await db?.end();
    await fixture?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('dbt debug connects and dbt parse succeeds for both targets', async () => {
    const bin = resolveDbtBin(config);
    const env = { ...process.env, ...dbtProfileEnv(config) };
    const common = ['--project-dir', DBT_PROJECT_DIR, '--profiles-dir', DBT_PROJECT_DIR, '--no-use-colors'];
    const debugArgs = ['debug', '--log-path', path.join(dataDir, 'debug-logs'), ...common];
    const debug = await execa(bin, debugArgs, { env, reject: false, all: true });
    assert.equal(debug.exitCode, 0, debug.all);
    assert.match(debug.all ?? '', /Connection test: \[OK connection ok\]/);
    assert.match(debug.all ?? '', new RegExp(`database: ${dbName}\\b`));

    for (const target of ['local', 'redshift']) {
      const targetPath = path.join(dataDir, `parse-${target}`);
      const parse = await execa(
        bin,
        ['parse', '--target', target, '--target-path', targetPath, '--log-path', targetPath, ...common],
        {
          env,
          reject: false,
          all: true,
        },
      );
      assert.equal(parse.exitCode, 0, parse.all);
      assert.doesNotMatch(parse.all ?? '', /deprecat/i, 'the project uses no deprecated dbt syntax');
    }
  });

  test('runDbt builds the marts with the numbers computed by hand', async () => {
    // Through Temporal's activity test environment, so the heartbeats dbt's progress feeds are observed too.
    const { runDbt } = createDbtActivities({ config, heartbeatIntervalMs: 500 });
    const activityEnv = new MockActivityEnvironment({ activityId: `dbt-${randomUUID()}` });
    const heartbeats: { done: number; total: number; last: string }[] = [];
    activityEnv.on('heartbeat', (d: { done: number; total: number; last: string }) => heartbeats.push(d));
    const started = Date.now();
    const summary = (await activityEnv.run(runDbt, { runDate: B2 })) as DbtSummary;
    console.log(
      `dbt build: ${summary.elapsedSeconds} s in dbt, ${(Date.now() - started) / 1000} s wall`,
      JSON.stringify({ ...summary, slowest: summary.slowest.map((n) => `${n.uniqueId} ${n.seconds}s`) }),
    );

    assert.equal(summary.success, true);
    assert.equal(summary.modelsBuilt, 13);
    assert.equal(summary.testsFailed, 0);
    assert.equal(summary.unitTestsPassed, 4);
    assert.ok(summary.testsPassed > 100, `expected the full test suite to run, got ${summary.testsPassed}`);
    assert.deepEqual(summary.failingTests, []);
    assert.equal(summary.slowest.length, 5);
    assert.match(summary.command, /^dbt build --target local --vars \{"run_date":"2026-03-02"\}$/);
    assert.ok(heartbeats.length >= 2, `expected heartbeats while dbt ran, got ${heartbeats.length}`);
    assert.ok(
      heartbeats.some((h) => h.total > 0 && h.done > 0 && /^\d+ of \d+ (OK|PASS)/.test(h.last)),
      `heartbeats should carry dbt's progress: ${JSON.stringify(heartbeats.at(-1))}`,
    );

    const perf = await db.query(
      `select doctor_id, to_char(month_start_on, 'YYYY-MM') as month, full_name, clinic_name, appointments, patients,
              no_shows, no_show_rate::text, billing_total_amount::text, avg_billing_per_patient_amount::text,
              avg_rating::text, rating_count
         from marts.doctor_performance order by month, doctor_id`,
    );
    assert.deepEqual(
      perf.rows.map((r) => ({ ...r })),
      [
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
      ],
    );

    // doctor_rating as of B2 (90-day window covers everything), C = 10:
    //   m = (5+3+4+2)/4 = 3.5; shrunk D1 = (35+12)/13 = 3.6154, D2 = (35+2)/11 = 3.3636, D3 = 35/10 = 3.5
    //   billing per patient D1 520.50/3 = 173.50 (only cardiologist -> index 1 -> 0.5),
    //   D2 60/2 = 30.00 and D3 80/1 = 80.00 (pediatrics mean 55 -> parts 0.2727 and 0.7273)
    //   score D1 = 100*(0.75*0.65385 + 0.25*0.5) = 61.54, D2 = 100*(0.75*0.59091 + 0.25*0.27273) = 51.14,
    //         D3 = 100*(0.75*0.625 + 0.25*0.72727) = 65.06
    const rating = await db.query(
      `select doctor_id, full_name, specialty, clinic_name, rating_count, avg_rating::text, patients,
              billing_per_patient_amount::text, score::text, score_rank, shrunk_rating::text,
              as_of_on::text, window_start_on::text
         from marts.doctor_rating order by score_rank`,
    );
    assert.deepEqual(
      rating.rows.map((r) => ({ ...r })),
      [
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
      ],
    );

    const monthly = await db.query(
      `select to_char(month_start_on, 'YYYY-MM') as month, clinic_id, appointments, attended_appointments, no_shows,
              sms_reminders, patients, doctors, billing_total_amount::text
         from marts.appointments_monthly order by month, clinic_id`,
    );
    assert.deepEqual(
      monthly.rows.map((r) => ({ ...r })),
      [
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
      ],
    );

    const conditions = await db.query(
      `select to_char(month_start_on, 'YYYY-MM') as month, diagnosis, records, patients, billing_total_amount::text,
              patients_with_hypertension, patients_with_diabetes, patients_with_handicap
         from marts.patient_conditions_monthly order by month, diagnosis`,
    );
    assert.deepEqual(
      conditions.rows.map((r) => ({ ...r })),
      [
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
      ],
    );

    // Lead times: A1 7 d, A2 0 d, A3 26 d, A4 5 d, A5 1 d, A6 0 d, A7 51 d. Ages on the day: P1 65, P2 24, P3 10, P4 41.
    const noShow = await db.query(
      `select lead_time_bucket, age_band, has_sms_reminder, appointments, no_shows, no_show_rate::text
         from marts.no_show_rates order by lead_time_bucket, age_band, has_sms_reminder`,
    );
    assert.deepEqual(
      noShow.rows.map((r) => ({ ...r })),
      [
        {
          lead_time_bucket: '00 same day',
          age_band: '18-29',
          has_sms_reminder: false,
          appointments: '1',
          no_shows: '1',
          no_show_rate: '1.0000',
        },
        {
          lead_time_bucket: '00 same day',
          age_band: '30-44',
          has_sms_reminder: false,
          appointments: '1',
          no_shows: '0',
          no_show_rate: '0.0000',
        },
        {
          lead_time_bucket: '01-02 days',
          age_band: '00-12',
          has_sms_reminder: false,
          appointments: '1',
          no_shows: '0',
          no_show_rate: '0.0000',
        },
        {
          lead_time_bucket: '03-07 days',
          age_band: '60-74',
          has_sms_reminder: true,
          appointments: '2',
          no_shows: '0',
          no_show_rate: '0.0000',
        },
        {
          lead_time_bucket: '15-30 days',
          age_band: '18-29',
          has_sms_reminder: true,
          appointments: '1',
          no_shows: '0',
          no_show_rate: '0.0000',
        },
        {
          lead_time_bucket: '31+ days',
          age_band: '00-12',
          has_sms_reminder: true,
          appointments: '1',
          no_shows: '1',
          no_show_rate: '1.0000',
        },
      ],
    );

    // Staging keeps the latest snapshot per key: C2's new name, D3 kept but no longer current.
    const staging = await db.query(
      `select (select clinic_name from staging.stg_clinics where clinic_id = 'C2') as c2,
              (select is_current from staging.stg_doctors where doctor_id = 'D3') as d3_current,
              (select count(*) from staging.stg_patients) as patients,
              (select count(*) from staging.stg_feedback where comment is null) as empty_comments`,
    );
    assert.deepEqual(
      { ...staging.rows[0] },
      { c2: 'South Clinic', d3_current: false, patients: '4', empty_comments: '2' },
    );
  });

  test('doctor_rating keeps one ranking per run date; a rerun replaces its own date; a full refresh starts over', async () => {
    const { runDbt } = createDbtActivities({ config });
    const ranking = async (asOf: string) =>
      (
        await db.query(
          `select doctor_id, rating_count, score::text, score_rank, shrunk_rating::text, window_start_on::text
             from marts.doctor_rating where as_of_on = $1 order by score_rank`,
          [asOf],
        )
      ).rows.map((r) => ({ ...r }));
    const dates = async () =>
      (
        await db.query(
          `select as_of_on::text as as_of_on, count(*)::int as n from marts.doctor_rating group by 1 order by 1`,
        )
      ).rows.map((r) => ({ ...r }));
    const b2Before = await ranking(B2);
    assert.equal(b2Before.length, 3, 'the previous test built the ranking as of B2');

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

  test('a broken relationship fails runDbt with DbtTestFailure naming the tests', async () => {
    const { runDbt } = createDbtActivities({ config });
    // In a published day (an unpublished one is invisible to staging and raw tests alike).
    const orphan = appt('A-ORPHAN', 'P-MISSING', 'D1', '2026-03-01 10:00:00', B2, false, false, B2);
    await insertRows(db, 'appointments', [orphan]);
    try {
      await assert.rejects(runDbt({ runDate: '2026-03-03' }), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
        assert.equal(err.type, 'DbtTestFailure');
        assert.equal(err.nonRetryable, true);
        console.log(err.message);
        assert.match(err.message, /^dbt tests failed: /);
        assert.match(err.message, /relationships_stg_appointments_patient_id__patient_id__ref_stg_patients_/);
        assert.match(err.message, /source_relationships_raw_appointments_patient_id__patient_id__source_raw_patients_/);
        const summary = err.details?.[0] as { testsFailed: number; success: boolean; failingTests: string[] };
        assert.equal(summary.success, false);
        assert.equal(summary.testsFailed, summary.failingTests.length);
        assert.ok(summary.testsFailed >= 2);
        return true;
      });
    } finally {
      await db.query(`delete from ${RAW_SCHEMA}.appointments where appointment_id = 'A-ORPHAN'`);
    }
  });

  test('cancelling runDbt kills the dbt process', async () => {
    const { runDbt } = createDbtActivities({ config, heartbeatIntervalMs: 200 });
    const activityEnv = new MockActivityEnvironment({ activityId: `dbt-cancel-${randomUUID()}` });
    const running = activityEnv.run(runDbt, { runDate: B2 });
    // Wait until dbt itself is running (its process has our per-run target path on its command line).
    const dbtProcesses = async (): Promise<string[]> => {
      const ps = await execa('ps', ['-eo', 'pid=,args=']);
      return ps.stdout
        .split('\n')
        .filter((line) => line.includes(path.join(dataDir, 'dbt')) && line.includes(' build '));
    };
    for (let i = 0; i < 100 && (await dbtProcesses()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok((await dbtProcesses()).length > 0, 'dbt should be running before the cancel');
    const cancelledAt = Date.now();
    activityEnv.cancel();
    await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
    const seconds = (Date.now() - cancelledAt) / 1000;
    assert.ok(seconds < 12, `dbt took ${seconds} s to stop`);
    assert.deepEqual(await dbtProcesses(), [], 'no dbt process may outlive the cancelled activity');
  });

  test('runDbt reports a missing dbt binary as DbtNotInstalled', async () => {
    const missing = { ...config, dbt: { ...config.dbt, bin: path.join(dataDir, 'no-such-dbt', 'bin', 'dbt') } };
    await assert.rejects(createDbtActivities({ config: missing }).runDbt({ runDate: B2 }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DbtNotInstalled');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /npm run setup/);
      return true;
    });
    // Without DBT_BIN and with no build in the cache folder: the same, naming setup's location.
    const noBin = { ...config, dbt: { threads: config.dbt.threads } };
    const env = { PATH: process.env.PATH, XDG_CACHE_HOME: path.join(dataDir, 'empty-cache') };
    await assert.rejects(createDbtActivities({ config: noBin, env }).runDbt({ runDate: B2 }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DbtNotInstalled');
      assert.match(err.message, new RegExp(`${path.join(dataDir, 'empty-cache', 'healthsynth')}.*npm run setup`));
      return true;
    });
  });
});

describe('dbt profile environment', () => {
  test('DATABASE_URL becomes DBT_PG_* with decoded credentials; nothing else leaks in', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://etl%40corp:p%40ss%2Fw%3Ard@db.internal:6543/ware_house?sslmode=require',
    });
    const env = dbtProfileEnv(config, {});
    assert.deepEqual(env, {
      DBT_TARGET: 'local',
      DBT_THREADS: '4',
      DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
      DBT_VERSION_CHECK: 'false',
      DBT_PG_HOST: 'db.internal',
      DBT_PG_PORT: '6543',
      DBT_PG_USER: 'etl@corp',
      DBT_PG_PASSWORD: 'p@ss/w:rd',
      DBT_PG_DATABASE: 'ware_house',
      DBT_PG_SSLMODE: 'require',
    });
  });

  test('Redshift settings become DBT_REDSHIFT_*; the endpoint and overrides pass through from the environment', () => {
    const config = loadConfig({
      WAREHOUSE: 'redshift',
      REDSHIFT_CLUSTER_ID: 'analytics',
      REDSHIFT_DB_USER: 'etl',
      REDSHIFT_DATABASE: 'health',
      REDSHIFT_IAM_ROLE: 'arn:aws:iam::123456789012:role/redshift-s3',
      REDSHIFT_REGION: 'eu-west-1',
      S3_BUCKET: 'health-raw',
      S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
    });
    const env = dbtProfileEnv(config, {
      DBT_REDSHIFT_HOST: 'analytics.abc.eu-west-1.redshift.amazonaws.com',
      PATH: '/bin',
    });
    assert.deepEqual(env, {
      DBT_TARGET: 'redshift',
      DBT_THREADS: '4',
      DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
      DBT_VERSION_CHECK: 'false',
      DBT_REDSHIFT_DATABASE: 'health',
      DBT_REDSHIFT_REGION: 'eu-west-1',
      DBT_REDSHIFT_METHOD: 'iam',
      DBT_REDSHIFT_CLUSTER_ID: 'analytics',
      DBT_REDSHIFT_USER: 'etl',
      DBT_REDSHIFT_HOST: 'analytics.abc.eu-west-1.redshift.amazonaws.com',
    });
  });

  test('resolveDbtBin prefers config, then DBT_BIN, then the dbt setup built (found without any variable)', async () => {
    assert.equal(
      resolveDbtBin({ dbt: { bin: '/opt/dbt/bin/dbt', threads: 4 } }, { DBT_BIN: '/x/dbt' }),
      '/opt/dbt/bin/dbt',
    );
    assert.equal(resolveDbtBin({ dbt: { threads: 4 } }, { DBT_BIN: '/x/dbt' }), '/x/dbt');
    // No DBT_BIN anywhere: the path is the toolchain's own, and setup's dbt is really there.
    const env = process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {};
    const built = await ensureDbt({ env, noInstall: true });
    assert.equal(resolveDbtBin({ dbt: { threads: 4 } }, env), built);
    await access(built, constants.X_OK);
    // Another cache folder without a build: runDbt says to run setup instead of installing anything.
    const empty = { XDG_CACHE_HOME: path.join(os.tmpdir(), `hs-no-cache-${randomUUID()}`) };
    assert.ok(resolveDbtBin({ dbt: { threads: 4 } }, empty).startsWith(path.join(empty.XDG_CACHE_HOME, 'healthsynth')));
  });
});
