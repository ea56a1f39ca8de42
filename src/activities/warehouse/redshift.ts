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
import { RedshiftDataClient, type DescribeStatementResponse, type SqlParameter } from '@aws-sdk/client-redshift-data';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../../config.js';
import { ENTITY_NAMES, isEntityName, type EntityName } from '../../domain/entities.js';
import type {
  CleanupTableResult,
  LoadBatchInput,
  LoadResult,
  PublishDayInput,
  PublishedDay,
} from '../../domain/types.js';
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
  PUBLISHED_BATCHES,
  publishedRow,
  rawTable,
  RETENTION_TABLES,
  stringLiteral,
  type RetentionTable,
} from './ddl.js';
import { checkCsvHeader } from './csv-header.js';
import type { BackupVerifier, CleanupPlan, LoadOptions, LoadProgress, Warehouse } from './index.js';
import { validPublishInput } from './publish.js';
import { retentionLimitExceeded, withinDeleteShare } from './retention-limit.js';
import {
  RedshiftDataApi,
  RedshiftStatementError,
  type Backoff,
  type RedshiftTarget,
  type StatementWatch,
} from './redshift-data.js';

export { RedshiftStatementError, type Backoff, type RedshiftTarget };

type RedshiftConfig = Extract<Config['warehouse'], { kind: 'redshift' }>;

/** Ranged GETs of part files' first lines in flight at once (a batch has up to a few hundred objects). */
const HEADER_CHECKS_AT_ONCE = 16;

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
}

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
  private readonly api: RedshiftDataApi;
  private ensured?: Promise<void>;

  constructor(private readonly opts: RedshiftWarehouseOptions) {
    this.api = new RedshiftDataApi(opts);
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
   * Ledger check, the header check of every object (a ranged GET of its first line), then one batch: temp
   * staging table, COPY from a manifest naming exactly the batch's objects, a guard that aborts unless the staged
   * rows (with this batch_date) equal the declared rows, delete + insert, ledger delete + insert. Two concurrent
   * loads of a batch conflict under Redshift's serializable isolation; the loser fails retryably and its retry
   * finds the ledger entry.
   *
   * The batch runs in Redshift whatever happens to the worker. Its statement id and manifest go to
   * `opts.onProgress` as soon as it is submitted and again at every poll (the activity heartbeats them); a retry
   * whose `opts.resumeFrom` names a load of the same manifest picks that statement up ({@link RedshiftDataApi.resume})
   * instead of submitting the load a second time while the first may still be running.
   */
  async loadBatch(input: LoadBatchInput, opts: LoadOptions = {}): Promise<LoadResult> {
    const { entity, batchDate, objects } = input;
    if (!isEntityName(entity)) throw ApplicationFailure.nonRetryable(`unknown entity ${entity}`, 'InvalidInput');
    const day = dateLiteral(batchDate);
    const started = Date.now();
    opts.onProgress?.({ phase: 'connect', rows: 0 });
    await this.ensureRawTables();
    const ledgerObjects = canonicalObjects(objects);
    const expected = objects.reduce((sum, o) => sum + o.rows, 0);
    const manifest = manifestKey(entity, batchDate, ledgerObjects);
    const watch: StatementWatch = {
      ...(opts.signal ? { signal: opts.signal } : {}),
      onSubmitted: (statementId) => opts.onProgress?.({ phase: 'statement', rows: 0, statementId, manifest }),
      onPoll: (statementId) => opts.onProgress?.({ phase: 'statement', rows: 0, statementId, manifest }),
    };
    const loaded = async (result: DescribeStatementResponse): Promise<LoadResult> => {
      // Read back the count the guard checked, from the batch's own result set.
      const countId = result.SubStatements?.[2]?.Id;
      if (countId) {
        const staged = Number((await this.results(countId))[0]?.staged ?? NaN);
        if (staged !== expected) {
          throw new Error(
            `Redshift reported ${staged} staged rows after a guarded load of ${expected}; check the batch`,
          );
        }
      }
      opts.onProgress?.({ phase: 'commit', rows: expected });
      return { entity, batchDate, rows: expected, status: 'loaded', durationMs: Date.now() - started };
    };

    const previous = resumableLoad(opts.resumeFrom, manifest);
    if (previous) {
      let resumed: DescribeStatementResponse | undefined;
      try {
        resumed = await this.api.resume(previous, watch);
      } catch (err) {
        throw await this.toLoadError(err, entity, batchDate, expected);
      }
      if (resumed) return loaded(resumed);
      // The earlier statement failed or was aborted (its transaction changed nothing): start over.
    }

    const prior = await this.query<{ objects: string; rows: number }>(
      `SELECT objects, rows FROM ${LOAD_LEDGER} WHERE entity = $1 AND batch_date = $2`,
      [entity, batchDate],
    );
    // The ledger alone is not proof: rows deleted behind its back (a retention run, a manual fix) must come back.
    if (prior[0]?.objects === ledgerObjects && (await this.countBatch(entity, batchDate)) === Number(prior[0].rows)) {
      return { entity, batchDate, rows: Number(prior[0].rows), status: 'unchanged', durationMs: Date.now() - started };
    }

    // IGNOREHEADER only skips the first line; check it is the entity's header before COPY maps fields by position.
    for (let i = 0; i < objects.length; i += HEADER_CHECKS_AT_ONCE) {
      await Promise.all(
        objects.slice(i, i + HEADER_CHECKS_AT_ONCE).map((o) => checkCsvHeader(this.opts.store, entity, o, opts.signal)),
      );
    }
    await this.opts.store.put(
      manifest,
      JSON.stringify({ entries: objects.map((o) => ({ url: this.opts.store.s3Uri(o.key), mandatory: true })) }),
      'application/json',
    );
    const sqls = this.loadSql(entity, batchDate, day, manifest, ledgerObjects, expected);
    let result: DescribeStatementResponse;
    try {
      result = await this.batch(sqls, watch);
    } catch (err) {
      throw await this.toLoadError(err, entity, batchDate, expected);
    }
    return loaded(result);
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
      // The date stops being visible to dbt with this change, until publishDay verifies all six batches again.
      `DELETE FROM ${PUBLISHED_BATCHES} WHERE batch_date = ${day}`,
    ];
  }

  /**
   * One batch, so the checks and the write see the same snapshot (serializable isolation; a load of the date
   * committing in between makes one of the two fail retryably): a guard that the ledger holds the six loads with
   * the rows this run loaded, a guard per entity that its table holds them, then the published row replaced.
   */
  async publishDay(input: PublishDayInput, opts: Pick<LoadOptions, 'signal'> = {}): Promise<PublishedDay> {
    const { batchDate, rows } = validPublishInput(input);
    await this.ensureRawTables();
    try {
      await this.batch(this.publishSql(batchDate, rows), opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      if (err instanceof RedshiftStatementError && err.status === 'FAILED' && err.failedIndex !== undefined) {
        const entity = err.failedIndex >= 1 ? ENTITY_NAMES[err.failedIndex - 1] : undefined;
        if (err.failedIndex === 0 || entity) {
          throw ApplicationFailure.nonRetryable(
            `day ${batchDate} not published: ` +
              (entity
                ? `raw.${entity} does not hold the ${rows[entity]} rows of ${batchDate} this run loaded`
                : `the load ledger does not hold all six loads of ${batchDate} with the rows this run loaded ` +
                  `(${ENTITY_NAMES.map((e) => `${e} ${rows[e]}`).join(', ')})`) +
              `. Its rows stay invisible to dbt until a run of ${batchDate} loads all six entities`,
            'DayIncomplete',
          );
        }
      }
      throw err;
    }
    return { batchDate, rows, status: 'published' };
  }

  /** The statements of publishDay (exported for the unit test that asserts the SQL sent). */
  publishSql(batchDate: string, rows: Record<EntityName, number>): string[] {
    const day = dateLiteral(batchDate);
    const guard = (ok: string) => `1 / (CASE WHEN ${ok} THEN 1 ELSE 0 END) AS guard`;
    const loads = ENTITY_NAMES.map((e) => `(entity = '${e}' AND rows = ${rows[e]})`).join(' OR ');
    const row = publishedRow(day, 'GETDATE()', rows);
    return [
      `SELECT ${guard(`COUNT(*) = ${ENTITY_NAMES.length}`)} FROM ${LOAD_LEDGER} WHERE batch_date = ${day} AND (${loads})`,
      ...ENTITY_NAMES.map(
        (e) => `SELECT ${guard(`COUNT(*) = ${rows[e]}`)} FROM ${rawTable(e)} WHERE batch_date = ${day}`,
      ),
      `DELETE FROM ${PUBLISHED_BATCHES} WHERE batch_date = ${day}`,
      `INSERT INTO ${PUBLISHED_BATCHES} (${row.columns}) VALUES (${row.values})`,
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

  /** One statement: submit (retrying throttling), wait for FINISHED. */
  execute(sql: string, parameters: SqlParameter[] = [], watch?: StatementWatch): Promise<DescribeStatementResponse> {
    return this.api.execute(sql, parameters, watch);
  }

  /** Several statements in one transaction: submit (retrying throttling), wait for FINISHED. */
  batch(sqls: string[], watch?: StatementWatch): Promise<DescribeStatementResponse> {
    return this.api.batch(sqls, watch);
  }

  /** Every row of a finished statement's result set, following NextToken, as objects keyed by column name. */
  results(id: string): Promise<Record<string, unknown>[]> {
    return this.api.results(id);
  }

  /**
   * A failed COPY (statement 2) is bad data only when Redshift logged a load error for it: then it is a
   * non-retryable CsvLoadError naming the object, line, column and reason. A COPY that failed without a logged load
   * error (S3 access denied or throttled, a lost connection, a cluster restart) stays retryable, as does a failed
   * lookup. A failed guard (statement 3) is RowCountMismatch. Everything else (ABORTED, serialization conflicts,
   * network) stays retryable.
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
    const logged = await this.loadErrorOf(err, entity, batchDate).catch(() => undefined);
    if (!logged) return err;
    return ApplicationFailure.create({
      message:
        `${logged.file.replace(this.opts.store.s3Uri(''), '')} line ${logged.line} (column ${logged.col}): ` +
        logged.reason,
      type: 'CsvLoadError',
      nonRetryable: true,
      cause: err,
    });
  }

  /**
   * The load error Redshift logged for a failed COPY of this batch, from SYS_LOAD_ERROR_DETAIL (the view Redshift
   * documents for provisioned clusters and Serverless alike). Its query_id is not the Data API's RedshiftQueryId
   * (that one is STL_QUERY's id, and Redshift says the two are different identifiers), so the row is found by what
   * identifies this COPY: the session that ran the batch, a start after the batch was submitted, and a file under
   * the batch's own prefix.
   */
  private async loadErrorOf(
    err: RedshiftStatementError,
    entity: EntityName,
    batchDate: string,
  ): Promise<{ file: string; line: number; col: string; reason: string } | undefined> {
    const conditions = ['start_time >= $1', 'TRIM(file_name) LIKE $2'];
    // A minute of slack for the Data API's clock against the cluster's.
    const since = new Date((err.createdAt ?? new Date(Date.now() - 86_400_000)).getTime() - 60_000);
    const params: unknown[] = [
      since.toISOString().replace('T', ' ').replace(/Z$/, ''),
      `${this.opts.store.s3Uri(keys.rawPrefix(entity, batchDate))}%`,
    ];
    if (err.redshiftPid !== undefined) {
      params.push(err.redshiftPid);
      conditions.push(`session_id = $${params.length}`);
    }
    const rows = await this.query<{ file: string; line: number; col: string; reason: string }>(
      'SELECT TRIM(file_name) AS file, line_number AS line, TRIM(column_name) AS col, TRIM(error_message) AS reason ' +
        `FROM sys_load_error_detail WHERE ${conditions.join(' AND ')} ORDER BY start_time LIMIT 1`,
      params,
    );
    return rows[0];
  }
}

/** The statement id of a load the previous attempt submitted for the same manifest (its heartbeat), if any. */
function resumableLoad(resumeFrom: unknown, manifest: string): string | undefined {
  const p = resumeFrom as Partial<LoadProgress> | undefined;
  if (p?.phase !== 'statement' || p.manifest !== manifest) return undefined;
  return typeof p.statementId === 'string' && p.statementId !== '' ? p.statementId : undefined;
}
