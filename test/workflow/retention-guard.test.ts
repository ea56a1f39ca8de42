/**
 * The delete-share guard through the real retentionCleanup workflow, started with plain JSON (as
 * `temporal workflow start --input` does) on the real stack: a run that would delete more than
 * RETENTION_MAX_DELETE_SHARE of a table fails for good with RetentionLimitExceeded and deletes, backs up and
 * records nothing; the same run with "allowLargeCleanup": true goes through. Its own database and bucket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { keys } from '../../src/activities/storage.js';
import { addDays } from '../../src/domain/dates.js';
import type { CleanupResult } from '../../src/domain/types.js';
import {
  deleteBucket,
  freshDatabase,
  harness,
  testConfig,
  uniq,
  uniqueDate,
  type TestHarness,
} from '../support/env.js';
import { appointmentsCsv, putShard } from '../support/warehouse-db.js';

describe('retentionCleanup refuses a large delete unless allowed', () => {
  const bucket = `hs-retention-guard-${uniq()}`;
  const runDate = uniqueDate();
  const old = addDays(runDate, -400);
  let h: TestHarness;

  before(async () => {
    h = await harness(
      testConfig({
        DATABASE_URL: await freshDatabase('hs_wf_retention_guard_test'),
        S3_BUCKET: bucket,
        SLACK_WEBHOOK_URL: '',
        TELEGRAM_BOT_TOKEN: '',
        TELEGRAM_CHAT_ID: '',
      }),
    );
    // Half the appointments are past a 365-day window: far more than the default share of 0.2.
    for (const [day, firstId] of [
      [old, 1],
      [runDate, 1_000],
    ] as const) {
      const shard = await putShard(
        h.store,
        keys.rawPart('appointments', day, 0),
        appointmentsCsv(day, firstId, 20),
        20,
      );
      await h.warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] });
    }
  });
  after(async () => {
    if (h) await deleteBucket(h.store);
    await h?.close();
  });

  const cleanup = (input: object) =>
    h.client.workflow.execute('retentionCleanup', {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `retention-guard-${uniq()}`,
      args: [input],
    });
  const count = async () =>
    (await h.warehouse.query<{ n: number }>('SELECT count(*) AS n FROM raw.appointments'))[0]?.n;

  test('refused: RetentionLimitExceeded, nothing deleted, backed up or recorded, raw objects kept', async () => {
    const err = await cleanup({ runDate, retentionDays: 365 }).then(
      () => assert.fail('the cleanup was allowed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure, String(err));
    const failure = err.cause.cause;
    assert.ok(failure instanceof ApplicationFailure, String(failure));
    assert.equal(failure.type, 'RetentionLimitExceeded');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /raw\.appointments refused: it would delete 20 of 40 rows \(50\.0%\)/);
    assert.match(failure.message, /--allow-large-cleanup/);

    assert.equal(await count(), 40);
    assert.equal((await h.warehouse.query('SELECT 1 FROM raw._cleanup_ledger')).length, 0);
    assert.equal((await h.warehouse.query('SELECT 1 FROM raw._load_ledger')).length, 2);
    assert.deepEqual(await h.store.list('backups/'), []);
    assert.equal((await h.store.list(keys.rawPrefix('appointments', old))).length, 1, 'raw objects kept');
  });

  test('"allowLargeCleanup": true lets the same run through: rows, ledger row and raw objects of the old day go', async () => {
    const result = (await cleanup({ runDate, retentionDays: 365, allowLargeCleanup: true })) as CleanupResult;
    assert.equal(result.cutoff, addDays(runDate, -365));
    const appointments = result.tables.find((t) => t.table === 'appointments');
    assert.equal(appointments?.status, 'cleaned');
    assert.equal(appointments?.rowsDeleted, 20);
    assert.equal(await count(), 20);
    assert.equal(await h.warehouse.countBatch('appointments', old), 0);
    const ledger = await h.warehouse.query<{ d: string }>('SELECT batch_date::text AS d FROM raw._load_ledger');
    assert.deepEqual(
      ledger.map((r) => r.d),
      [runDate],
      'the old batch is no longer in the load ledger',
    );
    assert.equal((await h.store.list(appointments?.backupKey ?? 'missing')).length, 1, 'the verified backup');
    assert.deepEqual(await h.store.list(keys.rawPrefix('appointments', old)), [], 'raw objects of the old day');
    assert.equal((await h.store.list(keys.rawPrefix('appointments', runDate))).length, 1, "today's raw objects");
    assert.deepEqual(result.objects, {
      rawDaysDeleted: 1,
      rawObjectsDeleted: 1,
      backupObjectsDeleted: 0,
      backupRetentionDays: 30,
    });
  });
});
