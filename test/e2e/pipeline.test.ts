/**
 * The whole daily pipeline on the real stack: Temporal, PostgreSQL, S3, dbt, and Slack/Telegram over
 * real HTTP to a local receiver. Runs a date older than the retention window first, then a date that
 * expires it (half of every table, so that run allows a large cleanup), then the same date again, then a
 * later date whose cleanup is refused by the delete-share limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { addDays } from '../../src/domain/dates.js';
import { ENTITIES, ENTITY_NAMES } from '../../src/domain/entities.js';
import type { PipelineSummary, ReportResult, CleanupResult, PipelineProgress } from '../../src/domain/types.js';
import { failureText } from '../../src/cli/format.js';
import { awaitPipeline, startPipeline } from '../../src/run-pipeline.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { receiverSettings, startReceiver, type Receiver } from '../support/receiver.js';

describe('dailyPipeline end to end', () => {
  let receiver: Receiver;
  let h: TestHarness;
  const runDate = uniqueDate();
  const oldDate = addDays(runDate, -400);

  before(async () => {
    receiver = await startReceiver();
    h = await harness(
      testConfig({
        ...receiverSettings(receiver, {
          botToken: '123456:TEST-token',
          staffChat: '-100200300',
          patientChat: '-100400500',
        }),
        RETENTION_DAYS: '365',
        // Its own database: the cleanup assertions count every expired row.
        DATABASE_URL: await freshDatabase('hs_e2e_test'),
      }),
    );
  });
  after(async () => {
    await h?.close();
    await receiver?.close();
  });

  const run = async (date: string, allowLargeCleanup = false): Promise<PipelineSummary> => {
    const handle = await startPipeline(h.client, h.config, {
      runDate: date,
      scale: 'small',
      ...(allowLargeCleanup ? { allowLargeCleanup } : {}),
    });
    const outcome = await awaitPipeline(h.config, handle);
    if (outcome.error) throw outcome.error;
    const progress = await handle.query<PipelineProgress>('progress');
    assert.deepEqual(
      progress.steps.map((s) => [s.name, s.state]),
      ['ingest', 'dbt', 'report', 'cleanup', 'predict', 'remind', 'ratings', 'summary'].map((name) => [
        name,
        'completed',
      ]),
    );
    return outcome.summary as PipelineSummary;
  };

  test('an old date, then a new one: loads, marts, report, verified cleanup, notifications', async () => {
    const old = await run(oldDate);
    const oldAppointments = old.ingest.find((r) => r.entity === 'appointments')?.rowsLoaded ?? 0;
    assert.ok(oldAppointments > 0);

    // The new date deletes half of every table: more than RETENTION_MAX_DELETE_SHARE, so it is allowed here.
    receiver.requests.length = 0;
    const summary = await run(runDate, true);

    // Every entity loaded exactly what was generated.
    assert.deepEqual(summary.ingest.map((r) => r.entity).sort(), [...ENTITY_NAMES].sort());
    for (const r of summary.ingest) {
      assert.ok(r.rowsGenerated > 0, `${r.entity} generated rows`);
      assert.equal(r.rowsLoaded, r.rowsGenerated, r.entity);
      assert.equal(await h.warehouse.countBatch(r.entity, runDate), r.rowsGenerated, `${r.entity} in warehouse`);
    }
    assert.equal(summary.ingest.find((r) => r.entity === 'appointments')?.rowsLoaded, 1_000);

    // dbt built the marts and every test passed.
    assert.ok(summary.dbt);
    assert.equal(summary.dbt.testsFailed, 0);
    assert.ok(summary.dbt.modelsBuilt >= 11, `models built: ${summary.dbt.modelsBuilt}`);
    for (const mart of [
      'doctor_performance',
      'doctor_rating',
      'appointments_monthly',
      'patient_conditions_monthly',
      'no_show_rates',
    ]) {
      const [row] = await h.warehouse.query<{ n: number }>(`select count(*) as n from marts.${mart}`);
      assert.ok(Number(row?.n) > 0, `marts.${mart} has rows`);
    }

    // The chart is a real PNG in the object store, and the same bytes went to Telegram.
    const report = summary.report as ReportResult;
    assert.equal(report.reportKey, `reports/dt=${runDate}/doctor-rating.png`);
    const png = Buffer.concat(await (await h.store.get(report.reportKey)).toArray());
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.ok((meta.width ?? 0) >= 1000);
    const photo = receiver.requests.find((r) => r.telegramMethod === 'sendPhoto');
    assert.ok(photo?.files?.photo, 'Telegram received a photo');
    assert.ok(photo.files.photo.bytes.equals(png), 'Telegram photo is the stored chart');
    const slackTexts = receiver.requests.filter((r) => r.channel === 'slack').map((r) => JSON.stringify(r.json));
    assert.ok(
      slackTexts.some((t) => t.includes(report.reportUrl.split('?')[0] ?? '')),
      'Slack got the report link',
    );
    assert.ok(
      slackTexts.some((t) => t.includes(`daily run ${runDate}`)),
      'Slack got the summary',
    );
    assert.ok(report.notifications.every((n) => n.status === 'delivered'));

    // Retention: the old date's patients, appointments, records and feedback were backed up, verified and
    // deleted, with their load-ledger rows and the old day's raw objects.
    const cleanup = summary.cleanup as CleanupResult;
    for (const table of ['patients', 'appointments', 'records', 'feedback'] as const) {
      assert.equal(cleanup.tables.find((t) => t.table === table)?.status, 'cleaned', table);
      assert.equal(await h.warehouse.countBatch(table, oldDate), 0, `${table} of the old date`);
    }
    const ledger = await h.warehouse.query('select 1 from raw._load_ledger where batch_date = $1', [oldDate]);
    assert.equal(ledger.length, 2, 'only clinics and doctors (kept snapshots) remain in the load ledger');
    for (const entity of ENTITY_NAMES) {
      assert.deepEqual(await h.store.list(`raw/${entity}/dt=${oldDate}/`), [], `raw ${entity} objects of the old date`);
      assert.ok(
        (await h.store.list(`raw/${entity}/dt=${runDate}/`)).length > 0,
        `raw ${entity} objects of the new date`,
      );
    }
    const appt = cleanup.tables.find((t) => t.table === 'appointments');
    assert.equal(appt?.status, 'cleaned');
    assert.equal(appt?.rowsDeleted, oldAppointments);
    assert.equal(appt?.rowsBackedUp, oldAppointments);
    assert.equal(await h.warehouse.countBatch('appointments', oldDate), 0);
    assert.ok(appt?.backupKey && (await h.store.list(appt.backupKey.replace(/[^/]*$/, ''))).length > 0);
    assert.ok(
      slackTexts.some((t) => t.includes('Retention cleanup')),
      'Slack got the cleanup note',
    );
  });

  test('the same date again: nothing reloaded, counts unchanged, no duplicate keys, nothing more deleted', async () => {
    const before = await Promise.all(ENTITY_NAMES.map((e) => h.warehouse.countBatch(e, runDate)));
    const again = await run(runDate);
    assert.ok(
      again.ingest.every((r) => r.loadStatus === 'unchanged'),
      JSON.stringify(again.ingest),
    );
    const afterCounts = await Promise.all(ENTITY_NAMES.map((e) => h.warehouse.countBatch(e, runDate)));
    assert.deepEqual(afterCounts, before);
    for (const entity of ENTITY_NAMES) {
      const key = ENTITIES[entity].key;
      const [row] = await h.warehouse.query<{ n: number }>(
        `select count(*) - count(distinct ${key}) as n from raw.${entity} where batch_date = $1`,
        [runDate],
      );
      assert.equal(Number(row?.n), 0, `${entity} duplicate keys`);
    }
    const cleanup = again.cleanup as CleanupResult;
    assert.deepEqual(
      cleanup.tables.map((t) => [t.table, t.status]),
      [
        // The patient loop's tables had nothing expired on the first run (nobody is linked here), so no ledger row.
        ['rating_requests', 'nothing-to-clean'],
        ['reminder_events', 'nothing-to-clean'],
        ...['feedback', 'records', 'appointments', 'patients', 'schedule'].map((table) => [table, 'already-done']),
      ],
    );
    const [total] = await h.warehouse.query<{ n: number }>('select count(*) as n from raw.appointments');
    assert.equal(Number(total?.n), before[ENTITY_NAMES.indexOf('appointments')], 'only the new batch remains');
  });

  test('a date whose cleanup would delete more than RETENTION_MAX_DELETE_SHARE: refused, nothing deleted, alert', async () => {
    // 400 days on, the cleanup would take the whole earlier day: half of every table.
    const laterDate = addDays(runDate, 400);
    const before = await Promise.all(ENTITY_NAMES.map((e) => h.warehouse.countBatch(e, runDate)));
    receiver.requests.length = 0;
    const outcome = await awaitPipeline(h.config, await startPipeline(h.client, h.config, { runDate: laterDate }));
    assert.ok(outcome.error, 'the run failed');
    assert.match(failureText(outcome.error), /cleanup: RetentionLimitExceeded: retention cleanup of raw\.\w+ refused/);
    const after = await Promise.all(ENTITY_NAMES.map((e) => h.warehouse.countBatch(e, runDate)));
    assert.deepEqual(after, before, 'nothing of the earlier date was deleted');
    const ledger = await h.warehouse.query('select 1 from raw._cleanup_ledger where run_date = $1', [laterDate]);
    assert.equal(ledger.length, 0, 'no cleanup recorded');
    for (const entity of ENTITY_NAMES) {
      assert.ok((await h.store.list(`raw/${entity}/dt=${runDate}/`)).length > 0, `raw ${entity} objects kept`);
    }
    assert.ok(
      receiver.requests.some((r) => r.channel === 'slack' && /RetentionLimitExceeded/.test(JSON.stringify(r.json))),
      'staff got an alert naming RetentionLimitExceeded',
    );
  });
});
