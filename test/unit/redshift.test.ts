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
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import { verifyBackup } from '../../src/activities/cleanup.js';
import { createLoadActivities } from '../../src/activities/load.js';
import { ObjectStore } from '../../src/activities/storage.js';
import { canonicalObjects, ensureRawTablesSql } from '../../src/activities/warehouse/ddl.js';
import type { LoadProgress } from '../../src/activities/warehouse/index.js';
import type { LoadResult, ShardObject } from '../../src/domain/types.js';
import { manifestKey } from '../../src/activities/warehouse/redshift-load.js';
import { RedshiftStatementError, RedshiftWarehouse } from '../../src/activities/warehouse/redshift.js';
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

/**
 * Answers the load's ledger check: the ledger row holds `objects` with 12 rows, and the table holds `tableRows`
 * rows of the batch (statements 'ledger' and 'count').
 */
function answerLedgerCheck(objects: ShardObject[], tableRows: number) {
  rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({
    Records: [[{ stringValue: canonicalObjects(objects) }, { longValue: 12 }]],
    ColumnMetadata: [
      { name: 'objects', typeName: 'varchar' },
      { name: 'rows', typeName: 'int8' },
    ],
  });
  rs.on(GetStatementResultCommand, { Id: 'count' }).resolves({
    Records: [[{ longValue: tableRows }]],
    ColumnMetadata: [{ name: 'n', typeName: 'int8' }],
  });
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
      SubStatements: Array.from({ length: 8 }, (_, i) => ({ Id: `load:${i + 1}`, Status: 'FINISHED' })),
    });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [], ColumnMetadata: [] });
    rs.on(GetStatementResultCommand, { Id: 'load:3' }).resolves({
      Records: [[{ longValue: 100 }, { longValue: 1 }]],
      ColumnMetadata: [
        { name: 'staged', typeName: 'int8' },
        { name: 'guard', typeName: 'int4' },
      ],
    });

    const progress: LoadProgress[] = [];
    const result = await warehouse().loadBatch(
      { entity: 'appointments', batchDate, objects },
      { onProgress: (p) => progress.push(p) },
    );
    assert.equal(result.status, 'loaded');
    assert.equal(result.rows, 100);
    // Submitted and polled once: both name the statement and its manifest, for the heartbeat a retry resumes from.
    assert.deepEqual(progress, [
      { phase: 'connect', rows: 0 },
      { phase: 'statement', rows: 0, statementId: 'load', manifest },
      { phase: 'statement', rows: 0, statementId: 'load', manifest },
      { phase: 'commit', rows: 100 },
    ]);

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
      `DELETE FROM raw._published_batches WHERE batch_date = '${batchDate}'::date`,
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
    answerLedgerCheck(objects, 12);
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

  /** Mocks for a load of `batchDate` whose batch FAILED at its COPY, and SYS_LOAD_ERROR_DETAIL answering `logged`. */
  function failedCopy(logged: Record<string, unknown>[][]) {
    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'load' });
    rs.on(ExecuteStatementCommand).resolvesOnce({ Id: 'ledger' }).resolves({ Id: 'errors' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED', HasResultSet: true });
    rs.on(DescribeStatementCommand, { Id: 'load' }).resolves({
      Status: 'FAILED',
      Error: 'batch failed',
      RedshiftPid: 1073815778,
      CreatedAt: new Date('2026-01-05T10:00:00.250Z'),
      SubStatements: [
        { Id: 'load:1', Status: 'FINISHED' },
        {
          Id: 'load:2',
          Status: 'FAILED',
          Error:
            "ERROR: Load into table 'stage_doctors' failed. Check 'sys_load_error_detail' system table for details.",
          QueryString: 'COPY stage_doctors …',
          RedshiftQueryId: 4242,
        },
        { Id: 'load:3', Status: 'ABORTED' },
      ],
    });
    rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [] });
    rs.on(GetStatementResultCommand, { Id: 'errors' }).resolves({
      Records: logged as never,
      ColumnMetadata: [{ name: 'file' }, { name: 'line', typeName: 'int8' }, { name: 'col' }, { name: 'reason' }],
    });
  }

  test('a FAILED COPY with a logged load error becomes CsvLoadError naming object and line', async () => {
    const batchDate = day();
    const objects = [await putPart('doctors', batchDate, 'part-00000.csv', 3)];
    const key = objects[0]!.key;
    written.push(manifestKey('doctors', batchDate, canonicalObjects(objects)));
    failedCopy([
      [
        { stringValue: `s3://${store.bucket}/${key}` },
        { longValue: 7 },
        { stringValue: 'shift_start' },
        { stringValue: 'Invalid time format' },
      ],
    ]);
    const err = await warehouse()
      .loadBatch({ entity: 'doctors', batchDate, objects })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'CsvLoadError');
    assert.equal(err.nonRetryable, true);
    assert.equal(err.message, `${key} line 7 (column shift_start): Invalid time format`);
    // SYS_LOAD_ERROR_DETAIL, found by the batch's session, submission time and prefix: its query_id is not the
    // Data API's RedshiftQueryId.
    const lookup = rs.commandCalls(ExecuteStatementCommand)[1]?.args[0].input;
    assert.equal(
      lookup?.Sql,
      'SELECT TRIM(file_name) AS file, line_number AS line, TRIM(column_name) AS col, TRIM(error_message) AS reason ' +
        'FROM sys_load_error_detail WHERE start_time >= :p1 AND TRIM(file_name) LIKE :p2 AND session_id = :p3 ' +
        'ORDER BY start_time LIMIT 1',
    );
    assert.deepEqual(lookup?.Parameters, [
      { name: 'p1', value: '2026-01-05 09:59:00.250' },
      { name: 'p2', value: `s3://${store.bucket}/raw/doctors/dt=${batchDate}/%` },
      { name: 'p3', value: '1073815778' },
    ]);
  });

  test('a FAILED COPY without a logged load error stays retryable', async () => {
    const batchDate = day();
    const objects = [await putPart('doctors', batchDate, 'part-00000.csv', 3)];
    written.push(manifestKey('doctors', batchDate, canonicalObjects(objects)));
    failedCopy([]); // e.g. S3 access denied or a cluster restart: nothing wrong with the data
    const err = await warehouse()
      .loadBatch({ entity: 'doctors', batchDate, objects })
      .catch((e: unknown) => e);
    assert.ok(err instanceof RedshiftStatementError, String(err));
    assert.ok(!(err instanceof ApplicationFailure), 'a plain error, so Temporal retries it');
    assert.equal(err.failedIndex, 1);
    assert.match(err.message, /statement 2 of the batch\) FAILED: ERROR: Load into table 'stage_doctors' failed/);
  });

  test('a statement that finds a raw table gone makes the next attempt create the raw tables again', async () => {
    const batchDate = day();
    const objects = [await putPart('doctors', batchDate, 'part-00000.csv', 3)];
    written.push(manifestKey('doctors', batchDate, canonicalObjects(objects)));
    rs.on(BatchExecuteStatementCommand).resolves({ Id: 'ddl' });
    rs.on(ExecuteStatementCommand).resolves({ Id: 'ledger' });
    rs.on(DescribeStatementCommand, { Id: 'ddl' }).resolves({ Status: 'FINISHED' });
    const ledgerFails = (error: string) =>
      rs.on(DescribeStatementCommand, { Id: 'ledger' }).resolves({ Status: 'FAILED', Error: error });
    const ddl = JSON.stringify(ensureRawTablesSql('redshift'));
    const ddlSent = () => sqlsSent().filter((sqls) => JSON.stringify(sqls) === ddl).length;
    const w = warehouse(); // one worker process: its memo of the raw tables lives as long as the adapter
    const attempt = () => w.loadBatch({ entity: 'doctors', batchDate, objects }).catch((e: unknown) => e);

    // The schema was dropped (or the cluster restored from an older snapshot) after this process made the tables.
    ledgerFails('ERROR: relation "raw._load_ledger" does not exist');
    for (const n of [1, 2]) {
      const err = await attempt();
      assert.ok(err instanceof RedshiftStatementError, String(err));
      assert.match(err.message, /relation "raw._load_ledger" does not exist/);
      assert.equal(ddlSent(), n, `the raw tables are created before attempt ${n}`);
    }
    // A failure of another kind leaves the memo alone: the tables are there.
    ledgerFails('ERROR: permission denied for relation _load_ledger');
    await attempt();
    await attempt();
    assert.equal(ddlSent(), 3, 'made again once after the missing relation, not after the permission error');
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
      SubStatements: Array.from({ length: 8 }, (_, i) => ({ Id: `load:${i + 1}`, Status: 'FINISHED' })),
    });
    // Retention deleted the rows and left the ledger row.
    answerLedgerCheck(objects, 0);
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

  /** Rows per entity a publishDay call reports. */
  const PUBLISH_ROWS = {
    clinics: 12,
    doctors: 80,
    patients: 700,
    appointments: 1000,
    records: 790,
    feedback: 190,
    schedule: 650,
  };

  test('publishDay: one batch of guards (ledger, then each table), the published row replaced', async () => {
    const batchDate = day();
    const rows = PUBLISH_ROWS;
    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'publish' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED' });
    const published = await warehouse().publishDay({ batchDate, rows });
    assert.deepEqual(published, { batchDate, rows, status: 'published' });
    const d = `'${batchDate}'::date`;
    const guard = (n: number) => `1 / (CASE WHEN COUNT(*) = ${n} THEN 1 ELSE 0 END) AS guard`;
    assert.deepEqual(sqlsSent()[1], [
      `SELECT ${guard(7)} FROM raw._load_ledger WHERE batch_date = ${d} AND ((entity = 'clinics' AND rows = 12) OR ` +
        `(entity = 'doctors' AND rows = 80) OR (entity = 'patients' AND rows = 700) OR ` +
        `(entity = 'appointments' AND rows = 1000) OR (entity = 'records' AND rows = 790) OR ` +
        `(entity = 'feedback' AND rows = 190) OR (entity = 'schedule' AND rows = 650))`,
      `SELECT ${guard(12)} FROM raw.clinics WHERE batch_date = ${d}`,
      `SELECT ${guard(80)} FROM raw.doctors WHERE batch_date = ${d}`,
      `SELECT ${guard(700)} FROM raw.patients WHERE batch_date = ${d}`,
      `SELECT ${guard(1000)} FROM raw.appointments WHERE batch_date = ${d}`,
      `SELECT ${guard(790)} FROM raw.records WHERE batch_date = ${d}`,
      `SELECT ${guard(190)} FROM raw.feedback WHERE batch_date = ${d}`,
      `SELECT ${guard(650)} FROM raw.schedule WHERE batch_date = ${d}`,
      `DELETE FROM raw._published_batches WHERE batch_date = ${d}`,
      `INSERT INTO raw._published_batches (batch_date, published_at, clinics_rows, doctors_rows, patients_rows, ` +
        `appointments_rows, records_rows, feedback_rows, schedule_rows) ` +
        `VALUES (${d}, GETDATE(), 12, 80, 700, 1000, 790, 190, 650)`,
    ]);
  });

  test('publishDay with a table short of its rows fails DayIncomplete naming it; other failures retry', async () => {
    const batchDate = day();
    const rows = PUBLISH_ROWS;
    rs.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'ddl' }).resolves({ Id: 'publish' });
    rs.on(DescribeStatementCommand).resolves({ Status: 'FINISHED' });
    rs.on(DescribeStatementCommand, { Id: 'publish' }).resolves({
      Status: 'FAILED',
      SubStatements: [
        { Id: 'publish:1', Status: 'FINISHED' },
        { Id: 'publish:2', Status: 'FINISHED' },
        { Id: 'publish:3', Status: 'FINISHED' },
        { Id: 'publish:4', Status: 'FINISHED' },
        { Id: 'publish:5', Status: 'FAILED', Error: 'ERROR: Divide by zero', QueryString: 'SELECT 1 / …' },
      ],
    });
    const wh = warehouse();
    await assert.rejects(wh.publishDay({ batchDate, rows }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DayIncomplete');
      assert.equal(err.nonRetryable, true);
      assert.match(
        err.message,
        new RegExp(`^day ${batchDate} not published: raw\\.appointments does not hold the 1000`),
      );
      return true;
    });
    rs.on(DescribeStatementCommand, { Id: 'publish' }).resolves({
      Status: 'ABORTED',
      Error: 'serializable isolation violation',
    });
    await assert.rejects(wh.publishDay({ batchDate, rows }), (err: unknown) => err instanceof RedshiftStatementError);
    await assert.rejects(wh.publishDay({ batchDate, rows: { ...rows, feedback: -1 } }), {
      type: 'InvalidInput',
      message: /missing or invalid: feedback/,
    });
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

  /**
   * A Redshift that runs cleanup statements as the real one would: the ledger query finds no prior run, the
   * count query answers `due` rows of `total` with `keySum`, and UNLOAD writes `csv` (or, for the attempts
   * listed in `dieDuring`, half a file and no manifest, then ABORTED) to the prefix its SQL names. Statements stay
   * STARTED for two polls first. Returns the prefixes UNLOAD was told to write to.
   */
  function redshiftForCleanup(opts: {
    due: number;
    total: number;
    keySum: string;
    csv: string;
    dieDuring?: number[];
    /** Where the DELETE sits in the batch (3 after the two guards and the load-ledger delete; 2 without the latter). */
    deleteIndex?: number;
  }) {
    const unloadedTo: string[] = [];
    let statement = 0;
    rs.on(BatchExecuteStatementCommand).callsFake(({ Sqls }: { Sqls: string[] }) => ({
      Id: Sqls[0]?.startsWith('CREATE SCHEMA') ? 'ddl' : `batch-${++statement}`,
    }));
    rs.on(ExecuteStatementCommand).callsFake(async ({ Sql }: { Sql: string }) => {
      const id = `stmt-${++statement}`;
      if (Sql.startsWith('SELECT cutoff')) return { Id: `${id}-ledger` };
      if (Sql.startsWith('SELECT due.n')) return { Id: `${id}-count` };
      const to = /^UNLOAD .* TO 's3:\/\/[^/]+\/(.*)part-' /.exec(Sql)?.[1];
      assert.ok(to, `an UNLOAD naming its prefix: ${Sql}`);
      unloadedTo.push(to);
      const dies = opts.dieDuring?.includes(unloadedTo.length);
      await store.put(`${to}part-000.csv`, dies ? opts.csv.slice(0, opts.csv.length / 2) : opts.csv, 'text/csv');
      if (!dies) {
        await store.put(
          `${to}part-manifest`,
          JSON.stringify({ entries: [{ url: `s3://${store.bucket}/${to}part-000.csv` }] }),
        );
      }
      written.push(`${to}part-000.csv`, `${to}part-manifest`);
      return { Id: `${id}-unload${dies ? '-dies' : ''}` };
    });
    const polls = new Map<string, number>();
    rs.on(DescribeStatementCommand).callsFake(({ Id }: { Id: string }) => {
      const n = (polls.get(Id) ?? 0) + 1;
      polls.set(Id, n);
      if (n <= 2) return { Id, Status: 'STARTED' };
      if (Id.endsWith('-dies')) return { Id, Status: 'ABORTED', Error: 'Query cancelled: the cluster restarted' };
      return {
        Id,
        Status: 'FINISHED',
        HasResultSet: Id.endsWith('-ledger') || Id.endsWith('-count'),
        SubStatements: Array.from({ length: 6 }, (_, i) => ({
          Id: `${Id}:${i + 1}`,
          Status: 'FINISHED',
          ResultRows: i === (opts.deleteIndex ?? 3) ? opts.due : i === 2 ? 1 : 0,
        })),
      };
    });
    rs.on(GetStatementResultCommand).callsFake(({ Id }: { Id: string }) =>
      Id.endsWith('-count')
        ? {
            Records: [[{ longValue: opts.due }, { longValue: opts.total }, { stringValue: opts.keySum }]],
            ColumnMetadata: [
              { name: 'n', typeName: 'int8' },
              { name: 'total', typeName: 'int8' },
              { name: 'key_sum', typeName: 'varchar' },
            ],
          }
        : { Records: [], ColumnMetadata: [] },
    );
    return unloadedTo;
  }

  const recordsCsv = `${csvHeader('records')}\n11,1,1,1,2020-01-01,flu,10.00,2020-01-01\n12,2,2,2,2020-01-02,"cold, mild",20.50,2020-01-02\n`;
  const recordsCols =
    'record_id, appointment_id, patient_id, doctor_id, report_date, diagnosis, billing_amount, batch_date';
  const recordsWhere = "report_date < '2025-01-01'::date";

  test('cleanupExpired: ledger, count, exact UNLOAD to the attempt prefix, verified backup, guarded delete', async () => {
    const runDate = day();
    const unloadedTo = redshiftForCleanup({ due: 2, total: 10, keySum: '23', csv: recordsCsv });

    const wh = warehouse();
    const result = await wh.cleanupExpired(
      { table: 'records', runDate, cutoff: '2025-01-01', maxDeleteShare: 0.2, attempt: 3 },
      (b) => verifyBackup(store, 'records', b),
    );
    assert.equal(unloadedTo.length, 1);
    const prefix = unloadedTo[0] ?? '';
    assert.match(prefix, new RegExp(`^backups/records/dt=${runDate}/attempt-3-[0-9a-f]{8}/$`));
    assert.deepEqual(result, {
      table: 'records',
      cutoff: '2025-01-01',
      backupKey: `${prefix}part-000.csv`,
      rowsBackedUp: 2,
      rowsDeleted: 2,
      ledgerRowsDeleted: 1,
      status: 'cleaned',
    });
    const dueAndTotal = (select: string) =>
      `SELECT ${select} FROM (SELECT COUNT(*) AS n, COALESCE(SUM(record_id::decimal(38,0)), 0) AS key_sum ` +
      `FROM raw.records WHERE ${recordsWhere}) due CROSS JOIN (SELECT COUNT(*) AS total FROM raw.records) whole`;
    const statements = rs.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.Sql);
    assert.deepEqual(statements, [
      'SELECT cutoff, backup_key, rows FROM raw._cleanup_ledger WHERE run_date = :p1 AND table_name = :p2',
      dueAndTotal('due.n, whole.total, due.key_sum::varchar AS key_sum'),
      `UNLOAD ('SELECT ${recordsCols} FROM raw.records WHERE report_date < ''2025-01-01''::date') ` +
        `TO 's3://${store.bucket}/${prefix}part-' IAM_ROLE '${ROLE}' FORMAT AS CSV HEADER PARALLEL OFF ` +
        `MANIFEST EXTENSION 'csv' REGION 'eu-west-1'`,
    ]);
    assert.deepEqual(sqlsSent()[1], [
      dueAndTotal('1 / (CASE WHEN due.n <= 0.2 * whole.total THEN 1 ELSE 0 END) AS share_guard'),
      `SELECT 1 / (CASE WHEN COUNT(*) = 2 AND COALESCE(SUM(record_id::decimal(38,0)), 0) = 23 THEN 1 ELSE 0 END) AS guard FROM raw.records WHERE ${recordsWhere}`,
      `DELETE FROM raw._load_ledger WHERE entity = 'records' AND batch_date IN (SELECT DISTINCT batch_date FROM raw.records WHERE ${recordsWhere})`,
      `DELETE FROM raw.records WHERE ${recordsWhere}`,
      `DELETE FROM raw._cleanup_ledger WHERE run_date = '${runDate}'::date AND table_name = 'records'`,
      `INSERT INTO raw._cleanup_ledger (run_date, table_name, cutoff, backup_key, rows, cleaned_at) VALUES ('${runDate}'::date, 'records', '2025-01-01'::date, '${prefix}part-000.csv', 2, GETDATE())`,
    ]);
    // Every statement stayed STARTED for two polls: the adapter polled with its backoff, never resubmitted.
    assert.equal(rs.commandCalls(ExecuteStatementCommand).length, 3);
    assert.equal(rs.commandCalls(BatchExecuteStatementCommand).length, 2);
  });

  test('cleanupExpired of raw.reminder_events: whole rows unloaded, deleted by the date as verified, no load ledger', async () => {
    const runDate = day();
    const cols = 'appointment_id, patient_id, decided_on, appointment_on, probability, arm, event, at';
    // Two events of appointment 7, one of 9: the key repeats, the checksum sums it over every row.
    const csv =
      `${cols.replace(/, /g, ',')}\n` +
      '7,70,2024-12-01,2024-12-02,0.4,reminded,selected,2024-12-01 18:00:00+00\n' +
      '7,70,2024-12-01,2024-12-02,0.4,reminded,sent,2024-12-01 18:00:05+00\n' +
      '9,90,2024-12-01,2024-12-02,0.3,holdout,selected,2024-12-01 18:00:00+00\n';
    const unloadedTo = redshiftForCleanup({ due: 3, total: 100, keySum: '23', csv, deleteIndex: 2 });
    const result = await warehouse().cleanupExpired(
      { table: 'reminder_events', runDate, cutoff: '2025-01-01', maxDeleteShare: 0.2 },
      (b) => verifyBackup(store, 'reminder_events', b),
    );
    const prefix = unloadedTo[0] ?? '';
    assert.deepEqual(result, {
      table: 'reminder_events',
      cutoff: '2025-01-01',
      backupKey: `${prefix}part-000.csv`,
      rowsBackedUp: 3,
      rowsDeleted: 3,
      status: 'cleaned',
    });
    const where = "appointment_on < '2025-01-01'::date";
    const statements = rs.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.Sql);
    assert.equal(
      statements[2],
      `UNLOAD ('SELECT ${cols} FROM raw.reminder_events WHERE appointment_on < ''2025-01-01''::date') ` +
        `TO 's3://${store.bucket}/${prefix}part-' IAM_ROLE '${ROLE}' FORMAT AS CSV HEADER PARALLEL OFF ` +
        `MANIFEST EXTENSION 'csv' REGION 'eu-west-1'`,
    );
    const batch = sqlsSent()[1] ?? [];
    assert.equal(batch.length, 5, 'share guard, count guard, delete, ledger clear and insert; no load-ledger delete');
    assert.ok(!batch.some((sql) => sql.includes('raw._load_ledger')));
    assert.equal(
      batch[1],
      `SELECT 1 / (CASE WHEN COUNT(*) = 3 AND COALESCE(SUM(appointment_id::decimal(38,0)), 0) = 23 THEN 1 ELSE 0 END) AS guard FROM raw.reminder_events WHERE ${where}`,
    );
    assert.equal(batch[2], `DELETE FROM raw.reminder_events WHERE ${where}`);
    assert.match(batch[4] ?? '', /^INSERT INTO raw._cleanup_ledger .*'reminder_events'/);
  });

  test('cleanupExpired retried after an UNLOAD died half-way: a new prefix, the earlier files untouched', async () => {
    const runDate = day();
    const unloadedTo = redshiftForCleanup({ due: 2, total: 100, keySum: '23', csv: recordsCsv, dieDuring: [1] });
    const wh = warehouse();
    const plan = { table: 'records', runDate, cutoff: '2025-01-01', maxDeleteShare: 0.2 } as const;
    const verify = (b: Parameters<typeof verifyBackup>[2]) => verifyBackup(store, 'records', b);

    await assert.rejects(wh.cleanupExpired({ ...plan, attempt: 1 }, verify), (err: unknown) => {
      assert.ok(err instanceof RedshiftStatementError && err.status === 'ABORTED', String(err));
      return true;
    });
    assert.equal(sqlsSent().length, 1, 'the DDL only: nothing deleted');
    const halfWritten = await store.getText(`${unloadedTo[0]}part-000.csv`);

    const result = await wh.cleanupExpired({ ...plan, attempt: 2 }, verify);
    assert.equal(unloadedTo.length, 2);
    assert.notEqual(unloadedTo[1], unloadedTo[0], 'the retry unloads to a prefix of its own');
    assert.match(unloadedTo[1] ?? '', new RegExp(`^backups/records/dt=${runDate}/attempt-2-[0-9a-f]{8}/$`));
    assert.equal(result.backupKey, `${unloadedTo[1]}part-000.csv`);
    assert.equal(result.rowsBackedUp, 2);
    assert.equal(
      await store.getText(`${unloadedTo[0]}part-000.csv`),
      halfWritten,
      'the dead attempt is not overwritten',
    );
    const insert = sqlsSent()[1]?.at(-1) ?? '';
    assert.ok(insert.includes(`'${unloadedTo[1]}part-000.csv'`), `the ledger records the verified key: ${insert}`);
  });

  test('cleanupExpired over RETENTION_MAX_DELETE_SHARE: refused before any UNLOAD, nothing deleted', async () => {
    const runDate = day();
    const unloadedTo = redshiftForCleanup({ due: 5, total: 15, keySum: '100', csv: recordsCsv });
    await assert.rejects(
      warehouse().cleanupExpired({ table: 'records', runDate, cutoff: '2025-01-01', maxDeleteShare: 0.2 }, () =>
        assert.fail('nothing to verify'),
      ),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.type, 'RetentionLimitExceeded');
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, /raw\.records refused: it would delete 5 of 15 rows \(33\.3%\)/);
        return true;
      },
    );
    assert.deepEqual(unloadedTo, []);
    assert.equal(sqlsSent().length, 1, 'the DDL only');
  });

  test('cleanupExpired whose share guard fails inside the delete batch: RetentionLimitExceeded, rolled back', async () => {
    const runDate = day();
    redshiftForCleanup({ due: 2, total: 10, keySum: '23', csv: recordsCsv });
    // Rows vanished between the count and the batch: the share guard divides by zero, the batch rolls back.
    rs.on(DescribeStatementCommand, { Id: 'batch-4' }).resolves({
      Id: 'batch-4',
      Status: 'FAILED',
      Error: 'ERROR: division by zero',
      SubStatements: [{ Id: 'batch-4:1', Status: 'FAILED', Error: 'ERROR: division by zero' }],
    });
    await assert.rejects(
      warehouse().cleanupExpired({ table: 'records', runDate, cutoff: '2025-01-01', maxDeleteShare: 0.2 }, (b) =>
        verifyBackup(store, 'records', b),
      ),
      { type: 'RetentionLimitExceeded', nonRetryable: true },
    );
  });

  test('cleanupExpired with a backup that holds fewer rows than due sends no delete', async () => {
    const runDate = day();
    const csv = `${csvHeader('feedback')}\n5,1,1,1,4,,2020-01-01 10:00:00,2020-01-01\n`;
    redshiftForCleanup({ due: 3, total: 100, keySum: '18', csv });
    await assert.rejects(
      warehouse().cleanupExpired({ table: 'feedback', runDate, cutoff: '2025-01-01' }, (b) =>
        verifyBackup(store, 'feedback', b),
      ),
      { type: 'BackupVerificationFailed', nonRetryable: true },
    );
    assert.equal(sqlsSent().length, 1); // the DDL only: no delete batch
  });

  describe('a load statement that runs longer than the heartbeat timeout', () => {
    /** Virtual time: the injected sleep advances it, so a minute-long statement takes milliseconds to test. */
    let clock = 0;
    let onSleep: (() => void) | undefined;
    const HEARTBEAT_TIMEOUT_MS = 20_000; // what ingestEntity declares for loadBatch

    const clockedWarehouse = () =>
      new RedshiftWarehouse({
        client: new RedshiftDataClient({ region: 'eu-west-1' }),
        store,
        target: { database: 'analytics', workgroup: 'hs-wg' },
        iamRole: ROLE,
        region: 'eu-west-1',
        sleep: async (ms) => {
          clock += ms;
          onSleep?.();
        },
      });

    /** Data API mocks: the load batch (submitted as `loadIds` in turn) stays STARTED until `finishAt` ms. */
    function slowStatement(finishAt: number, loadIds: string[] = ['load-1']) {
      let submitted = 0;
      rs.on(BatchExecuteStatementCommand).callsFake(({ Sqls }: { Sqls: string[] }) =>
        Sqls[0]?.startsWith('CREATE SCHEMA') ? { Id: 'ddl' } : { Id: loadIds[submitted++] ?? 'unexpected' },
      );
      rs.on(ExecuteStatementCommand).resolves({ Id: 'ledger' });
      rs.on(DescribeStatementCommand).callsFake(({ Id }: { Id: string }) => {
        if (Id === 'ddl' || Id === 'ledger') return { Id, Status: 'FINISHED', HasResultSet: Id === 'ledger' };
        if (clock < finishAt) return { Id, Status: clock < 1_000 ? 'SUBMITTED' : 'STARTED' };
        return {
          Id,
          Status: 'FINISHED',
          SubStatements: Array.from({ length: 8 }, (_, i) => ({ Id: `${Id}:${i + 1}`, Status: 'FINISHED' })),
        };
      });
      rs.on(GetStatementResultCommand, { Id: 'ledger' }).resolves({ Records: [] });
      for (const id of loadIds) {
        rs.on(GetStatementResultCommand, { Id: `${id}:3` }).resolves({
          Records: [[{ longValue: 30 }, { longValue: 1 }]],
          ColumnMetadata: [
            { name: 'staged', typeName: 'int8' },
            { name: 'guard', typeName: 'int4' },
          ],
        });
      }
    }

    const loadBatchesSent = () =>
      rs
        .commandCalls(BatchExecuteStatementCommand)
        .filter((c) => c.args[0].input.Sqls?.some((q) => q.startsWith('COPY')));

    afterEach(() => {
      clock = 0;
      onSleep = undefined;
    });

    test('heartbeats its statement id at every poll, never further apart than the poll cap', async () => {
      const batchDate = day();
      const objects = [await putPart('appointments', batchDate, 'part-00000.csv', 30)];
      const manifest = manifestKey('appointments', batchDate, canonicalObjects(objects));
      written.push(manifest);
      slowStatement(65_000);
      const env = new MockActivityEnvironment({ heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
      const beats: { at: number; details: LoadProgress }[] = [];
      env.on('heartbeat', (details: LoadProgress) => beats.push({ at: clock, details }));

      const { loadBatch } = createLoadActivities({ warehouse: clockedWarehouse() });
      const result: LoadResult = await env.run(loadBatch, { entity: 'appointments' as const, batchDate, objects });
      assert.equal(result.status, 'loaded');
      assert.ok(clock >= 65_000, `the statement ran ${clock} ms of (virtual) time`);

      const polls = beats.filter((b) => b.details.phase === 'statement');
      assert.ok(polls.length > 15, `${polls.length} heartbeats while the statement ran`);
      assert.ok(polls.every((b) => b.details.statementId === 'load-1' && b.details.manifest === manifest));
      const gaps = polls.slice(1).map((b, i) => b.at - (polls[i]?.at ?? 0));
      assert.ok(Math.max(...gaps) <= 5_000, `longest gap between heartbeats: ${Math.max(...gaps)} ms`);
      assert.ok(polls.at(-1)!.at >= 60_000, 'still heartbeating a minute in');
      assert.equal(loadBatchesSent().length, 1);
    });

    test('a retry resumes the statement the lost attempt submitted instead of loading again', async () => {
      const batchDate = day();
      const objects = [await putPart('appointments', batchDate, 'part-00000.csv', 30)];
      written.push(manifestKey('appointments', batchDate, canonicalObjects(objects)));
      slowStatement(90_000);

      // Attempt 1 loses its worker 30 s into the statement (here: the activity is cancelled, as a heartbeat
      // timeout does); the statement keeps running in Redshift.
      const first = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
      let last: LoadProgress | undefined;
      first.on('heartbeat', (d: LoadProgress) => (last = d));
      onSleep = () => {
        if (clock >= 30_000) first.cancel();
      };
      await assert.rejects(
        first.run(createLoadActivities({ warehouse: clockedWarehouse() }).loadBatch, {
          entity: 'appointments' as const,
          batchDate,
          objects,
        }),
        (err: unknown) => err instanceof CancelledFailure,
      );
      assert.equal(last?.statementId, 'load-1');
      onSleep = undefined;

      // Attempt 2, on another worker, starts from attempt 1's last heartbeat.
      const second = new MockActivityEnvironment({
        attempt: 2,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        heartbeatDetails: last,
      });
      const result: LoadResult = await second.run(createLoadActivities({ warehouse: clockedWarehouse() }).loadBatch, {
        entity: 'appointments' as const,
        batchDate,
        objects,
      });
      assert.equal(result.status, 'loaded');
      assert.equal(result.rows, 30);
      assert.equal(loadBatchesSent().length, 1, 'the load was submitted once');
      assert.ok(clock >= 90_000);
      assert.equal(rs.commandCalls(GetStatementResultCommand, { Id: 'load-1:3' }).length, 1, 'count read back');
    });

    test('a retry whose earlier statement was aborted submits the load again', async () => {
      const batchDate = day();
      const objects = [await putPart('appointments', batchDate, 'part-00000.csv', 30)];
      const manifest = manifestKey('appointments', batchDate, canonicalObjects(objects));
      written.push(manifest);
      slowStatement(0, ['load-2']);
      rs.on(DescribeStatementCommand, { Id: 'load-1' }).resolves({ Id: 'load-1', Status: 'ABORTED' });
      const env = new MockActivityEnvironment({
        attempt: 2,
        heartbeatDetails: { phase: 'statement', rows: 0, statementId: 'load-1', manifest },
      });
      const result: LoadResult = await env.run(createLoadActivities({ warehouse: clockedWarehouse() }).loadBatch, {
        entity: 'appointments' as const,
        batchDate,
        objects,
      });
      assert.equal(result.status, 'loaded');
      assert.equal(loadBatchesSent().length, 1, 'a new load batch');
      assert.equal(rs.commandCalls(GetStatementResultCommand, { Id: 'load-2:3' }).length, 1);
    });
  });
});
