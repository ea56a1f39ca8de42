/**
 * Retention cleanup against the real local PostgreSQL and S3: the backup holds exactly the expired rows,
 * exactly those rows go, a rerun is `already-done`, and a backup that does not verify deletes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { createCleanupActivities } from '../../src/activities/cleanup.js';
import { ObjectStore, keys } from '../../src/activities/storage.js';
import { minusDays } from '../../src/activities/warehouse/index.js';
import { PostgresWarehouse } from '../../src/activities/warehouse/postgres.js';
import type { Config } from '../../src/config.js';
import { appointmentsCsv, feedbackCsv, privateDatabase, putShard, uniqueDate } from '../support/warehouse-db.js';

describe('retention cleanup on PostgreSQL', () => {
  let config: Config;
  let store: ObjectStore;
  let warehouse: PostgresWarehouse;
  const prefix = `test-cleanup-${randomUUID().slice(0, 8)}`;
  const backupPrefixes: string[] = [];

  before(async () => {
    config = await privateDatabase('hs_wh_cleanup_test');
    store = ObjectStore.fromConfig(config.s3);
    await store.ensureBucket();
    if (config.warehouse.kind !== 'postgres') throw new Error('unreachable');
    warehouse = new PostgresWarehouse({ databaseUrl: config.warehouse.databaseUrl, store });
    await warehouse.ensureRawTables();
    // This database belongs to this file alone; start from empty tables so the expected counts are exact.
    await warehouse.query(
      'TRUNCATE raw.appointments, raw.records, raw.feedback, raw._load_ledger, raw._cleanup_ledger',
    );
  });

  after(async () => {
    try {
      const objects = [...(await store.list(`${prefix}/`))];
      for (const p of backupPrefixes) objects.push(...(await store.list(p)));
      await store.delete(objects.map((o) => o.key));
    } finally {
      await warehouse.close();
    }
  });

  async function loadAppointments(batchDate: string, firstId: number, n: number, appointmentDay = batchDate) {
    const shard = await putShard(
      store,
      `${prefix}/raw/appointments/dt=${batchDate}/part-00000.csv`,
      appointmentsCsv(batchDate, firstId, n, appointmentDay),
      n,
    );
    await warehouse.loadBatch({ entity: 'appointments', batchDate, objects: [shard] });
  }
  const count = async (table: string) =>
    (await warehouse.query<{ n: number }>(`SELECT count(*) AS n FROM raw.${table}`))[0]?.n;

  test('backs up, verifies and deletes expired rows; a rerun is already-done and deletes nothing more', async () => {
    const runDate = uniqueDate();
    const cutoff = minusDays(runDate, 30);
    backupPrefixes.push(keys.backupPrefix('appointments', runDate), keys.backupPrefix('feedback', runDate));
    await loadAppointments(minusDays(runDate, 40), 1, 25); // expired
    await loadAppointments(cutoff, 1_001, 3); // on the cutoff day: kept
    await loadAppointments(minusDays(runDate, 5), 2_001, 15); // recent: kept
    const fbOld = minusDays(cutoff, 1);
    const feedbackShard = async (day: string, firstId: number, n: number) =>
      putShard(store, `${prefix}/raw/feedback/dt=${day}/part-00000.csv`, feedbackCsv(day, firstId, n, day), n);
    await warehouse.loadBatch({ entity: 'feedback', batchDate: fbOld, objects: [await feedbackShard(fbOld, 1, 7)] });
    await warehouse.loadBatch({
      entity: 'feedback',
      batchDate: cutoff,
      objects: [await feedbackShard(cutoff, 100, 4)],
    });

    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });
    const result = await cleanupTable({ runDate, table: 'appointments', retentionDays: 30 });
    const backupKey = `${keys.backupPrefix('appointments', runDate)}part-00000.csv`;
    assert.deepEqual(result, {
      table: 'appointments',
      cutoff,
      backupKey,
      rowsBackedUp: 25,
      rowsDeleted: 25,
      status: 'cleaned',
    });
    const backup = parse(await store.getText(backupKey), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      backup.map((r) => Number(r.appointment_id)),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.equal(backup[0]?.appointment_day, minusDays(runDate, 40));
    assert.equal(await count('appointments'), 18);

    // New expired rows after the run: a rerun of the same run date must neither back up again nor delete them.
    await loadAppointments(minusDays(runDate, 50), 9_001, 4);
    const backupBefore = await store.head(backupKey);
    const rerun = await cleanupTable({ runDate, table: 'appointments', retentionDays: 30 });
    assert.equal(rerun.status, 'already-done');
    assert.equal(rerun.rowsDeleted, 25);
    assert.equal(await count('appointments'), 22);
    assert.deepEqual(await store.head(backupKey), backupBefore);

    // Feedback ages by submitted_at::date; quoted comments with newlines count as one record each.
    const fb = await cleanupTable({ runDate, table: 'feedback', retentionDays: 30 });
    assert.equal(fb.status, 'cleaned');
    assert.equal(fb.rowsDeleted, 7);
    assert.equal(await count('feedback'), 4);
    const fbBackup = parse(await store.getText(fb.backupKey ?? ''), { columns: true }) as Record<string, string>[];
    assert.equal(fbBackup.length, 7);
    assert.equal(fbBackup[0]?.comment, 'Kind, thorough\nand on time');

    const records = await cleanupTable({ runDate, table: 'records', retentionDays: 30 });
    assert.deepEqual(records, {
      table: 'records',
      cutoff,
      rowsBackedUp: 0,
      rowsDeleted: 0,
      status: 'nothing-to-clean',
    });
  });

  test('a backup that does not verify deletes nothing and records nothing', async () => {
    const runDate = uniqueDate();
    backupPrefixes.push(keys.backupPrefix('appointments', runDate));
    const cutoff = minusDays(runDate, 10);
    await loadAppointments(minusDays(runDate, 20), 20_001, 5);
    const before = await count('appointments');
    const expired = await warehouse.query<{ n: number }>(
      'SELECT count(*) AS n FROM raw.appointments WHERE appointment_day < $1',
      [cutoff],
    );
    assert.ok((expired[0]?.n ?? 0) >= 5);
    await assert.rejects(
      warehouse.cleanupExpired({ table: 'appointments', runDate, cutoff }, async () => ({ rows: 1, keySum: '1' })),
      { type: 'BackupVerificationFailed', nonRetryable: true },
    );
    assert.equal(await count('appointments'), before);
    const ledger = await warehouse.query('SELECT 1 FROM raw._cleanup_ledger WHERE run_date = $1', [runDate]);
    assert.equal(ledger.length, 0);
  });
});
