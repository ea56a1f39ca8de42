/**
 * The PostgreSQL warehouse against the real local PostgreSQL and S3: exact counts, the ledger's
 * `unchanged`, batch replacement, CSV errors that name key and line and leave the old batch untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLoadActivities } from '../../src/activities/load.js';
import { createReminderActivities } from '../../src/activities/reminders.js';
import { simulatedReminderFacts } from '../../src/bot/simulator.js';
import { type ObjectStore } from '../../src/activities/storage.js';
import { PostgresWarehouse } from '../../src/activities/warehouse/postgres.js';
import type { Config } from '../../src/config.js';
import { randomUUID } from 'node:crypto';
import { createGenerateActivities } from '../../src/activities/generate.js';
import { csvHeader, ENTITY_NAMES, type EntityName } from '../../src/domain/entities.js';
import type { ShardObject } from '../../src/domain/types.js';
import { uniqueDate } from '../support/env.js';
import { appointmentsCsv, postgresFixture, putShard } from '../support/warehouse-db.js';
import { expectApplicationFailure } from '../support/application-failures.js';

describe('PostgreSQL warehouse loads', () => {
  let config: Config;
  let store: ObjectStore;
  let warehouse: PostgresWarehouse;
  const prefix = `test-warehouse-${randomUUID().slice(0, 8)}`;

  before(async () => {
    ({ config, store, warehouse } = await postgresFixture('hs_wh_test'));
  });

  after(async () => {
    try {
      await store.delete((await store.list(`${prefix}/`)).map((o) => o.key));
    } finally {
      await warehouse.close();
    }
  });

  const key = (batchDate: string, name: string) => `${prefix}/raw/appointments/dt=${batchDate}/${name}`;
  const ids = async (batchDate: string) =>
    (
      await warehouse.query<{ appointment_id: number }>(
        'SELECT appointment_id FROM raw.appointments WHERE batch_date = $1 ORDER BY appointment_id',
        [batchDate],
      )
    ).map((r) => r.appointment_id);

  /** A fresh day whose appointments batch holds ids 1 to `rows`, loaded from one object (`good`). */
  const dayWithLoadedBatch = async (rows: number) => {
    const day = uniqueDate('warehouse');
    const good = await putShard(store, key(day, 'part-00000.csv'), appointmentsCsv(day, 1, rows), rows);
    await warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [good] });
    return { day, good };
  };

  test('load, reload of the same objects, replacement by another object set', async () => {
    const day = uniqueDate('warehouse');
    const a = await putShard(store, key(day, 'part-00000.csv'), appointmentsCsv(day, 1, 120), 120);
    const b = await putShard(store, key(day, 'part-00001.csv'), appointmentsCsv(day, 121, 80), 80);
    const { loadBatch } = createLoadActivities({ warehouse });

    const first = await loadBatch({ entity: 'appointments', batchDate: day, objects: [a, b] });
    assert.equal(first.status, 'loaded');
    assert.equal(first.rows, 200);
    assert.equal(await warehouse.countBatch('appointments', day), 200);

    // Same objects in another order: the ledger recognizes them and nothing is written.
    const before = await warehouse.query<{ loaded_at: string }>(
      `SELECT loaded_at FROM raw._load_ledger WHERE entity = 'appointments' AND batch_date = $1`,
      [day],
    );
    const again = await loadBatch({ entity: 'appointments', batchDate: day, objects: [b, a] });
    assert.equal(again.status, 'unchanged');
    assert.equal(again.rows, 200);
    assert.equal(await warehouse.countBatch('appointments', day), 200);
    const afterRows = await warehouse.query<{ loaded_at: string }>(
      `SELECT loaded_at FROM raw._load_ledger WHERE entity = 'appointments' AND batch_date = $1`,
      [day],
    );
    assert.deepEqual(afterRows, before);

    // A different object set replaces the batch as a whole.
    const c = await putShard(store, key(day, 'part-00000-v2.csv'), appointmentsCsv(day, 5_001, 50), 50);
    const replaced = await loadBatch({ entity: 'appointments', batchDate: day, objects: [c] });
    assert.equal(replaced.status, 'loaded');
    assert.equal(await warehouse.countBatch('appointments', day), 50);
    const loaded = await ids(day);
    assert.equal(loaded[0], 5_001);
    assert.equal(loaded.at(-1), 5_050);

    const ledger = await warehouse.query<{ objects: string; rows: number }>(
      `SELECT objects, rows FROM raw._load_ledger WHERE entity = 'appointments' AND batch_date = $1`,
      [day],
    );
    assert.deepEqual(JSON.parse(ledger[0]?.objects ?? 'null'), [{ key: c.key, etag: c.etag }]);
    assert.equal(ledger[0]?.rows, 50);
  });

  test('rows deleted behind the ledger are loaded again, not reported unchanged', async () => {
    const day = uniqueDate('warehouse');
    const shard = await putShard(store, key(day, 'part-00000.csv'), appointmentsCsv(day, 1, 40), 40);
    const { loadBatch } = createLoadActivities({ warehouse });
    assert.equal((await loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] })).status, 'loaded');
    // What retention did before it learned to delete ledger rows: the batch's rows go, its ledger row stays.
    await warehouse.query('DELETE FROM raw.appointments WHERE batch_date = $1', [day]);
    assert.equal(await warehouse.countBatch('appointments', day), 0);

    const again = await loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] });
    assert.equal(again.status, 'loaded');
    assert.equal(again.rows, 40);
    assert.deepEqual(
      await ids(day),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    // Half the rows gone is caught too.
    await warehouse.query('DELETE FROM raw.appointments WHERE batch_date = $1 AND appointment_id > 20', [day]);
    assert.equal((await loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] })).status, 'loaded');
    assert.equal(await warehouse.countBatch('appointments', day), 40);
    assert.equal((await loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] })).status, 'unchanged');
  });

  test('a bad value on line 7 fails with CsvLoadError naming key and line; the loaded batch stays', async () => {
    const { day } = await dayWithLoadedBatch(30);

    const lines = appointmentsCsv(day, 1_000, 20).split('\n');
    lines[6] = (lines[6] ?? '').replace(/,(true|false),(true|false),/, ',maybe,false,'); // file line 7
    const bad = await putShard(store, key(day, 'part-bad.csv'), lines.join('\n'), 20);
    const err = await expectApplicationFailure(
      warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [bad] }),
      'load of a bad object succeeded',
      { type: 'CsvLoadError', nonRetryable: true },
    );
    assert.match(err.message, new RegExp(`${bad.key.replace(/[.]/g, '\\.')} line 7 \\(column sms_received\\)`));
    assert.deepEqual(
      await ids(day),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  });

  test('an object whose columns are swapped fails with CsvLoadError naming key and both headers', async () => {
    const { day } = await dayWithLoadedBatch(10);

    // patient_id and doctor_id swapped in the header and every row: both numbers, so only the header tells.
    const swap = (line: string) => {
      const f = line.split(',');
      [f[1], f[2]] = [f[2] ?? '', f[1] ?? ''];
      return f.join(',');
    };
    const csv = appointmentsCsv(day, 100, 10)
      .split('\n')
      .map((l) => (l ? swap(l) : l))
      .join('\n');
    const swapped = await putShard(store, key(day, 'part-swapped.csv'), csv, 10);
    const err = await expectApplicationFailure(
      warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [swapped] }),
      'an object with swapped columns loaded',
      { type: 'CsvLoadError', nonRetryable: true },
    );
    const expected = csvHeader('appointments');
    assert.equal(
      err.message,
      `${swapped.key}: CSV header does not match the appointments columns: expected "${expected}", ` +
        `found "${swap(expected)}"`,
    );
    assert.deepEqual(
      await ids(day),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
  });

  test('a truncated object fails with CsvLoadError on its last line; the loaded batch stays', async () => {
    const { day, good } = await dayWithLoadedBatch(10);

    const full = appointmentsCsv(day, 500, 12);
    const truncated = full.slice(0, full.length - 25); // cuts the 12th row (file line 13) mid-record
    const bad = await putShard(store, key(day, 'part-truncated.csv'), truncated, 12);
    const err = await expectApplicationFailure(
      warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [good, bad] }),
      'load of a truncated object succeeded',
      { type: 'CsvLoadError' },
    );
    assert.match(err.message, /part-truncated\.csv line 13/);
    assert.equal(await warehouse.countBatch('appointments', day), 10);
  });

  test('declared rows that differ from the object fail with RowCountMismatch and change nothing', async () => {
    const { day } = await dayWithLoadedBatch(10);
    const lying = await putShard(store, key(day, 'part-00001.csv'), appointmentsCsv(day, 100, 10), 11);
    await assert.rejects(warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [lying] }), {
      type: 'RowCountMismatch',
      nonRetryable: true,
    });
    // Rows that carry another batch's date are caught as well (they would escape every later reload).
    const otherDay = await putShard(
      store,
      key(day, 'part-00002.csv'),
      appointmentsCsv(uniqueDate('warehouse'), 200, 5),
      5,
    );
    await assert.rejects(warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [otherDay] }), {
      type: 'RowCountMismatch',
    });
    assert.equal(await warehouse.countBatch('appointments', day), 10);
  });

  test('an object overwritten after generation fails with ObjectChanged', async () => {
    const day = uniqueDate('warehouse');
    const shard = await putShard(store, key(day, 'part-00000.csv'), appointmentsCsv(day, 1, 10), 10);
    await store.put(shard.key, appointmentsCsv(day, 1, 9), 'text/csv');
    await assert.rejects(warehouse.loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] }), {
      type: 'ObjectChanged',
    });
    assert.equal(await warehouse.countBatch('appointments', day), 0);
  });

  /** The day's six part files from the real generator (30 appointments), as the pipeline would write them. */
  async function generateDay(day: string): Promise<Record<EntityName, ShardObject>> {
    const { generateShard } = createGenerateActivities({ store, config });
    const out = {} as Record<EntityName, ShardObject>;
    for (const entity of ENTITY_NAMES) {
      out[entity] = await generateShard({ entity, runDate: day, scale: 30, shard: 0, seed: 7, shardRows: 1_000 });
      generatedKeys.push(out[entity].key);
    }
    return out;
  }
  const generatedKeys: string[] = [];
  after(async () => store.delete(generatedKeys));

  const publishedRow = async (day: string) =>
    (await warehouse.query(`SELECT * FROM raw._published_batches WHERE batch_date = $1`, [day]))[0];

  test('publishDay publishes a day only when its six loads are all there and whole; a later load takes it back', async () => {
    const day = uniqueDate('warehouse');
    const shards = await generateDay(day);
    const rows = Object.fromEntries(ENTITY_NAMES.map((e) => [e, shards[e].rows])) as Record<EntityName, number>;
    const { loadBatch, publishDay } = createLoadActivities({ warehouse });
    for (const entity of ENTITY_NAMES.filter((e) => e !== 'feedback')) {
      await loadBatch({ entity, batchDate: day, objects: [shards[entity]] });
    }
    await assert.rejects(publishDay({ batchDate: day, rows }), {
      type: 'DayIncomplete',
      nonRetryable: true,
      message: new RegExp(`^day ${day} not published: feedback has no load ledger row\\.`),
    });
    assert.equal(await publishedRow(day), undefined);

    await loadBatch({ entity: 'feedback', batchDate: day, objects: [shards.feedback] });
    assert.deepEqual(await publishDay({ batchDate: day, rows }), { batchDate: day, rows, status: 'published' });
    const published = await publishedRow(day);
    for (const e of ENTITY_NAMES) assert.equal(published?.[`${e}_rows`], rows[e], e);
    // …and the raw tables were analyzed (by publishDay: autovacuum's runs count as last_autoanalyze), so dbt
    // plans its joins over the new day with statistics that know it.
    const analyzed = await warehouse.query<{ relname: string }>(
      `SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'raw' AND last_analyze IS NOT NULL`,
    );
    assert.deepEqual(analyzed.map((r) => r.relname).sort(), [...ENTITY_NAMES].sort());

    // Rows deleted behind the ledger: the day cannot be published as it is.
    await warehouse.query('DELETE FROM raw.records WHERE batch_date = $1', [day]);
    await assert.rejects(publishDay({ batchDate: day, rows }), {
      type: 'DayIncomplete',
      message: new RegExp(`records: raw\\.records holds 0 of the ledger's ${rows.records} rows`),
    });
    assert.equal((await loadBatch({ entity: 'records', batchDate: day, objects: [shards.records] })).status, 'loaded');
    // …and that load, like every load that changes a batch, took the day back until it is published again.
    assert.equal(await publishedRow(day), undefined);
    await publishDay({ batchDate: day, rows });
    assert.ok(await publishedRow(day));

    // A load that finds its batch unchanged leaves the day published.
    assert.equal(
      (await loadBatch({ entity: 'clinics', batchDate: day, objects: [shards.clinics] })).status,
      'unchanged',
    );
    assert.ok(await publishedRow(day));
    // A run that loaded other rows than the ledger now holds is refused.
    await assert.rejects(publishDay({ batchDate: day, rows: { ...rows, patients: rows.patients + 1 } }), {
      type: 'DayIncomplete',
      message: /patients: the ledger holds a load of \d+ rows, this run loaded \d+/,
    });
  });

  test('the published-days table, when first made, publishes the days the ledger shows complete', async () => {
    const complete = uniqueDate('warehouse');
    const partial = uniqueDate('warehouse');
    const shards = await generateDay(complete);
    for (const entity of ENTITY_NAMES) {
      await warehouse.loadBatch({ entity, batchDate: complete, objects: [shards[entity]] });
    }
    const clinics = await generateDay(partial);
    await warehouse.loadBatch({ entity: 'clinics', batchDate: partial, objects: [clinics.clinics] });

    // A warehouse from before the table existed: the first worker to make it ready backfills it.
    await warehouse.query('DROP TABLE raw._published_batches');
    if (config.warehouse.kind !== 'postgres') throw new Error('unreachable');
    const upgraded = new PostgresWarehouse({ databaseUrl: config.warehouse.databaseUrl, store });
    try {
      await upgraded.ensureRawTables();
    } finally {
      await upgraded.close();
    }
    const published = await publishedRow(complete);
    for (const e of ENTITY_NAMES) assert.equal(published?.[`${e}_rows`], shards[e].rows, e);
    assert.equal(await publishedRow(partial), undefined, 'a day without all six loads stays unpublished');
  });

  test('two concurrent loads of one batch serialize: one loads, the other sees the ledger', async () => {
    const day = uniqueDate('warehouse');
    const shard = await putShard(store, key(day, 'part-00000.csv'), appointmentsCsv(day, 1, 500), 500);
    const progress: number[] = [];
    const input = { entity: 'appointments' as const, batchDate: day, objects: [shard] };
    const results = await Promise.all([
      warehouse.loadBatch(input, { onProgress: (p) => progress.push(p.rows) }),
      warehouse.loadBatch(input, { onProgress: (p) => progress.push(p.rows) }),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['loaded', 'unchanged']);
    assert.equal(await warehouse.countBatch('appointments', day), 500);
    assert.equal(progress.at(-1), 500);
  });
});

describe('PostgreSQL warehouse whose raw tables vanish under it', () => {
  test('a load that finds its tables gone fails, and the next attempt makes them again and loads', async () => {
    // Its own database: the raw schema is dropped, as when a worker outlives its stack and a new, empty cluster
    // comes up on the same port.
    const { store, warehouse } = await postgresFixture('hs_wh_vanish');
    const prefix = `test-warehouse-vanish-${randomUUID().slice(0, 8)}`;
    try {
      const day = uniqueDate('warehouse');
      const shard = await putShard(
        store,
        `${prefix}/raw/appointments/dt=${day}/part-00000.csv`,
        appointmentsCsv(day, 1, 50),
        50,
      );
      const input = { entity: 'appointments' as const, batchDate: day, objects: [shard] };
      assert.equal((await warehouse.loadBatch(input)).status, 'loaded');

      await warehouse.query('DROP SCHEMA raw CASCADE');
      await assert.rejects(warehouse.loadBatch(input), /does not exist/);
      // Temporal's retry of the activity: the same warehouse object, as in a worker that kept running.
      const retried = await warehouse.loadBatch(input);
      assert.equal(retried.status, 'loaded');
      assert.equal(await warehouse.countBatch('appointments', day), 50);
    } finally {
      await store.delete((await store.list(`${prefix}/`)).map((o) => o.key));
      await warehouse.close();
    }
  });

  test('a reminder event whose tables vanished fails once, then the next attempt makes them again', async () => {
    const { config, store, warehouse } = await postgresFixture('hs_wh_vanish_events');
    try {
      const { recordReminderEvent } = createReminderActivities({ config, store, warehouse });
      const facts = simulatedReminderFacts(4242, new Date(Date.now() + 3_600_000), {
        doctorName: 'Dra. Teste',
        clinicName: 'Clínica Teste',
      });
      assert.equal(await recordReminderEvent({ facts, event: 'selected' }), true);

      // Every table the reminders made (the events, the contacts) is gone, as in a new, empty database.
      await warehouse.query('DROP SCHEMA raw CASCADE');
      await assert.rejects(recordReminderEvent({ facts, event: 'sent' }), /does not exist/);
      assert.equal(await recordReminderEvent({ facts, event: 'sent' }), true);
      assert.deepEqual(
        await warehouse.query<{ event: string }>('select event from raw.reminder_events where appointment_id = $1', [
          facts.appointmentId,
        ]),
        [{ event: 'sent' }],
      );
    } finally {
      await warehouse.close();
    }
  });
});
