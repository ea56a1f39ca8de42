/**
 * The Redshift adapter against a mocked Redshift Data API (the one mock we allow) and the real local S3
 * for manifests and backups: the exact SQL sent, FAILED/ABORTED, paging, throttling, cleanup's guard.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  ActiveStatementsExceededException,
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { verifyBackup } from '../../src/activities/cleanup.js';
import { ObjectStore } from '../../src/activities/storage.js';
import { canonicalObjects, ensureRawTablesSql } from '../../src/activities/warehouse/ddl.js';
import { manifestKey, RedshiftStatementError, RedshiftWarehouse } from '../../src/activities/warehouse/redshift.js';
import { loadConfig } from '../../src/config.js';
import { csvHeader, type EntityName } from '../../src/domain/entities.js';

const ROLE = 'arn:aws:iam::123456789012:role/healthsynth-redshift';
const rs = mockClient(RedshiftDataClient);
const store = ObjectStore.fromConfig(loadConfig().s3);
const written: string[] = [];
let sleeps: number[] = [];

function warehouse(target: Partial<ConstructorParameters<typeof RedshiftWarehouse>[0]['target']> = {}) {
  return new RedshiftWarehouse({
    client: new RedshiftDataClient({ region: 'eu-west-1' }),
    store,
    target: { database: 'analytics', clusterId: 'hs-cluster', dbUser: 'loader', ...target },
    iamRole: ROLE,
    region: 'eu-west-1',
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

/** Every statement id finishes at once; ids ending in a batch get numbered sub-statements. */
function finishEverything() {
  rs.on(DescribeStatementCommand).callsFake(({ Id }: { Id: string }) => ({
    Id,
    Status: 'FINISHED',
    HasResultSet: true,
    SubStatements: Array.from({ length: 8 }, (_, i) => ({ Id: `${Id}:${i + 1}`, Status: 'FINISHED', ResultRows: 0 })),
  }));
}

/** Writes a part file with `entity`'s header (or `header`) and `rows` data lines; returns its shard descriptor. */
async function putPart(entity: EntityName, batchDate: string, name: string, rows: number, header = csvHeader(entity)) {
  const key = `raw/${entity}/dt=${batchDate}/${name}`;
  const body = `${header}\n${Array.from({ length: rows }, (_, i) => `${i + 1},row`).join('\n')}\n`;
  const stored = await store.put(key, body, 'text/csv');
  written.push(key);
  return { key, etag: stored.etag, bytes: stored.size, rows };
}

const sqlsSent = () => rs.commandCalls(BatchExecuteStatementCommand).map((c) => c.args[0].input.Sqls);
const day = () =>
  `27${String(Math.floor(Math.random() * 100)).padStart(2, '0')}-0${1 + Math.floor(Math.random() * 9)}-1${Math.floor(Math.random() * 9)}`;

describe('Redshift Data API adapter', () => {
  before(async () => store.ensureBucket());
  afterEach(() => {
    rs.reset();
    sleeps = [];
  });
  after(async () => store.delete(written));

  test('loadBatch: DDL once, ledger check, one guarded batch with the exact SQL, count read back', async () => {
    const batchDate = day();
    const objects = [
      await putPart('appointments', batchDate, 'part-00001.csv', 40),
      await putPart('appointments', batchDate, 'part-00000.csv', 60),
    ];
    const ledger = canonicalObjects(objects);
    const manifest = manifestKey('appointments', batchDate, ledger);
    written.push(manifest);
    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'load' });
    rs.on(ExecuteStatementCommand).resolves({ Id: 'ledger' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED' });
    rs.on(DescribeStatementCommand, { Id: 'ledger' })
      .resolvesOnce({ Status: 'STARTED' })
      .resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(DescribeStatementCommand, { Id: 'load' }).resolves({
      Status: 'FINISHED',
      SubStatements: Array.from({ length: 7 }, (_, i) => ({ Id: `load:${i + 1}`, Status: 'FINISHED' })),
    });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [], ColumnMetadata: [] });
    rs.on(GetStatementResultCommand, { Id: 'load:3' }).resolves({
      Records: [[{ longValue: 100 }, { longValue: 1 }]],
      ColumnMetadata: [
        { name: 'staged', typeName: 'int8' },
        { name: 'guard', typeName: 'int4' },
      ],
    });

    const progress: number[] = [];
    const result = await warehouse().loadBatch(
      { entity: 'appointments', batchDate, objects },
      { onProgress: (p) => progress.push(p.rows) },
    );
    assert.equal(result.status, 'loaded');
    assert.equal(result.rows, 100);
    assert.deepEqual(progress, [100]);

    const [ddl, load] = sqlsSent();
    assert.deepEqual(ddl, ensureRawTablesSql('redshift'));
    const cols =
      'appointment_id, patient_id, doctor_id, scheduled_at, appointment_day, sms_received, no_show, batch_date';
    assert.deepEqual(load, [
      'CREATE TEMP TABLE stage_appointments (LIKE raw.appointments)',
      `COPY stage_appointments (${cols}) FROM 's3://${store.bucket}/${manifest}' IAM_ROLE '${ROLE}' MANIFEST FORMAT AS CSV ` +
        `IGNOREHEADER 1 DATEFORMAT 'YYYY-MM-DD' TIMEFORMAT 'YYYY-MM-DD HH:MI:SS' REGION 'eu-west-1'`,
      `SELECT COUNT(*) AS staged, 1 / (CASE WHEN COUNT(*) = 100 THEN 1 ELSE 0 END) AS guard FROM stage_appointments ` +
        `WHERE batch_date = '${batchDate}'::date`,
      `DELETE FROM raw.appointments WHERE batch_date = '${batchDate}'::date`,
      'INSERT INTO raw.appointments SELECT * FROM stage_appointments',
      `DELETE FROM raw._load_ledger WHERE entity = 'appointments' AND batch_date = '${batchDate}'::date`,
      `INSERT INTO raw._load_ledger (entity, batch_date, objects, rows, loaded_at) VALUES ('appointments', ` +
        `'${batchDate}'::date, '${ledger}', 100, GETDATE())`,
    ]);
    const batchInput = rs.commandCalls(BatchExecuteStatementCommand)[1]?.args[0].input;
    assert.equal(batchInput?.ClusterIdentifier, 'hs-cluster');
    assert.equal(batchInput?.DbUser, 'loader');
    assert.equal(batchInput?.Database, 'analytics');

    const ledgerCall = rs.commandCalls(ExecuteStatementCommand)[0]?.args[0].input;
    assert.equal(ledgerCall?.Sql, 'SELECT objects, rows FROM raw._load_ledger WHERE entity = :p1 AND batch_date = :p2');
    assert.deepEqual(ledgerCall?.Parameters, [
      { name: 'p1', value: 'appointments' },
      { name: 'p2', value: batchDate },
    ]);
    // The manifest names exactly the batch's objects; COPY loads nothing else under the prefix.
    const listed = JSON.parse(await store.getText(manifest)) as { entries: { url: string; mandatory: boolean }[] };
    assert.deepEqual(
      listed.entries.map((e) => e.url).sort(),
      objects.map((o) => `s3://${store.bucket}/${o.key}`).sort(),
    );
    assert.deepEqual(sleeps, [200]); // one poll of the ledger query while STARTED
  });

  test('loadBatch with the ledger already holding the same objects, and the table their rows, sends no batch', async () => {
    const batchDate = day();
    const objects = [{ key: `raw/clinics/dt=${batchDate}/part-00000.csv`, etag: 'x', bytes: 1, rows: 12 }];
    rs.on(BatchExecuteStatementCommand).resolves({ Id: 'ddl' });
    rs.on(ExecuteStatementCommand).resolvesOnce({ Id: 'ledger' }).resolves({ Id: 'count' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({
      Records: [[{ stringValue: canonicalObjects(objects) }, { longValue: 12 }]],
      ColumnMetadata: [
        { name: 'objects', typeName: 'varchar' },
        { name: 'rows', typeName: 'int8' },
      ],
    });
    rs.on(GetStatementResultCommand, { Id: 'count' }).resolves({
      Records: [[{ longValue: 12 }]],
      ColumnMetadata: [{ name: 'n', typeName: 'int8' }],
    });
    const result = await warehouse({ workgroup: 'hs-wg', clusterId: undefined, dbUser: undefined }).loadBatch({
      entity: 'clinics',
      batchDate,
      objects,
    });
    assert.equal(result.status, 'unchanged');
    assert.equal(result.rows, 12);
    assert.equal(sqlsSent().length, 1); // only the DDL
    assert.equal(
      rs.commandCalls(ExecuteStatementCommand)[1]?.args[0].input.Sql,
      'SELECT COUNT(*) AS n FROM raw.clinics WHERE batch_date = :p1',
    );
    const input = rs.commandCalls(ExecuteStatementCommand)[0]?.args[0].input;
    assert.equal(input?.WorkgroupName, 'hs-wg');
    assert.equal(input?.DbUser, undefined);
    assert.equal(input?.ClusterIdentifier, undefined);
  });

  test('a FAILED COPY becomes CsvLoadError naming object and line from stl_load_errors', async () => {
    const batchDate = day();
    const objects = [await putPart('doctors', batchDate, 'part-00000.csv', 3)];
    const key = objects[0]!.key;
    written.push(manifestKey('doctors', batchDate, canonicalObjects(objects)));
    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'load' });
    rs.on(ExecuteStatementCommand).resolvesOnce({ Id: 'ledger' }).resolves({ Id: 'errors' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(DescribeStatementCommand, { Id: 'load' }).resolves({
      Status: 'FAILED',
      Error: 'batch failed',
      SubStatements: [
        { Id: 'load:1', Status: 'FINISHED' },
        {
          Id: 'load:2',
          Status: 'FAILED',
          Error: "ERROR: Load into table 'stage_doctors' failed. Check 'stl_load_errors' system table for details.",
          QueryString: 'COPY stage_doctors …',
          RedshiftQueryId: 4242,
        },
        { Id: 'load:3', Status: 'ABORTED' },
      ],
    });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [] });
    rs.on(GetStatementResultCommand, { Id: 'errors' }).resolves({
      Records: [
        [
          { stringValue: `s3://${store.bucket}/${key}` },
          { longValue: 7 },
          { stringValue: 'shift_start' },
          { stringValue: 'Invalid time format' },
        ],
      ],
      ColumnMetadata: [{ name: 'file' }, { name: 'line', typeName: 'int8' }, { name: 'col' }, { name: 'reason' }],
    });
    const err = await warehouse()
      .loadBatch({ entity: 'doctors', batchDate, objects })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'CsvLoadError');
    assert.equal(err.nonRetryable, true);
    assert.equal(err.message, `${key} line 7 (column shift_start): Invalid time format`);
    const lookup = rs.commandCalls(ExecuteStatementCommand)[1]?.args[0].input;
    assert.match(lookup?.Sql ?? '', /FROM stl_load_errors WHERE query = :p1/);
    assert.deepEqual(lookup?.Parameters, [{ name: 'p1', value: '4242' }]);
  });

  test("loadBatch reloads when the ledger matches but the table lost the batch's rows", async () => {
    const batchDate = day();
    const objects = [await putPart('clinics', batchDate, 'part-00000.csv', 12)];
    written.push(manifestKey('clinics', batchDate, canonicalObjects(objects)));
    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'load' });
    rs.on(ExecuteStatementCommand).resolvesOnce({ Id: 'ledger' }).resolves({ Id: 'count' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(DescribeStatementCommand, { Id: 'load' }).resolves({
      Status: 'FINISHED',
      SubStatements: Array.from({ length: 7 }, (_, i) => ({ Id: `load:${i + 1}`, Status: 'FINISHED' })),
    });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({
      Records: [[{ stringValue: canonicalObjects(objects) }, { longValue: 12 }]],
      ColumnMetadata: [
        { name: 'objects', typeName: 'varchar' },
        { name: 'rows', typeName: 'int8' },
      ],
    });
    // Retention deleted the rows and left the ledger row.
    rs.on(GetStatementResultCommand, { Id: 'count' }).resolves({
      Records: [[{ longValue: 0 }]],
      ColumnMetadata: [{ name: 'n', typeName: 'int8' }],
    });
    rs.on(GetStatementResultCommand, { Id: 'load:3' }).resolves({
      Records: [[{ longValue: 12 }, { longValue: 1 }]],
      ColumnMetadata: [
        { name: 'staged', typeName: 'int8' },
        { name: 'guard', typeName: 'int4' },
      ],
    });
    const result = await warehouse().loadBatch({ entity: 'clinics', batchDate, objects });
    assert.equal(result.status, 'loaded');
    assert.equal(result.rows, 12);
    assert.equal(sqlsSent().length, 2, 'the DDL and the load batch');
    assert.match(sqlsSent()[1]?.[1] ?? '', /^COPY stage_clinics /);
  });

  test("an object whose header is not the entity's fails with CsvLoadError before any COPY is sent", async () => {
    const batchDate = day();
    const swapped = csvHeader('appointments').replace('patient_id,doctor_id', 'doctor_id,patient_id');
    const good = await putPart('appointments', batchDate, 'part-00000.csv', 5);
    const bad = await putPart('appointments', batchDate, 'part-00001.csv', 5, swapped);
    rs.on(BatchExecuteStatementCommand).resolves({ Id: 'ddl' });
    rs.on(ExecuteStatementCommand).resolves({ Id: 'ledger' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(GetStatementResultCommand).resolves({ Records: [] });
    const err = await warehouse()
      .loadBatch({ entity: 'appointments', batchDate, objects: [good, bad] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'CsvLoadError');
    assert.equal(err.nonRetryable, true);
    assert.equal(
      err.message,
      `${bad.key}: CSV header does not match the appointments columns: expected "${csvHeader('appointments')}", ` +
        `found "${swapped}"`,
    );
    assert.equal(sqlsSent().length, 1, 'only the DDL: no load batch');
    await assert.rejects(store.getText(manifestKey('appointments', batchDate, canonicalObjects([good, bad]))));
  });

  test('ABORTED stays retryable and names the status, the error and the statement', async () => {
    rs.on(ExecuteStatementCommand).resolves({ Id: 'q' });
    rs.on(DescribeStatementCommand).resolves({
      Status: 'ABORTED',
      Error: 'Query cancelled by user',
      QueryString: 'SELECT count(*) FROM raw.records',
    });
    const err = await warehouse()
      .query('SELECT count(*) FROM raw.records')
      .catch((e: unknown) => e);
    assert.ok(err instanceof RedshiftStatementError);
    assert.ok(!(err instanceof ApplicationFailure));
    assert.equal(err.status, 'ABORTED');
    assert.match(err.message, /ABORTED: Query cancelled by user\n {2}SQL: SELECT count\(\*\) FROM raw\.records/);
  });

  test('query pages through NextToken and converts field types', async () => {
    rs.on(ExecuteStatementCommand).resolves({ Id: 'q' });
    finishEverything();
    const meta = [
      { name: 'doctor', typeName: 'varchar' },
      { name: 'score', typeName: 'numeric' },
      { name: 'n', typeName: 'int8' },
      { name: 'note', typeName: 'varchar' },
    ];
    rs.on(GetStatementResultCommand, { Id: 'q' }).resolves({
      Records: [[{ stringValue: 'Dr A' }, { stringValue: '4.50' }, { longValue: 10 }, { isNull: true }]],
      ColumnMetadata: meta,
      NextToken: 't2',
    });
    rs.on(GetStatementResultCommand, { Id: 'q', NextToken: 't2' }).resolves({
      Records: [[{ stringValue: 'Dr B' }, { stringValue: '3.25' }, { longValue: 7 }, { stringValue: 'ok' }]],
      ColumnMetadata: meta,
    });
    const rows = await warehouse().query('SELECT * FROM marts.doctor_rating WHERE run_date = $1', ['2026-01-05']);
    assert.deepEqual(rows, [
      { doctor: 'Dr A', score: 4.5, n: 10, note: null },
      { doctor: 'Dr B', score: 3.25, n: 7, note: 'ok' },
    ]);
    assert.equal(rs.commandCalls(GetStatementResultCommand).length, 2);
    assert.equal(
      rs.commandCalls(ExecuteStatementCommand)[0]?.args[0].input.Sql,
      'SELECT * FROM marts.doctor_rating WHERE run_date = :p1',
    );
  });

  test('ActiveStatementsExceeded and Throttling retry with capped exponential backoff, then give up retryably', async () => {
    const busy = () => new ActiveStatementsExceededException({ message: 'too many', $metadata: {} });
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    rs.on(ExecuteStatementCommand).rejectsOnce(busy()).rejectsOnce(throttled).rejectsOnce(busy()).resolves({ Id: 'q' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: false });
    assert.deepEqual(await warehouse().query('DELETE FROM raw.x'), []);
    assert.deepEqual(sleeps, [500, 1000, 2000]);
    assert.equal(rs.commandCalls(ExecuteStatementCommand).length, 4);

    rs.reset();
    sleeps = [];
    rs.on(ExecuteStatementCommand).rejects(busy());
    await assert.rejects(warehouse().query('SELECT 1'), { name: 'ActiveStatementsExceededException' });
    assert.deepEqual(sleeps, [500, 1000, 2000, 4000, 8000, 15000, 15000]);
  });

  test('cleanupExpired: ledger, count, exact UNLOAD, verified backup, guarded delete', async () => {
    const runDate = day();
    const prefix = `backups/records/dt=${runDate}/`;
    // What UNLOAD would have written: one CSV file with a header and its manifest.
    const csv = `${csvHeader('records')}\n11,1,1,1,2020-01-01,flu,10.00,2020-01-01\n12,2,2,2,2020-01-02,"cold, mild",20.50,2020-01-02\n`;
    await store.put(`${prefix}part-000.csv`, csv, 'text/csv');
    await store.put(
      `${prefix}part-manifest`,
      JSON.stringify({ entries: [{ url: `s3://${store.bucket}/${prefix}part-000.csv` }] }),
    );
    written.push(`${prefix}part-000.csv`, `${prefix}part-manifest`);

    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'delete' });
    rs.on(ExecuteStatementCommand)
      .resolvesOnce({ Id: 'ledger' })
      .resolvesOnce({ Id: 'count' })
      .resolves({ Id: 'unload' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(DescribeStatementCommand, { Id: 'delete' }).resolves({
      Status: 'FINISHED',
      SubStatements: [
        { Id: 'delete:1', Status: 'FINISHED' },
        { Id: 'delete:2', Status: 'FINISHED', ResultRows: 2 },
      ],
    });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [] });
    rs.on(GetStatementResultCommand, { Id: 'count' }).resolves({
      Records: [[{ longValue: 2 }, { stringValue: '23' }]],
      ColumnMetadata: [
        { name: 'n', typeName: 'int8' },
        { name: 'key_sum', typeName: 'varchar' },
      ],
    });

    const wh = warehouse();
    const result = await wh.cleanupExpired({ table: 'records', runDate, cutoff: '2025-01-01' }, (b) =>
      verifyBackup(store, 'records', b),
    );
    assert.deepEqual(result, {
      table: 'records',
      cutoff: '2025-01-01',
      backupKey: `${prefix}part-000.csv`,
      rowsBackedUp: 2,
      rowsDeleted: 2,
      status: 'cleaned',
    });
    const cols = 'record_id, appointment_id, patient_id, doctor_id, report_date, diagnosis, billing_amount, batch_date';
    const statements = rs.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.Sql);
    assert.deepEqual(statements, [
      'SELECT cutoff, backup_key, rows FROM raw._cleanup_ledger WHERE run_date = :p1 AND table_name = :p2',
      "SELECT COUNT(*) AS n, COALESCE(SUM(record_id::decimal(38,0)), 0)::varchar AS key_sum FROM raw.records WHERE report_date < '2025-01-01'::date",
      `UNLOAD ('SELECT ${cols} FROM raw.records WHERE report_date < ''2025-01-01''::date') TO 's3://${store.bucket}/${prefix}part-' ` +
        `IAM_ROLE '${ROLE}' FORMAT AS CSV HEADER PARALLEL OFF ALLOWOVERWRITE MANIFEST EXTENSION 'csv' REGION 'eu-west-1'`,
    ]);
    assert.deepEqual(sqlsSent()[1], [
      "SELECT 1 / (CASE WHEN COUNT(*) = 2 AND COALESCE(SUM(record_id::decimal(38,0)), 0) = 23 THEN 1 ELSE 0 END) AS guard FROM raw.records WHERE report_date < '2025-01-01'::date",
      "DELETE FROM raw.records WHERE report_date < '2025-01-01'::date",
      `DELETE FROM raw._cleanup_ledger WHERE run_date = '${runDate}'::date AND table_name = 'records'`,
      `INSERT INTO raw._cleanup_ledger (run_date, table_name, cutoff, backup_key, rows, cleaned_at) VALUES ('${runDate}'::date, 'records', '2025-01-01'::date, '${prefix}part-000.csv', 2, GETDATE())`,
    ]);
  });

  test('cleanupExpired with a backup that holds fewer rows than due sends no delete', async () => {
    const runDate = day();
    const prefix = `backups/feedback/dt=${runDate}/`;
    await store.put(`${prefix}part-000.csv`, `${csvHeader('feedback')}\n5,1,1,1,4,,2020-01-01 10:00:00,2020-01-01\n`);
    await store.put(
      `${prefix}part-manifest`,
      JSON.stringify({ entries: [{ url: `s3://${store.bucket}/${prefix}part-000.csv` }] }),
    );
    written.push(`${prefix}part-000.csv`, `${prefix}part-manifest`);
    rs.on(BatchExecuteStatementCommand).resolves({ Id: 'ddl' });
    rs.on(ExecuteStatementCommand)
      .resolvesOnce({ Id: 'ledger' })
      .resolvesOnce({ Id: 'count' })
      .resolves({ Id: 'unload' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [] });
    rs.on(GetStatementResultCommand, { Id: 'count' }).resolves({
      Records: [[{ longValue: 3 }, { stringValue: '18' }]],
      ColumnMetadata: [
        { name: 'n', typeName: 'int8' },
        { name: 'key_sum', typeName: 'varchar' },
      ],
    });
    await assert.rejects(
      warehouse().cleanupExpired({ table: 'feedback', runDate, cutoff: '2025-01-01' }, (b) =>
        verifyBackup(store, 'feedback', b),
      ),
      { type: 'BackupVerificationFailed', nonRetryable: true },
    );
    assert.equal(sqlsSent().length, 1); // the DDL only: no delete batch
  });
});
