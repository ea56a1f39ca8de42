/**
 * Retention cleanup against the real local PostgreSQL and S3: the backup holds exactly the expired rows,
 * exactly those rows go, a rerun is `already-done`, and a backup that does not verify deletes nothing. The
 * delete-share limit refuses a cleanup that would take too much of a table (nothing backed up, deleted or
 * recorded) unless allowed; the load-ledger rows of removed batches go with them, so a reload really loads;
 * patients go no earlier than the appointments that point at them; raw objects of expired days and old
 * backups are deleted (in a bucket of their own, since those sweeps cover the whole bucket). The patient loop's
 * tables (raw.rating_requests, raw.reminder_events) and the reminders' day folders age with their appointment's day
 * under the same guarantees.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { createCleanupActivities } from '../../src/activities/cleanup.js';
import { ObjectStore, keys } from '../../src/activities/storage.js';
import { RETENTION_TABLES, expiredPredicate, type RetentionTable } from '../../src/activities/warehouse/ddl.js';
import { type PostgresWarehouse } from '../../src/activities/warehouse/postgres.js';
import type { Config } from '../../src/config.js';
import { addDays } from '../../src/domain/dates.js';
import { csvHeader } from '../../src/domain/entities.js';
import { deleteBucket, testConfig, uniqueDate } from '../support/env.js';
import { appointmentsCsv, feedbackCsv, postgresFixture, putShard } from '../support/warehouse-db.js';

/** Patient rows `firstId …` of `batchDate`, with names and conditions (the personal data retention is for). */
function patientsCsv(batchDate: string, firstId: number, n: number): string {
  const lines = [csvHeader('patients')];
  for (let i = 0; i < n; i++) {
    lines.push(
      `${firstId + i},Maria Teste ${firstId + i},F,1980-05-0${(i % 9) + 1},Jardim Camburi,false,${i % 2 === 0},false,false,0,2010-01-01,${batchDate}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('retention cleanup on PostgreSQL', () => {
  let config: Config;
  let store: ObjectStore;
  let warehouse: PostgresWarehouse;
  const prefix = `test-cleanup-${randomUUID().slice(0, 8)}`;
  const backupPrefixes: string[] = [];

  before(async () => {
    ({ config, store, warehouse } = await postgresFixture('hs_wh_cleanup_test'));
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

  /** This database belongs to this file alone; each test starts from empty tables so its counts are exact. */
  const reset = () =>
    warehouse.query(
      'TRUNCATE raw.patients, raw.appointments, raw.records, raw.feedback, raw.rating_requests, raw.reminder_events, ' +
        'raw._load_ledger, raw._cleanup_ledger',
    );

  /**
   * A test's start: empty tables, a run date of its own and the cutoff `retentionDays` before it; the backups the
   * run writes for `tables` are deleted after the file.
   */
  async function freshRun(retentionDays: number, tables = ['appointments']) {
    await reset();
    const runDate = uniqueDate('warehouse');
    backupPrefixes.push(...tables.map((t) => keys.backupPrefix(t, runDate)));
    return { runDate, cutoff: addDays(runDate, -retentionDays) };
  }

  async function appointmentsShard(batchDate: string, firstId: number, n: number, appointmentDay = batchDate) {
    return putShard(
      store,
      `${prefix}/raw/appointments/dt=${batchDate}/part-${firstId}.csv`,
      appointmentsCsv(batchDate, firstId, n, appointmentDay),
      n,
    );
  }
  async function loadAppointments(batchDate: string, firstId: number, n: number, appointmentDay = batchDate) {
    const shard = await appointmentsShard(batchDate, firstId, n, appointmentDay);
    return warehouse.loadBatch({ entity: 'appointments', batchDate, objects: [shard] });
  }
  const count = async (table: string) =>
    (await warehouse.query<{ n: number }>(`SELECT count(*) AS n FROM raw.${table}`))[0]?.n;
  /** One finished rating request per appointment id, on `day`: rated (with a comment that needs quoting) or not. */
  async function insertRatingRequests(day: string, ids: number[]) {
    for (const id of ids) {
      const rated = id % 2 === 1;
      await warehouse.query(
        `INSERT INTO raw.rating_requests
           (appointment_id, patient_id, appointment_day, status, rating, comment, answered_at, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          id,
          500_000 + id,
          day,
          rated ? 'rated' : 'no-response',
          rated ? (id % 5) + 1 : null,
          rated ? 'Atenciosa, pontual\nvoltarei' : null,
          rated ? `${day} 19:00:00` : null,
          `${day} 19:00:01`,
        ],
      );
    }
  }
  /** `events` of the reminder of appointment `id` on `day` (chosen the weekday before), in the reminded arm. */
  async function insertReminderEvents(day: string, id: number, events: string[]) {
    for (const event of events) {
      await warehouse.query(
        `INSERT INTO raw.reminder_events
           (appointment_id, patient_id, decided_on, appointment_on, probability, arm, event, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, 600_000 + id, addDays(day, -1), day, 0.25 + (id % 50) / 100, 'reminded', event, `${day} 07:00:00+00`],
      );
    }
  }
  const ledgerDates = async (entity: string) =>
    (
      await warehouse.query<{ d: string }>(
        'SELECT batch_date::text AS d FROM raw._load_ledger WHERE entity = $1 ORDER BY 1',
        [entity],
      )
    ).map((r) => r.d);

  test('the rows due are found through an index of each table, not by reading all of it', async () => {
    // With sequential scans priced out, a plan still reads a table whole only when no index serves the predicate.
    // Without the date columns' indexes, the daily cleanup read all of raw.appointments, raw.records and
    // raw.feedback to find nothing due (0.7 s for raw.appointments at 120 medium days).
    if (config.warehouse.kind !== 'postgres') throw new Error('unreachable: the fixture is PostgreSQL');
    const db = new pg.Client({ connectionString: config.warehouse.databaseUrl });
    await db.connect();
    try {
      await db.query('SET enable_seqscan = off');
      for (const table of Object.keys(RETENTION_TABLES) as RetentionTable[]) {
        const plan = await db.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT count(*) FROM raw.${table} WHERE ${expiredPredicate(table, '2020-01-01')}`,
        );
        const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
        assert.doesNotMatch(text, new RegExp(`Seq Scan on ${table}\\b`), `raw.${table}:\n${text}`);
        assert.match(text, /Index/, `raw.${table}:\n${text}`);
      }
    } finally {
      await db.end();
    }
  });

  test('backs up, verifies and deletes expired rows; a rerun is already-done and deletes nothing more', async () => {
    const { runDate, cutoff } = await freshRun(30, ['appointments', 'feedback']);
    await loadAppointments(addDays(runDate, -40), 1, 25); // expired
    await loadAppointments(cutoff, 1_001, 3); // on the cutoff day: kept
    await loadAppointments(addDays(runDate, -5), 2_001, 15); // recent: kept
    const fbOld = addDays(cutoff, -1);
    const feedbackShard = async (day: string, firstId: number, n: number) =>
      putShard(store, `${prefix}/raw/feedback/dt=${day}/part-00000.csv`, feedbackCsv(day, firstId, n, day), n);
    await warehouse.loadBatch({ entity: 'feedback', batchDate: fbOld, objects: [await feedbackShard(fbOld, 1, 7)] });
    await warehouse.loadBatch({
      entity: 'feedback',
      batchDate: cutoff,
      objects: [await feedbackShard(cutoff, 100, 4)],
    });

    // 25 of 43 rows: more than the default share of 0.2, so this cleanup must be allowed explicitly.
    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });
    const result = await cleanupTable({ runDate, table: 'appointments', cutoff, allowLargeCleanup: true });
    const backupKey = `${keys.backupPrefix('appointments', runDate)}part-00000.csv`;
    assert.deepEqual(result, {
      table: 'appointments',
      cutoff,
      backupKey,
      rowsBackedUp: 25,
      rowsDeleted: 25,
      ledgerRowsDeleted: 1,
      status: 'cleaned',
    });
    const backup = parse(await store.getText(backupKey), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      backup.map((r) => Number(r.appointment_id)),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.equal(backup[0]?.appointment_day, addDays(runDate, -40));
    assert.equal(await count('appointments'), 18);

    // New expired rows after the run: a rerun of the same run date must neither back up again nor delete them.
    await loadAppointments(addDays(runDate, -50), 9_001, 4);
    const backupBefore = await store.head(backupKey);
    const rerun = await cleanupTable({ runDate, table: 'appointments', cutoff, allowLargeCleanup: true });
    assert.equal(rerun.status, 'already-done');
    assert.equal(rerun.rowsDeleted, 25);
    assert.equal(await count('appointments'), 22);
    assert.deepEqual(await store.head(backupKey), backupBefore);

    // Feedback ages by submitted_at::date; quoted comments with newlines count as one record each.
    const fb = await cleanupTable({ runDate, table: 'feedback', cutoff, allowLargeCleanup: true });
    assert.equal(fb.status, 'cleaned');
    assert.equal(fb.rowsDeleted, 7);
    assert.equal(await count('feedback'), 4);
    const fbBackup = parse(await store.getText(fb.backupKey ?? ''), { columns: true }) as Record<string, string>[];
    assert.equal(fbBackup.length, 7);
    assert.equal(fbBackup[0]?.comment, 'Kind, thorough\nand on time');

    // Runs started before the workflow computed the cutoff pass retentionDays: the same cutoff for a past date.
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
    const { runDate, cutoff } = await freshRun(10);
    await loadAppointments(addDays(runDate, -20), 20_001, 5);
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

  test('more than RETENTION_MAX_DELETE_SHARE of a table: refused, nothing backed up, deleted or recorded', async () => {
    const { runDate, cutoff } = await freshRun(30);
    await loadAppointments(addDays(runDate, -45), 30_001, 5); // expired
    await loadAppointments(addDays(runDate, -2), 31_001, 10); // kept: 5 of 15 rows would go (33%)
    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });

    // retentionDays: 30 is the same cutoff (a past run date); it is the input runs started before the workflow
    // computed the cutoff still send, and the limit applies to them too.
    await assert.rejects(cleanupTable({ runDate, table: 'appointments', retentionDays: 30 }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'RetentionLimitExceeded');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /raw\.appointments refused: it would delete 5 of 15 rows \(33\.3%\)/);
      assert.match(err.message, /RETENTION_MAX_DELETE_SHARE 0\.2/);
      assert.match(err.message, /--allow-large-cleanup .* "allowLargeCleanup": true/);
      assert.deepEqual(err.details, [
        { table: 'appointments', rowsDue: 5, tableRows: 15, share: 5 / 15, maxShare: 0.2 },
      ]);
      return true;
    });
    assert.equal(await count('appointments'), 15, 'nothing deleted');
    assert.equal(config.retentionMaxDeleteShare, 0.2, 'the default share');
    assert.deepEqual(await store.list(keys.backupPrefix('appointments', runDate)), [], 'no backup written');
    assert.equal((await warehouse.query('SELECT 1 FROM raw._cleanup_ledger')).length, 0, 'no cleanup ledger row');
    assert.equal((await ledgerDates('appointments')).length, 2, 'load ledger untouched');

    const allowed = await cleanupTable({ runDate, table: 'appointments', cutoff, allowLargeCleanup: true });
    assert.equal(allowed.status, 'cleaned');
    assert.equal(allowed.rowsDeleted, 5);
    assert.equal(await count('appointments'), 10);
  });

  test('exactly the allowed share is not "more than": it is cleaned without being allowed', async () => {
    const { runDate, cutoff } = await freshRun(30);
    await loadAppointments(addDays(runDate, -31), 40_001, 2);
    await loadAppointments(runDate, 41_001, 8); // 2 of 10 = 0.2
    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });
    const result = await cleanupTable({ runDate, table: 'appointments', cutoff });
    assert.equal(result.status, 'cleaned');
    assert.equal(result.rowsDeleted, 2);
  });

  test('the load-ledger rows of removed batches go in the same transaction; a reload of that date loads', async () => {
    const { runDate, cutoff } = await freshRun(30);
    const gone = addDays(runDate, -60); // every row expired
    const partly = addDays(runDate, -31); // one batch whose appointments fall on both sides of the cutoff
    const kept = addDays(runDate, -1);
    const goneShard = await appointmentsShard(gone, 50_001, 6);
    await warehouse.loadBatch({ entity: 'appointments', batchDate: gone, objects: [goneShard] });
    const partlyShards = [
      await appointmentsShard(partly, 51_001, 4, addDays(runDate, -35)),
      await appointmentsShard(partly, 52_001, 3, addDays(runDate, -10)),
    ];
    await warehouse.loadBatch({ entity: 'appointments', batchDate: partly, objects: partlyShards });
    await loadAppointments(kept, 53_001, 40);
    assert.deepEqual(await ledgerDates('appointments'), [gone, partly, kept].sort());

    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });
    const result = await cleanupTable({ runDate, table: 'appointments', retentionDays: 30 }); // the same cutoff
    assert.equal(result.cutoff, cutoff);
    assert.equal(result.rowsDeleted, 10);
    assert.deepEqual(await ledgerDates('appointments'), [kept], 'the ledger no longer claims the removed batches');
    assert.equal(result.ledgerRowsDeleted, 2);

    // The same objects again: really loaded (not `unchanged` over a table that no longer holds them).
    const reload = await warehouse.loadBatch({ entity: 'appointments', batchDate: gone, objects: [goneShard] });
    assert.equal(reload.status, 'loaded');
    assert.equal(await warehouse.countBatch('appointments', gone), 6);
    const reloadPartly = await warehouse.loadBatch({
      entity: 'appointments',
      batchDate: partly,
      objects: partlyShards,
    });
    assert.equal(reloadPartly.status, 'loaded');
    assert.equal(await warehouse.countBatch('appointments', partly), 7, 'the whole batch, not only its kept part');
  });

  test('patients past the window go with a verified backup, but not while appointments of their batch remain', async () => {
    const { runDate, cutoff } = await freshRun(30, ['appointments', 'patients']);
    const old = addDays(runDate, -40); // its appointments are expired too
    const booked = addDays(runDate, -39); // its appointments fall after the cutoff: still referenced
    for (const [day, firstId, appointmentDay] of [
      [old, 60_001, old],
      [booked, 61_001, addDays(runDate, -3)],
      [runDate, 62_001, runDate],
    ] as const) {
      const patients = await putShard(
        store,
        `${prefix}/raw/patients/dt=${day}/part-00000.csv`,
        patientsCsv(day, firstId, 5),
        5,
      );
      await warehouse.loadBatch({ entity: 'patients', batchDate: day, objects: [patients] });
      await loadAppointments(day, firstId, 5, appointmentDay);
    }
    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });
    // Even asked first, patients whose appointments are still there stay.
    const early = await cleanupTable({ runDate, table: 'patients', cutoff, allowLargeCleanup: true });
    assert.equal(early.status, 'nothing-to-clean');
    assert.equal(await count('patients'), 15);

    const appointments = await cleanupTable({ runDate, table: 'appointments', cutoff, allowLargeCleanup: true });
    assert.equal(appointments.rowsDeleted, 5);
    // `nothing-to-clean` records nothing, so the same run date cleans again once the appointments are gone.
    const patients = await cleanupTable({ runDate, table: 'patients', cutoff, allowLargeCleanup: true });
    assert.equal(patients.status, 'cleaned');
    assert.equal(patients.rowsDeleted, 5);
    assert.equal(patients.ledgerRowsDeleted, 1);
    assert.equal(await warehouse.countBatch('patients', old), 0, 'the old batch with no appointments left is gone');
    assert.equal(await warehouse.countBatch('patients', booked), 5, 'kept while its appointments remain');
    assert.equal(await warehouse.countBatch('patients', runDate), 5);
    const backup = parse(await store.getText(patients.backupKey ?? ''), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      backup.map((r) => r.full_name),
      [60_001, 60_002, 60_003, 60_004, 60_005].map((id) => `Maria Teste ${id}`),
    );
  });

  test("the patient loop's tables: expired ratings and reminder events are backed up, verified and deleted", async () => {
    const { runDate, cutoff } = await freshRun(30, ['rating_requests', 'reminder_events']);
    const old = addDays(runDate, -40);
    const recent = addDays(runDate, -3);
    // Ratings age by the appointment's day: 3 expired, 1 on the cutoff day and 11 recent ones stay (3 of 15 = 0.2).
    await insertRatingRequests(old, [70_001, 70_002, 70_003]);
    await insertRatingRequests(cutoff, [70_101]);
    await insertRatingRequests(
      recent,
      Array.from({ length: 11 }, (_, i) => 70_201 + i),
    );
    // Reminder events age by appointment_on; one appointment has several events (the key is (appointment_id, event)).
    await insertReminderEvents(old, 71_001, ['selected', 'sent', 'confirmed']);
    await insertReminderEvents(addDays(cutoff, -1), 71_002, ['selected']);
    await insertReminderEvents(cutoff, 71_101, ['selected', 'sent']); // kept
    for (let i = 0; i < 7; i++) await insertReminderEvents(recent, 71_201 + i, ['selected', 'sent']); // kept
    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });

    const ratings = await cleanupTable({ runDate, table: 'rating_requests', cutoff });
    const ratingsKey = `${keys.backupPrefix('rating_requests', runDate)}part-00000.csv`;
    // Not a batch table: no load-ledger rows to remove, so the result names none.
    assert.deepEqual(ratings, {
      table: 'rating_requests',
      cutoff,
      backupKey: ratingsKey,
      rowsBackedUp: 3,
      rowsDeleted: 3,
      status: 'cleaned',
    });
    const ratingsBackup = parse(await store.getText(ratingsKey), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      ratingsBackup.map((r) => [r.appointment_id, r.patient_id, r.appointment_day, r.status, r.rating]),
      [
        ['70001', '570001', old, 'rated', '2'],
        ['70002', '570002', old, 'no-response', ''],
        ['70003', '570003', old, 'rated', '4'],
      ],
    );
    assert.equal(ratingsBackup[0]?.comment, 'Atenciosa, pontual\nvoltarei', 'the whole row, quoted comment included');
    const ratingDays = await warehouse.query<{ d: string; n: number }>(
      'SELECT appointment_day::text AS d, count(*)::int AS n FROM raw.rating_requests GROUP BY 1 ORDER BY 1',
    );
    assert.deepEqual(ratingDays, [
      { d: cutoff, n: 1 },
      { d: recent, n: 11 },
    ]);

    const events = await cleanupTable({ runDate, table: 'reminder_events', cutoff });
    const eventsKey = `${keys.backupPrefix('reminder_events', runDate)}part-00000.csv`;
    assert.deepEqual(events, {
      table: 'reminder_events',
      cutoff,
      backupKey: eventsKey,
      rowsBackedUp: 4,
      rowsDeleted: 4,
      status: 'cleaned',
    });
    const eventsBackup = parse(await store.getText(eventsKey), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      eventsBackup.map((r) => [r.appointment_id, r.event, r.appointment_on, r.patient_id, r.arm]),
      [
        ['71001', 'confirmed', old, '671001', 'reminded'],
        ['71001', 'selected', old, '671001', 'reminded'],
        ['71001', 'sent', old, '671001', 'reminded'],
        ['71002', 'selected', addDays(cutoff, -1), '671002', 'reminded'],
      ],
    );
    assert.deepEqual(Object.keys(eventsBackup[0] ?? {}), [
      'appointment_id',
      'patient_id',
      'decided_on',
      'appointment_on',
      'probability',
      'arm',
      'event',
      'at',
    ]);
    const eventDays = await warehouse.query<{ d: string; n: number }>(
      'SELECT appointment_on::text AS d, count(*)::int AS n FROM raw.reminder_events GROUP BY 1 ORDER BY 1',
    );
    assert.deepEqual(eventDays, [
      { d: cutoff, n: 2 },
      { d: recent, n: 14 },
    ]);

    // The cleanup ledger records both, so a rerun is already-done and takes nothing that expired since.
    const ledger = await warehouse.query<{ table_name: string; rows: number; backup_key: string }>(
      'SELECT table_name, rows::int AS rows, backup_key FROM raw._cleanup_ledger WHERE run_date = $1 ORDER BY 1',
      [runDate],
    );
    assert.deepEqual(ledger, [
      { table_name: 'rating_requests', rows: 3, backup_key: ratingsKey },
      { table_name: 'reminder_events', rows: 4, backup_key: eventsKey },
    ]);
    await insertRatingRequests(old, [70_005]);
    await insertReminderEvents(old, 71_005, ['selected']);
    for (const table of ['rating_requests', 'reminder_events'] as const) {
      const rerun = await cleanupTable({ runDate, table, cutoff });
      assert.equal(rerun.status, 'already-done', table);
    }
    assert.equal(await count('rating_requests'), 13);
    assert.equal(await count('reminder_events'), 17);
  });

  test("the patient loop's tables keep RETENTION_MAX_DELETE_SHARE and a backup that does not verify deletes nothing", async () => {
    const { runDate, cutoff } = await freshRun(30, ['rating_requests', 'reminder_events']);
    const old = addDays(runDate, -45);
    await insertRatingRequests(old, [72_001, 72_002]);
    await insertRatingRequests(runDate, [72_101, 72_102, 72_103]); // 2 of 5 would go (40%)
    await insertReminderEvents(old, 73_001, ['selected', 'sent']);
    await insertReminderEvents(runDate, 73_101, ['selected', 'sent', 'no-answer']);
    const { cleanupTable } = createCleanupActivities({ warehouse, store, config });

    await assert.rejects(cleanupTable({ runDate, table: 'rating_requests', cutoff }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'RetentionLimitExceeded');
      assert.match(err.message, /raw\.rating_requests refused: it would delete 2 of 5 rows \(40\.0%\)/);
      return true;
    });
    assert.equal(await count('rating_requests'), 5, 'nothing deleted');
    assert.deepEqual(await store.list(keys.backupPrefix('rating_requests', runDate)), [], 'no backup written');

    // A backup that re-reads short (one event of the appointment lost): the delete does not run.
    await assert.rejects(
      warehouse.cleanupExpired({ table: 'reminder_events', runDate, cutoff }, async () => ({
        rows: 1,
        keySum: '73001',
      })),
      { type: 'BackupVerificationFailed', nonRetryable: true },
    );
    assert.equal(await count('reminder_events'), 5);
    assert.equal((await warehouse.query('SELECT 1 FROM raw._cleanup_ledger')).length, 0, 'no cleanup ledger row');

    const allowed = await cleanupTable({ runDate, table: 'rating_requests', cutoff, allowLargeCleanup: true });
    assert.equal(allowed.rowsDeleted, 2);
    const events = await cleanupTable({ runDate, table: 'reminder_events', cutoff, allowLargeCleanup: true });
    assert.equal(events.rowsDeleted, 2);
    assert.equal(await count('rating_requests'), 3);
    assert.equal(await count('reminder_events'), 3);
  });
});

describe('raw objects and backups past their windows (a bucket of their own)', () => {
  let config: Config;
  let store: ObjectStore;
  const bucket = `hs-cleanup-sweep-${randomUUID().slice(0, 8)}`;

  before(async () => {
    config = testConfig();
    store = new ObjectStore(ObjectStore.fromConfig(config.s3).client, bucket);
    await store.ensureBucket();
  });
  after(async () => {
    await deleteBucket(store);
    store.client.destroy();
  });

  test('cleanupRawObjects deletes every day folder before the cutoff (raw, reminders) and nothing else', async () => {
    const cutoff = '2013-03-01';
    const put = (key: string) => store.put(key, 'x\n', 'text/csv');
    const expired = [
      'raw/appointments/dt=2013-01-15/part-00000.csv',
      'raw/appointments/dt=2013-01-15/part-00001.csv',
      'raw/patients/dt=2013-01-15/part-00000.csv',
      'raw/clinics/dt=2013-02-28/part-00000.csv',
      // The reminders of the appointments on an expired day: patient ids, risk scores, answers.
      'reminders/dt=2013-02-28/decision.json',
      'reminders/dt=2013-02-28/reminded.csv',
      'reminders/dt=2013-01-15/reminded.csv',
    ];
    const kept = [
      'raw/appointments/dt=2013-03-01/part-00000.csv', // the cutoff day itself is inside the window
      'raw/feedback/dt=2013-06-01/part-00000.csv',
      'raw/appointments/README.txt', // not a day folder
      'reports/dt=2013-01-15/doctor-rating.png', // not raw data
      'reminders/dt=2013-03-01/decision.json', // the cutoff day's appointments are still inside the window
      'reminders/dt=2013-03-02/reminded.csv',
    ];
    for (const key of [...expired, ...kept]) await put(key);
    const { cleanupRawObjects } = createCleanupActivities({
      warehouse: undefined as never, // the sweep reads no table
      store,
      config,
    });
    assert.deepEqual(await cleanupRawObjects({ cutoff }), { prefixesDeleted: 5, objectsDeleted: 7 });
    assert.deepEqual(
      (await store.list('')).map((o) => o.key),
      [...kept].sort((a, b) => a.localeCompare(b)),
    );
    assert.deepEqual(await cleanupRawObjects({ cutoff }), { prefixesDeleted: 0, objectsDeleted: 0 }, 'idempotent');
  });

  test('cleanupBackups deletes backups written more than BACKUP_RETENTION_DAYS ago, by their LastModified', async () => {
    const older = await store.put('backups/appointments/dt=2013-01-15/part-00000.csv', 'a\n', 'text/csv');
    await sleep(1_100); // S3 LastModified has whole seconds
    const newer = await store.put('backups/patients/dt=2013-01-16/part-00000.csv', 'b\n', 'text/csv');
    const notBackup = await store.put('raw/clinics/dt=2030-01-01/part-00000.csv', 'c\n', 'text/csv');
    const listed = new Map((await store.list('')).map((o) => [o.key, o.lastModified?.getTime() ?? NaN]));
    const olderAt = listed.get(older.key) ?? NaN;
    const newerAt = listed.get(newer.key) ?? NaN;
    assert.ok(olderAt < newerAt, 'the two backups have different LastModified seconds');
    // A clock 30 days after the moment between the two writes: the first is past the window, the second not.
    const now = (olderAt + newerAt) / 2 + config.backupRetentionDays * 86_400_000;
    const { cleanupBackups } = createCleanupActivities({
      warehouse: undefined as never,
      store,
      config,
      now: () => now,
    });
    assert.equal(config.backupRetentionDays, 30, 'the default window');
    assert.deepEqual(await cleanupBackups({}), { objectsDeleted: 1, retentionDays: 30 });
    const left = (await store.list('')).map((o) => o.key);
    assert.ok(!left.includes(older.key), 'the old backup is gone');
    assert.ok(left.includes(newer.key) && left.includes(notBackup.key), 'the newer backup and other objects stay');
  });
});
