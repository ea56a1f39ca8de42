/**
 * Amazon Redshift warehouse adapter over the Redshift Data API. Redshift loads from S3 itself (COPY, in
 * parallel across slices) and writes backups to S3 itself (UNLOAD); this adapter only sends SQL, waits
 * and reads small results, so the worker never carries table data.
 *
 * A BatchExecuteStatement runs its statements in one transaction: a failing statement rolls back all of
 * them. Checks that must stop a transaction are written as a guard query that divides by zero when the
 * check fails, so a wrong count aborts the batch inside Redshift instead of after commit.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
  type DescribeStatementResponse,
  type Field,
  type SqlParameter,
} from '@aws-sdk/client-redshift-data';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../../config.js';
import { isEntityName, type EntityName } from '../../domain/entities.js';
import type { CleanupTableResult, LoadBatchInput, LoadResult } from '../../domain/types.js';
import { keys, type ObjectStore } from '../storage.js';
import {
  canonicalObjects,
  CLEANUP_LEDGER,
  columnList,
  dateLiteral,
  deleteLedgerOfExpiredSql,
  ensureRawTablesSql,
  expiredPredicate,
  isRetentionTable,
  LOAD_LEDGER,
  rawTable,
  RETENTION_TABLES,
  stringLiteral,
  type RetentionTable,
} from './ddl.js';
import type { BackupVerifier, CleanupPlan, Warehouse } from './index.js';
import { retentionLimitExceeded, withinDeleteShare } from './retention-limit.js';

type RedshiftConfig = Extract<Config['warehouse'], { kind: 'redshift' }>;

/** Who the Data API connects as: a provisioned cluster (with DbUser or SecretArn) or a Serverless workgroup. */
export interface RedshiftTarget {
  database: string;
  clusterId?: string;
  dbUser?: string;
  workgroup?: string;
  secretArn?: string;
}

/** Exponential backoff: the first wait, the growth factor and the cap. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

/** Client, target and timing for {@link RedshiftWarehouse}; tests inject a mocked client and a no-wait sleep. */
export interface RedshiftWarehouseOptions {
  client: RedshiftDataClient;
  store: ObjectStore;
  target: RedshiftTarget;
  iamRole: string;
  region: string;
  /** Injected so tests run without waiting. */
  sleep?: (ms: number) => Promise<void>;
  /** DescribeStatement polling: starts fast (most statements take well under a second), grows to the cap. */
  poll?: Backoff;
  /** Retries of ActiveStatementsExceeded/Throttling before giving up with a retryable error. */
  throttle?: Backoff & { attempts: number };
  /** Called on every poll, e.g. to heartbeat while a long COPY runs. */
  onPoll?: () => void;
}

/** A statement that did not finish: its status, Redshift's error text and the SQL that failed. */
export class RedshiftStatementError extends Error {
  override name = 'RedshiftStatementError';
  constructor(
    readonly status: 'FAILED' | 'ABORTED',
    readonly statementId: string,
    readonly redshiftError: string,
    readonly failedSql: string | undefined,
    readonly failedIndex: number | undefined,
    readonly redshiftQueryId: number | undefined,
  ) {
    super(
      `Redshift statement ${statementId}${failedIndex !== undefined ? ` (statement ${failedIndex + 1} of the batch)` : ''} ` +
        `${status}: ${redshiftError || '(no error text)'}${failedSql ? `\n  SQL: ${truncate(failedSql, 600)}` : ''}`,
    );
  }
}

const RETRYABLE_SUBMIT = new Set([
  'ActiveStatementsExceededException',
  'ThrottlingException',
  'ActiveSessionsExceededException',
]);
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Where the COPY manifest for a batch lives: outside the data prefix, named by the content it lists. */
export function manifestKey(entity: EntityName, batchDate: string, ledgerObjects: string): string {
  const digest = createHash('sha256').update(ledgerObjects).digest('hex').slice(0, 16);
  return `manifests/raw/${entity}/dt=${batchDate}/load-${digest}.json`;
}

/**
 * The production warehouse over the Redshift Data API. Statements are submitted and polled; nothing holds a
 * connection, so a worker restart mid-statement loses nothing but the wait (the retry re-checks the ledger).
 */
export class RedshiftWarehouse implements Warehouse {
  readonly kind = 'redshift';
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly poll: Backoff;
  private readonly throttle: Backoff & { attempts: number };
  private ensured?: Promise<void>;

  constructor(private readonly opts: RedshiftWarehouseOptions) {
    this.sleep = opts.sleep ?? realSleep;
    this.poll = opts.poll ?? { initialMs: 200, maxMs: 5_000, factor: 1.5 };
    this.throttle = opts.throttle ?? { initialMs: 500, maxMs: 15_000, factor: 2, attempts: 8 };
  }

  static fromConfig(wh: RedshiftConfig, store: ObjectStore): RedshiftWarehouse {
    return new RedshiftWarehouse({
      client: new RedshiftDataClient({ region: wh.region }),
      store,
      target: {
        database: wh.database,
        clusterId: wh.clusterId,
        dbUser: wh.dbUser,
        workgroup: wh.workgroup,
        secretArn: wh.secretArn,
      },
      iamRole: wh.iamRole,
      region: wh.region,
    });
  }

  ensureRawTables(): Promise<void> {
    this.ensured ??= this.batch(ensureRawTablesSql('redshift'))
      .then(() => undefined)
      .catch((err: unknown) => {
        this.ensured = undefined;
        throw err;
      });
    return this.ensured;
  }

  /**
   * Ledger check, then one batch: temp staging table, COPY from a manifest naming exactly the batch's
   * objects, a guard that aborts unless the staged rows (with this batch_date) equal the declared rows,
   * delete + insert, ledger delete + insert. Two concurrent loads of a batch conflict under Redshift's
   * serializable isolation; the loser fails retryably and its retry finds the ledger entry.
   */
  async loadBatch(input: LoadBatchInput, onProgress?: (rows: number) => void): Promise<LoadResult> {
    const { entity, batchDate, objects } = input;
    if (!isEntityName(entity)) throw ApplicationFailure.nonRetryable(`unknown entity ${entity}`, 'InvalidInput');
    const day = dateLiteral(batchDate);
    const started = Date.now();
    await this.ensureRawTables();
    const ledgerObjects = canonicalObjects(objects);
    const expected = objects.reduce((sum, o) => sum + o.rows, 0);

    const prior = await this.query<{ objects: string; rows: number }>(
      `SELECT objects, rows FROM ${LOAD_LEDGER} WHERE entity = $1 AND batch_date = $2`,
      [entity, batchDate],
    );
    if (prior[0]?.objects === ledgerObjects) {
      return { entity, batchDate, rows: Number(prior[0].rows), status: 'unchanged', durationMs: Date.now() - started };
    }

    const manifest = manifestKey(entity, batchDate, ledgerObjects);
    await this.opts.store.put(
      manifest,
      JSON.stringify({ entries: objects.map((o) => ({ url: this.opts.store.s3Uri(o.key), mandatory: true })) }),
      'application/json',
    );
    const sqls = this.loadSql(entity, batchDate, day, manifest, ledgerObjects, expected);
    let result: DescribeStatementResponse;
    try {
      result = await this.batch(sqls);
    } catch (err) {
      throw await this.toLoadError(err, entity, batchDate, expected);
    }
    // Read back the count the guard checked, from the batch's own result set.
    const countId = result.SubStatements?.[2]?.Id;
    if (countId) {
      const staged = Number((await this.results(countId))[0]?.staged ?? NaN);
      if (staged !== expected) {
        throw new Error(`Redshift reported ${staged} staged rows after a guarded load of ${expected}; check the batch`);
      }
    }
    onProgress?.(expected);
    return { entity, batchDate, rows: expected, status: 'loaded', durationMs: Date.now() - started };
  }

  /** The exact statements of a load batch (exported for the unit test that asserts the SQL sent). */
  loadSql(
    entity: EntityName,
    batchDate: string,
    day: string,
    manifest: string,
    ledgerObjects: string,
    expected: number,
  ): string[] {
    const stage = `stage_${entity}`;
    const table = rawTable(entity);
    return [
      `CREATE TEMP TABLE ${stage} (LIKE ${table})`,
      `COPY ${stage} (${columnList(entity)}) FROM ${stringLiteral(this.opts.store.s3Uri(manifest), 'redshift')} ` +
        `IAM_ROLE ${stringLiteral(this.opts.iamRole, 'redshift')} MANIFEST FORMAT AS CSV IGNOREHEADER 1 ` +
        `DATEFORMAT 'YYYY-MM-DD' TIMEFORMAT 'YYYY-MM-DD HH:MI:SS' REGION ${stringLiteral(this.opts.region, 'redshift')}`,
      `SELECT COUNT(*) AS staged, 1 / (CASE WHEN COUNT(*) = ${expected} THEN 1 ELSE 0 END) AS guard ` +
        `FROM ${stage} WHERE batch_date = ${day}`,
      `DELETE FROM ${table} WHERE batch_date = ${day}`,
      `INSERT INTO ${table} SELECT * FROM ${stage}`,
      `DELETE FROM ${LOAD_LEDGER} WHERE entity = '${entity}' AND batch_date = ${day}`,
      `INSERT INTO ${LOAD_LEDGER} (entity, batch_date, objects, rows, loaded_at) ` +
        `VALUES ('${entity}', ${day}, ${stringLiteral(ledgerObjects, 'redshift')}, ${expected}, GETDATE())`,
    ];
  }

  async countBatch(entity: EntityName, batchDate: string): Promise<number> {
    if (!isEntityName(entity)) throw new Error(`unknown entity ${entity}`);
    const rows = await this.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ${rawTable(entity)} WHERE batch_date = $1`,
      [batchDate],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** `$n` placeholders become Data API named parameters `:pn` (values are sent as strings; null is not allowed). */
  async query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const parameters: SqlParameter[] = params.map((value, i) => {
      if (value === null || value === undefined)
        throw new Error(`query parameter $${i + 1} is null; the Redshift Data API cannot bind null`);
      return { name: `p${i + 1}`, value: String(value) };
    });
    const text = sql.replace(/\$(\d+)/g, (_m, n: string) => `:p${n}`);
    const done = await this.execute(text, parameters);
    if (!done.HasResultSet) return [];
    return (await this.results(done.Id ?? '')) as T[];
  }

  /**
   * UNLOAD the expired rows (one file stream, PARALLEL OFF, with a manifest) to a prefix of this attempt's own,
   * let `verify` re-read every file the manifest lists, then one batch: guards that abort unless the rows
   * matching the predicate still have the verified count and key sum and stay within the delete-share limit,
   * the load-ledger rows of their batches, the delete, and the cleanup-ledger row. Serializable isolation makes
   * the guards and the deletes see the same rows. The share is also checked before the UNLOAD, so a refused
   * cleanup writes no backup at all.
   */
  async cleanupExpired(plan: CleanupPlan, verify: BackupVerifier): Promise<CleanupTableResult> {
    const { table, runDate, cutoff, maxDeleteShare } = plan;
    if (!isRetentionTable(table))
      throw ApplicationFailure.nonRetryable(`not a retention table: ${table}`, 'InvalidInput');
    const run = dateLiteral(runDate);
    const where = expiredPredicate(table, cutoff);
    const key = RETENTION_TABLES[table].key;
    await this.ensureRawTables();

    const prior = await this.query<{ cutoff: string; backup_key: string; rows: number }>(
      `SELECT cutoff, backup_key, rows FROM ${CLEANUP_LEDGER} WHERE run_date = $1 AND table_name = $2`,
      [runDate, table],
    );
    if (prior[0]) {
      const rows = Number(prior[0].rows);
      return {
        table,
        cutoff: String(prior[0].cutoff),
        backupKey: prior[0].backup_key,
        rowsBackedUp: rows,
        rowsDeleted: rows,
        status: 'already-done',
      };
    }
    const keySumSql = `COALESCE(SUM(${key}::decimal(38,0)), 0)`;
    // Rows due and the whole table, in one statement (a cross join of two plain aggregates).
    const dueAndTotal = (select: string) =>
      `SELECT ${select} FROM (SELECT COUNT(*) AS n, ${keySumSql} AS key_sum FROM ${rawTable(table)} WHERE ${where}) due ` +
      `CROSS JOIN (SELECT COUNT(*) AS total FROM ${rawTable(table)}) whole`;
    const counted = await this.query<{ n: number; total: number; key_sum: string }>(
      dueAndTotal('due.n, whole.total, due.key_sum::varchar AS key_sum'),
    );
    const n = Number(counted[0]?.n ?? 0);
    const total = Number(counted[0]?.total ?? 0);
    if (n === 0) return { table, cutoff, rowsBackedUp: 0, rowsDeleted: 0, status: 'nothing-to-clean' };
    if (!withinDeleteShare(n, total, maxDeleteShare))
      throw retentionLimitExceeded(table, n, total, maxDeleteShare ?? 1);

    // Each attempt unloads to its own prefix (UNLOAD without ALLOWOVERWRITE fails rather than overwrite), so a
    // retry never mixes its files with those of an attempt that died half-way; the ledger records the key verified.
    const prefix = `${keys.backupPrefix(table, runDate)}attempt-${plan.attempt ?? 1}-${randomBytes(4).toString('hex')}/`;
    await this.execute(this.unloadSql(table, where, prefix));
    const manifest = JSON.parse(await this.opts.store.getText(`${prefix}part-manifest`)) as {
      entries: { url: string }[];
    };
    const bucketUri = this.opts.store.s3Uri('');
    const dataKeys = manifest.entries.map((e) => e.url.replace(bucketUri, ''));
    const backupKey = dataKeys.length === 1 && dataKeys[0] ? dataKeys[0] : prefix;
    const verified = await verify({ backupKey, dataKeys });
    if (verified.rows !== n || verified.keySum !== String(counted[0]?.key_sum ?? '0')) {
      throw ApplicationFailure.nonRetryable(
        `backup ${backupKey} holds ${verified.rows} rows (key sum ${verified.keySum}) but ${n} rows ` +
          `(key sum ${counted[0]?.key_sum}) are due for deletion; nothing deleted`,
        'BackupVerificationFailed',
      );
    }
    // The batch, statement by statement; failures and result counts are found by name, not by position.
    const statements: [name: string, sql: string][] = [
      ...(maxDeleteShare === undefined
        ? []
        : [
            [
              'share-guard',
              dueAndTotal(`1 / (CASE WHEN due.n <= ${maxDeleteShare} * whole.total THEN 1 ELSE 0 END) AS share_guard`),
            ] as [string, string],
          ]),
      [
        'count-guard',
        `SELECT 1 / (CASE WHEN COUNT(*) = ${verified.rows} AND ${keySumSql} = ${BigInt(verified.keySum).toString()} ` +
          `THEN 1 ELSE 0 END) AS guard FROM ${rawTable(table)} WHERE ${where}`,
      ],
      ['unledger', deleteLedgerOfExpiredSql(table, where)],
      ['delete', `DELETE FROM ${rawTable(table)} WHERE ${where}`],
      ['ledger-clear', `DELETE FROM ${CLEANUP_LEDGER} WHERE run_date = ${run} AND table_name = '${table}'`],
      [
        'ledger-insert',
        `INSERT INTO ${CLEANUP_LEDGER} (run_date, table_name, cutoff, backup_key, rows, cleaned_at) VALUES ` +
          `(${run}, '${table}', ${dateLiteral(cutoff)}, ${stringLiteral(backupKey, 'redshift')}, ${verified.rows}, GETDATE())`,
      ],
    ];
    const at = (name: string) => statements.findIndex(([n]) => n === name);
    const sqls = statements.map(([, sql]) => sql);
    let done: DescribeStatementResponse;
    try {
      done = await this.batch(sqls);
    } catch (err) {
      if (err instanceof RedshiftStatementError && err.failedIndex === at('share-guard')) {
        // Rows were added or removed since the count: recount for the message; nothing was deleted.
        const now = await this.query<{ n: number; total: number }>(dueAndTotal('due.n, whole.total'));
        throw retentionLimitExceeded(
          table,
          Number(now[0]?.n ?? n),
          Number(now[0]?.total ?? total),
          maxDeleteShare ?? 1,
        );
      }
      if (err instanceof RedshiftStatementError && err.failedIndex === at('count-guard')) {
        throw ApplicationFailure.nonRetryable(
          `${rawTable(table)} changed between backup and delete (no longer ${verified.rows} rows with the verified key sum); nothing deleted`,
          'DeleteCountMismatch',
        );
      }
      throw err;
    }
    const deleted = done.SubStatements?.[at('delete')]?.ResultRows;
    if (deleted !== undefined && deleted !== verified.rows) {
      // The guard makes this unreachable; if it ever happens the backup still holds every deleted row.
      throw ApplicationFailure.nonRetryable(
        `DELETE removed ${deleted} rows, verified backup ${backupKey} holds ${verified.rows}`,
        'DeleteCountMismatch',
      );
    }
    return {
      table,
      cutoff,
      backupKey,
      rowsBackedUp: verified.rows,
      rowsDeleted: verified.rows,
      ledgerRowsDeleted: done.SubStatements?.[at('unledger')]?.ResultRows ?? 0,
      status: 'cleaned',
    };
  }

  /**
   * The UNLOAD of a table's expired rows to `prefix` (exported for the unit test that asserts the SQL sent).
   * No ALLOWOVERWRITE: the prefix is the attempt's own, and a clash must fail rather than replace files.
   */
  unloadSql(table: RetentionTable, where: string, prefix: string): string {
    const select = `SELECT ${columnList(table)} FROM ${rawTable(table)} WHERE ${where}`;
    return (
      `UNLOAD (${stringLiteral(select, 'redshift')}) TO ${stringLiteral(this.opts.store.s3Uri(`${prefix}part-`), 'redshift')} ` +
      `IAM_ROLE ${stringLiteral(this.opts.iamRole, 'redshift')} FORMAT AS CSV HEADER PARALLEL OFF ` +
      `MANIFEST EXTENSION 'csv' REGION ${stringLiteral(this.opts.region, 'redshift')}`
    );
  }

  async close(): Promise<void> {
    this.opts.client.destroy();
  }

  private connection() {
    const t = this.opts.target;
    return {
      Database: t.database,
      ...(t.workgroup ? { WorkgroupName: t.workgroup } : {}),
      ...(t.clusterId ? { ClusterIdentifier: t.clusterId } : {}),
      ...(t.secretArn ? { SecretArn: t.secretArn } : t.dbUser && !t.workgroup ? { DbUser: t.dbUser } : {}),
    };
  }

  /** One statement: submit (retrying throttling), wait for FINISHED. */
  async execute(sql: string, parameters: SqlParameter[] = []): Promise<DescribeStatementResponse> {
    const res = await this.submit(() =>
      this.opts.client.send(
        new ExecuteStatementCommand({
          ...this.connection(),
          Sql: sql,
          ...(parameters.length > 0 ? { Parameters: parameters } : {}),
        }),
      ),
    );
    return this.wait(res.Id ?? '');
  }

  /** Several statements in one transaction: submit (retrying throttling), wait for FINISHED. */
  async batch(sqls: string[]): Promise<DescribeStatementResponse> {
    const res = await this.submit(() =>
      this.opts.client.send(new BatchExecuteStatementCommand({ ...this.connection(), Sqls: sqls })),
    );
    return this.wait(res.Id ?? '');
  }

  /** Every row of a finished statement's result set, following NextToken, as objects keyed by column name. */
  async results(id: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let token: string | undefined;
    do {
      const page = await this.submit(() =>
        this.opts.client.send(new GetStatementResultCommand({ Id: id, ...(token ? { NextToken: token } : {}) })),
      );
      const cols = page.ColumnMetadata ?? [];
      for (const record of page.Records ?? []) {
        const row: Record<string, unknown> = {};
        record.forEach((field, i) => {
          const meta = cols[i];
          row[meta?.label ?? meta?.name ?? `col${i}`] = fieldValue(field, meta?.typeName);
        });
        out.push(row);
      }
      token = page.NextToken;
    } while (token);
    return out;
  }

  private async submit<T>(send: () => Promise<T>): Promise<T> {
    let delay = this.throttle.initialMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (err) {
        const name = (err as { name?: string }).name ?? '';
        if (!RETRYABLE_SUBMIT.has(name) || attempt >= this.throttle.attempts) throw err;
        await this.sleep(delay);
        delay = Math.min(this.throttle.maxMs, delay * this.throttle.factor);
      }
    }
  }

  private async wait(id: string): Promise<DescribeStatementResponse> {
    let delay = this.poll.initialMs;
    for (;;) {
      const d = await this.submit(() => this.opts.client.send(new DescribeStatementCommand({ Id: id })));
      if (d.Status === 'FINISHED') return { ...d, Id: id };
      if (d.Status === 'FAILED' || d.Status === 'ABORTED') {
        const subs = d.SubStatements ?? [];
        const idx = subs.findIndex((s) => s.Status === 'FAILED' || s.Status === 'ABORTED');
        const failed = idx >= 0 ? subs[idx] : undefined;
        throw new RedshiftStatementError(
          d.Status,
          id,
          failed?.Error ?? d.Error ?? '',
          failed?.QueryString ?? d.QueryString,
          idx >= 0 ? idx : undefined,
          failed?.RedshiftQueryId ?? d.RedshiftQueryId,
        );
      }
      this.opts.onPoll?.();
      await this.sleep(delay);
      delay = Math.min(this.poll.maxMs, delay * this.poll.factor);
    }
  }

  /**
   * A failed COPY (statement 2) is bad data: non-retryable CsvLoadError naming the object and line from
   * Redshift's load-error log when it can be read. A failed guard (statement 3) is RowCountMismatch.
   * Everything else (ABORTED, serialization conflicts, network) stays retryable.
   */
  private async toLoadError(err: unknown, entity: EntityName, batchDate: string, expected: number): Promise<unknown> {
    if (!(err instanceof RedshiftStatementError) || err.status !== 'FAILED') return err;
    if (err.failedIndex === 2) {
      return ApplicationFailure.nonRetryable(
        `${entity} ${batchDate}: staged rows with batch_date ${batchDate} differ from the declared ${expected}`,
        'RowCountMismatch',
      );
    }
    if (err.failedIndex !== 1) return err;
    let where = '';
    if (err.redshiftQueryId !== undefined) {
      const serverless = Boolean(this.opts.target.workgroup);
      const sql = serverless
        ? 'SELECT TRIM(file_name) AS file, line_number AS line, TRIM(column_name) AS col, TRIM(error_message) AS reason ' +
          'FROM sys_load_error_detail WHERE query_id = $1 ORDER BY start_time LIMIT 1'
        : 'SELECT TRIM(filename) AS file, line_number AS line, TRIM(colname) AS col, TRIM(err_reason) AS reason ' +
          'FROM stl_load_errors WHERE query = $1 ORDER BY starttime LIMIT 1';
      const detail = await this.query<{ file: string; line: number; col: string; reason: string }>(sql, [
        err.redshiftQueryId,
      ]).catch(() => []);
      const d = detail[0];
      if (d) where = `${d.file.replace(this.opts.store.s3Uri(''), '')} line ${d.line} (column ${d.col}): ${d.reason}`;
    }
    return ApplicationFailure.create({
      message: where || `${entity} ${batchDate}: COPY failed: ${err.redshiftError}`,
      type: 'CsvLoadError',
      nonRetryable: true,
      cause: err,
    });
  }
}

function fieldValue(field: Field, typeName: string | undefined): unknown {
  if (field.isNull) return null;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.stringValue !== undefined) {
    return typeName === 'numeric' || typeName === 'int8' ? Number(field.stringValue) : field.stringValue;
  }
  return null;
}
