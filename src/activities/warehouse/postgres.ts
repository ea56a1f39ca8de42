/**
 * PostgreSQL warehouse adapter: batches stream from the object store through COPY FROM STDIN, backups
 * stream out through COPY TO STDOUT, and every batch or cleanup is one transaction.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { PG_TIMEOUT_DEFAULTS } from '../../config.js';
import { createPool } from '../../pg-pool.js';
import { ENTITY_NAMES, isEntityName, type EntityName } from '../../domain/entities.js';
import { PUBLISHED_BATCHES_COLUMNS } from '../../domain/published.js';
import type {
  CleanupTableResult,
  LoadBatchInput,
  LoadResult,
  PublishDayInput,
  PublishedDay,
  ShardObject,
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
  hasLoadLedger,
  isRetentionTable,
  LOAD_LEDGER,
  PUBLISHED_BATCHES,
  rawTable,
  RETENTION_TABLES,
  retentionColumnList,
  retentionOrderBy,
  retentionTableName,
} from './ddl.js';
import { firstLine, HEADER_PROBE_BYTES, headerMismatch } from './csv-header.js';
import type { BackupVerifier, CleanupPlan, LoadOptions, LoadProgress, Warehouse } from './index.js';
import {
  ensureModelTablesSql,
  exportCsvPostgres,
  modelTable,
  replaceRowsPostgres,
  type ReplaceRowsInput,
} from './model-tables.js';
import { dayProblems, validPublishInput } from './publish.js';
import { isMissingObject, setupOnce } from './setup-once.js';
import { retentionLimitExceeded, tableCleaned, withinDeleteShare } from './retention-limit.js';

/** Connection, object store and session settings for {@link PostgresWarehouse}. */
export interface PostgresWarehouseOptions {
  databaseUrl: string;
  store: ObjectStore;
  /** Pool size; one connection per concurrent load or cleanup. */
  maxConnections?: number;
  /** lock_timeout of every session, ms (0: the server's default); default {@link PG_TIMEOUT_DEFAULTS}. */
  lockTimeoutMs?: number;
  /** statement_timeout of every session, ms (0: the server's default); default {@link PG_TIMEOUT_DEFAULTS}. */
  statementTimeoutMs?: number;
}

/** application_name of the warehouse's sessions, so operators (and tests) can find them in pg_stat_activity. */
export const PG_APPLICATION_NAME = 'healthsynth-warehouse';

/** Runs one statement of a transaction, naming what it does (and waits for) in a timeout's error message. */
type Run = <R extends pg.QueryResultRow = Record<string, unknown>>(
  what: string,
  sql: string,
  params?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** Advisory-lock namespaces (first key of the two-key form), so our locks never collide with anyone else's. */
const LOCK_DDL = 0x4853_0001;
/** The advisory-lock namespace of batch loads: (LOCK_LOAD, hashtext('<entity>/<batch date>')), one per batch. */
export const LOCK_LOAD = 0x4853_0002;

/** SQLSTATE classes that mean the data is bad, not the connection: 22 data exception, 23 constraint violation. */
const DATA_ERROR = /^(22|23)/;
/** server_version_num of PostgreSQL 15, the first with COPY … HEADER MATCH. */
const MIN_SERVER_VERSION = 150_000;
/** SQLSTATE of a lock wait past lock_timeout, and of a cancelled statement (statement_timeout or a cancel request). */
const LOCK_NOT_AVAILABLE = '55P03';
const QUERY_CANCELED = '57014';

/** Type parsers: bigint and numeric as numbers (counts, amounts), date and timestamps as the text PG sends. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    if (oid === 1082 || oid === 1114 || oid === 1184) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/**
 * The local warehouse. Every batch and every cleanup is one transaction on one pooled connection, so a
 * failure at any point leaves the tables as they were; advisory locks serialize work on the same batch.
 */
export class PostgresWarehouse implements Warehouse {
  readonly kind = 'postgres';
  readonly pool: pg.Pool;
  private readonly store: ObjectStore;
  private readonly databaseUrl: string;
  private readonly timeouts: { lockTimeoutMs: number; statementTimeoutMs: number };

  constructor(opts: PostgresWarehouseOptions) {
    this.databaseUrl = opts.databaseUrl;
    this.timeouts = {
      lockTimeoutMs: opts.lockTimeoutMs ?? PG_TIMEOUT_DEFAULTS.lockTimeoutMs,
      statementTimeoutMs: opts.statementTimeoutMs ?? PG_TIMEOUT_DEFAULTS.statementTimeoutMs,
    };
    this.pool = createPool({
      connectionString: opts.databaseUrl,
      max: opts.maxConnections ?? 8,
      types: TYPES,
      application_name: PG_APPLICATION_NAME,
      // Sent as startup parameters, so every session of the pool has them (0 leaves the server's default).
      lock_timeout: this.timeouts.lockTimeoutMs,
      statement_timeout: this.timeouts.statementTimeoutMs,
    });
    // A lost connection fails its statement, not the worker (see createPool; `pg_ctl stop -m immediate` during a load
    // killed it before).
    this.store = opts.store;
  }

  /** Idempotent; serialized by an advisory lock because concurrent CREATE … IF NOT EXISTS can still race in PG. */
  ensureRawTables(): Promise<void> {
    return this.rawTables.ready();
  }

  /** Made once per process, and again after a statement finds them gone (see transaction, setup-once.ts). */
  private readonly rawTables = setupOnce(() =>
    this.transaction(async (_client, run) => {
      const version = await run<{ v: number }>('reading the server version', 'SELECT current_setting($1)::int AS v', [
        'server_version_num',
      ]);
      const v = version.rows[0]?.v ?? 0;
      if (v < MIN_SERVER_VERSION) {
        throw ApplicationFailure.nonRetryable(
          `the warehouse needs PostgreSQL 15 or later (loads check CSV headers with COPY … HEADER MATCH); the server ` +
            `at DATABASE_URL runs ${Math.floor(v / 10_000)}: upgrade it or point DATABASE_URL at a newer one`,
          'ConfigError',
        );
      }
      await run('waiting for another worker creating the raw tables', 'SELECT pg_advisory_xact_lock($1, 0)', [
        LOCK_DDL,
      ]);
      for (const sql of ensureRawTablesSql('postgres'))
        await run(`creating the raw tables (${sql.slice(0, 60)}…)`, sql);
    }),
  );

  /**
   * Every step reports its phase through `opts.onProgress` (the activity heartbeats it on a timer, so a lock wait or
   * a long DELETE never looks like a dead worker). An abort of `opts.signal` cancels the running statement
   * (pg_cancel_backend), rolls back, discards the connection and rethrows the abort reason. A lock wait past
   * lock_timeout fails with a retryable `LockTimeout` naming the lock or table.
   */
  async loadBatch(input: LoadBatchInput, opts: LoadOptions = {}): Promise<LoadResult> {
    const { entity, batchDate, objects } = input;
    if (!isEntityName(entity)) throw ApplicationFailure.nonRetryable(`unknown entity ${entity}`, 'InvalidInput');
    dateLiteral(batchDate);
    const { signal } = opts;
    const started = Date.now();
    const progress: LoadProgress = { phase: 'connect', rows: 0 };
    const at = (phase: LoadProgress['phase'], rows = progress.rows): void => {
      progress.phase = phase;
      progress.rows = rows;
      opts.onProgress?.({ ...progress });
    };
    at('connect');
    await this.ensureRawTables();
    const ledgerObjects = canonicalObjects(objects);
    const expected = objects.reduce((sum, o) => sum + o.rows, 0);
    const table = rawTable(entity);

    return this.transaction(async (client, run) => {
      // Two loads of the same batch serialize here; the second then finds the first in the ledger.
      at('lock');
      await run(
        `waiting for the load lock of ${entity} ${batchDate} (another load of this batch holds it)`,
        'SELECT pg_advisory_xact_lock($1, hashtext($2))',
        [LOCK_LOAD, `${entity}/${batchDate}`],
      );
      at('ledger');
      const prior = await run<{ objects: string; rows: number }>(
        `reading ${LOAD_LEDGER}`,
        `SELECT objects, rows FROM ${LOAD_LEDGER} WHERE entity = $1 AND batch_date = $2`,
        [entity, batchDate],
      );
      const recorded = prior.rows[0];
      if (recorded?.objects === ledgerObjects) {
        // The ledger alone is not proof: rows deleted behind its back (a retention run, a manual fix) must come back.
        const held = await run<{ n: number }>(
          `counting batch ${batchDate} in ${table}`,
          `SELECT count(*) AS n FROM ${table} WHERE batch_date = $1`,
          [batchDate],
        );
        if ((held.rows[0]?.n ?? 0) === recorded.rows) {
          at('commit', recorded.rows);
          return { entity, batchDate, rows: recorded.rows, status: 'unchanged', durationMs: Date.now() - started };
        }
      }

      // The date stops being visible to dbt with this change; publishDay makes it visible again once all seven
      // entities of it are loaded, so dbt never sees the day half replaced.
      await run(`unpublishing ${batchDate}`, `DELETE FROM ${PUBLISHED_BATCHES} WHERE batch_date = $1`, [batchDate]);
      // The batch is deleted, then COPY writes the rows straight into the raw table, once; the transaction keeps the
      // previous batch if anything fails. (A temp staging table costs a second write: bench/staging-load.ts measures it.)
      at('delete');
      await run(`deleting batch ${batchDate} from ${table}`, `DELETE FROM ${table} WHERE batch_date = $1`, [batchDate]);

      let loaded = 0;
      // The next object's GET is in flight while the current one streams, hiding the store's first-byte latency.
      let opening = objects[0] ? settle(this.open(objects[0], signal)) : undefined;
      for (const [i, obj] of objects.entries()) {
        const source = await (opening as Promise<Readable>);
        const following = objects[i + 1];
        opening = following ? settle(this.open(following, signal)) : undefined;
        let copied: number;
        try {
          at('copy', loaded);
          copied = await this.copyObject(
            client,
            table,
            entity,
            obj,
            source,
            (rows) => at('copy', loaded + rows),
            signal,
          );
        } catch (err) {
          void opening?.then(
            (next) => next.destroy(),
            () => {},
          );
          throw err;
        }
        if (copied !== obj.rows) {
          throw ApplicationFailure.nonRetryable(
            `${obj.key}: COPY loaded ${copied} rows but the object is declared with ${obj.rows}`,
            'RowCountMismatch',
          );
        }
        loaded += copied;
        at('copy', loaded);
      }
      // Counting by batch_date also catches rows that carry another batch's date (they would escape reloads).
      at('check', loaded);
      const staged = await run<{ n: number }>(
        `counting batch ${batchDate} in ${table}`,
        `SELECT count(*) AS n FROM ${table} WHERE batch_date = $1`,
        [batchDate],
      );
      const inBatch = staged.rows[0]?.n ?? 0;
      if (inBatch !== expected) {
        throw ApplicationFailure.nonRetryable(
          `${entity} ${batchDate}: ${inBatch} staged rows carry batch_date ${batchDate}, expected ${expected} ` +
            `(the sum of ${objects.length} objects' rows)`,
          'RowCountMismatch',
        );
      }
      at('commit', loaded);
      await run(
        `writing ${LOAD_LEDGER}`,
        `INSERT INTO ${LOAD_LEDGER} (entity, batch_date, objects, rows, loaded_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (entity, batch_date) DO UPDATE
         SET objects = EXCLUDED.objects, rows = EXCLUDED.rows, loaded_at = EXCLUDED.loaded_at`,
        [entity, batchDate, ledgerObjects, expected],
      );
      return { entity, batchDate, rows: expected, status: 'loaded', durationMs: Date.now() - started };
    }, signal);
  }

  /**
   * Takes the load locks of all seven batches of the date (in one fixed order, so it never deadlocks with a load,
   * which takes one), so no load of the date runs while the day is checked and published.
   */
  async publishDay(input: PublishDayInput, opts: Pick<LoadOptions, 'signal'> = {}): Promise<PublishedDay> {
    const { batchDate, rows } = validPublishInput(input);
    await this.ensureRawTables();
    const published = await this.transaction(async (_client, run) => {
      for (const entity of ENTITY_NAMES) {
        await run(
          `waiting for the load lock of ${entity} ${batchDate} (a load of it is running)`,
          'SELECT pg_advisory_xact_lock($1, hashtext($2))',
          [LOCK_LOAD, `${entity}/${batchDate}`],
        );
      }
      const ledger = await run<{ entity: EntityName; rows: number }>(
        `reading ${LOAD_LEDGER}`,
        `SELECT entity, rows FROM ${LOAD_LEDGER} WHERE batch_date = $1`,
        [batchDate],
      );
      const counted = await run<{ entity: EntityName; n: number }>(
        `counting the batches of ${batchDate}`,
        ENTITY_NAMES.map(
          (e) => `SELECT '${e}' AS entity, count(*) AS n FROM ${rawTable(e)} WHERE batch_date = $1`,
        ).join(' UNION ALL '),
        [batchDate],
      );
      const problems = dayProblems(
        rows,
        new Map(ledger.rows.map((r) => [r.entity, r.rows])),
        new Map(counted.rows.map((r) => [r.entity, r.n])),
      );
      if (problems.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `day ${batchDate} not published: ${problems.join('; ')}. Its rows stay invisible to dbt until a run of ` +
            `${batchDate} loads all seven entities`,
          'DayIncomplete',
        );
      }
      const names = PUBLISHED_BATCHES_COLUMNS.map((c) => c.name);
      await run(
        `publishing ${batchDate}`,
        `INSERT INTO ${PUBLISHED_BATCHES} (${names.join(', ')}) VALUES ($1, now(), ` +
          `${ENTITY_NAMES.map((_, i) => `$${i + 2}`).join(', ')}) ON CONFLICT (batch_date) DO UPDATE SET ` +
          names
            .slice(1)
            .map((n) => `${n} = EXCLUDED.${n}`)
            .join(', '),
        [batchDate, ...ENTITY_NAMES.map((e) => rows[e])],
      );
      return { batchDate, rows, status: 'published' as const };
    }, opts.signal);
    // Fresh planner statistics before dbt reads the day. Autovacuum analyzes a table only about a minute after a
    // large change, so dbt would otherwise plan its joins on a just-loaded day from stale or no statistics: a
    // day-scoped test then ran as a nested loop over 16k × 20k rows for 300 s instead of a merge join in 50 ms.
    await this.transaction(
      (_client, run) => run('analyzing the raw tables', `ANALYZE ${ENTITY_NAMES.map((e) => rawTable(e)).join(', ')}`),
      opts.signal,
    );
    return published;
  }

  async countBatch(entity: EntityName, batchDate: string): Promise<number> {
    if (!isEntityName(entity)) throw new Error(`unknown entity ${entity}`);
    const res = await this.pool.query<{ n: number }>(
      `SELECT count(*) AS n FROM ${rawTable(entity)} WHERE batch_date = $1`,
      [batchDate],
    );
    return res.rows[0]?.n ?? 0;
  }

  async query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const res = await this.pool.query(sql, params as unknown[]);
    return res.rows as T[];
  }

  /**
   * Runs the whole cleanup in one transaction holding an EXCLUSIVE lock on the table: reads continue
   * (dbt, reports), writes wait, so the rows counted against the delete-share limit, exported, verified and
   * deleted are the same rows. Patients also lock appointments against writes (SHARE), since which patients
   * batches may go depends on the appointments that remain.
   */
  async cleanupExpired(plan: CleanupPlan, verify: BackupVerifier): Promise<CleanupTableResult> {
    const { table, runDate, cutoff, maxDeleteShare } = plan;
    if (!isRetentionTable(table))
      throw ApplicationFailure.nonRetryable(`not a retention table: ${table}`, 'InvalidInput');
    dateLiteral(runDate);
    const where = expiredPredicate(table, cutoff);
    const spec: { key: string; keptWhileReferencedBy?: EntityName } = RETENTION_TABLES[table];
    await this.ensureRawTables();

    return this.transaction(async (client) => {
      await client.query(`LOCK TABLE ${retentionTableName(table)} IN EXCLUSIVE MODE`);
      if (spec.keptWhileReferencedBy) {
        await client.query(`LOCK TABLE ${rawTable(spec.keptWhileReferencedBy)} IN SHARE MODE`);
      }
      const done = await client.query<{ cutoff: string; backup_key: string; rows: number }>(
        `SELECT cutoff, backup_key, rows FROM ${CLEANUP_LEDGER} WHERE run_date = $1 AND table_name = $2`,
        [runDate, table],
      );
      const prior = done.rows[0];
      if (prior) {
        return tableCleaned('already-done', {
          table,
          cutoff: prior.cutoff,
          backupKey: prior.backup_key,
          rows: prior.rows,
        });
      }
      // The rows due and their key sum, found through the date column's index. The whole table is counted (for
      // the share limit) only when some rows are due: until the warehouse is older than the retention, a daily
      // cleanup finds nothing and reads nothing else (a full count of raw.appointments at 120 medium days: 0.5 s).
      const counted = await client.query<{ n: number; key_sum: string }>(
        `SELECT count(*) AS n, COALESCE(sum(${spec.key}), 0)::text AS key_sum ` +
          `FROM ${retentionTableName(table)} WHERE ${where}`,
      );
      const n = counted.rows[0]?.n ?? 0;
      const keySum = counted.rows[0]?.key_sum ?? '0';
      if (n === 0) return { table, cutoff, rowsBackedUp: 0, rowsDeleted: 0, status: 'nothing-to-clean' };
      const all = await client.query<{ total: number }>(`SELECT count(*) AS total FROM ${retentionTableName(table)}`);
      const total = all.rows[0]?.total ?? 0;
      if (!withinDeleteShare(n, total, maxDeleteShare)) {
        throw retentionLimitExceeded(table, n, total, maxDeleteShare ?? 1);
      }

      const backupKey = `${keys.backupPrefix(table, runDate)}part-00000.csv`;
      const out: Readable = client.query(
        copyTo(
          `COPY (SELECT ${retentionColumnList(table)} FROM ${retentionTableName(table)} WHERE ${where} ` +
            `ORDER BY ${retentionOrderBy(table)}) ` +
            'TO STDOUT (FORMAT csv, HEADER true)',
        ),
      );
      await this.store.put(backupKey, out, 'text/csv');

      const verified = await verify({ backupKey, dataKeys: [backupKey] });
      if (verified.rows !== n || verified.keySum !== keySum) {
        throw ApplicationFailure.nonRetryable(
          `backup ${backupKey} holds ${verified.rows} rows (key sum ${verified.keySum}) but ${n} rows ` +
            `(key sum ${keySum}) are due for deletion; nothing deleted`,
          'BackupVerificationFailed',
        );
      }
      // Tables loaded in batches lose the ledger rows of the batches touched; the patient loop's tables have none.
      const unledgered = hasLoadLedger(table) ? await client.query(deleteLedgerOfExpiredSql(table, where)) : undefined;
      const deleted = await client.query(`DELETE FROM ${retentionTableName(table)} WHERE ${where}`);
      if (deleted.rowCount !== verified.rows) {
        throw ApplicationFailure.nonRetryable(
          `DELETE removed ${deleted.rowCount} rows but the verified backup holds ${verified.rows}; rolled back`,
          'DeleteCountMismatch',
        );
      }
      await client.query(
        `INSERT INTO ${CLEANUP_LEDGER} (run_date, table_name, cutoff, backup_key, rows, cleaned_at)
         VALUES ($1, $2, $3, $4, $5, now())`,
        [runDate, table, cutoff, backupKey, verified.rows],
      );
      return tableCleaned('cleaned', {
        table,
        cutoff,
        backupKey,
        rows: verified.rows,
        ...(unledgered ? { ledgerRowsDeleted: unledgered.rowCount ?? 0 } : {}),
      });
    });
  }

  /** model-tables.ts: CREATE … IF NOT EXISTS, one transaction. */
  async ensureModelTables(): Promise<void> {
    await this.transaction(async (client) => {
      for (const sql of ensureModelTablesSql()) await client.query(sql);
    });
  }

  /** model-tables.ts: COPY (select) TO STDOUT streamed into one object. */
  async exportCsv(select: string, prefix: string): Promise<string[]> {
    return this.transaction((client) => exportCsvPostgres(client, this.store, select, prefix));
  }

  /** model-tables.ts: DELETE the value's rows and COPY the object in, one transaction; then fresh statistics. */
  async replaceRows(input: ReplaceRowsInput): Promise<number> {
    const rows = await this.transaction((client) => replaceRowsPostgres(client, this.store, input));
    // The day just loaded is the one read next (selectReminders joins tomorrow's scores to the schedule seconds
    // later), and autovacuum analyzes only about a minute after a large change. With statistics from before it, the
    // planner expects ~1 row for the new scored_on: on a warehouse a few days old selectReminders took 151 s instead
    // of 0.1 s (history bench, 2026-12-07; README, "Cost with history").
    await this.transaction((_client, run) =>
      run(`analyzing ${modelTable(input.table)}`, `ANALYZE ${modelTable(input.table)}`),
    );
    return rows;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * BEGIN … COMMIT around `fn`; any error rolls back and discards the connection (its state is unknown). `fn` gets
   * the client and {@link Run}, which names each statement in timeout errors. An abort of `signal` cancels the
   * statement running at that moment (pg_cancel_backend from a second connection: a backend blocked in a lock wait
   * never notices a closed socket), so the transaction ends at once and its locks go with it.
   */
  private async transaction<T>(fn: (client: pg.PoolClient, run: Run) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const client = await this.checkout(signal);
    // The backend's process id, from the protocol's BackendKeyData (pg sets it on connect; untyped in @types/pg).
    const pid = (client as unknown as { processID: number }).processID;
    const onAbort = (): void => void this.cancelBackend(pid);
    signal?.addEventListener('abort', onAbort, { once: true });
    const run: Run = async (what, sql, params) => {
      signal?.throwIfAborted();
      try {
        return await client.query(sql, params);
      } catch (err) {
        throw this.sessionTimeoutError(err, what);
      }
    };
    try {
      await client.query('BEGIN');
      const result = await fn(client, run);
      signal?.throwIfAborted();
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      client.release(true);
      // A database emptied or replaced under a running worker must not fail every retry: make the tables again.
      if (isMissingObject(err)) this.rawTables.forget();
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A pooled connection; an abort while every connection is busy stops the wait (the connection, when it comes, goes back). */
  private checkout(signal?: AbortSignal): Promise<pg.PoolClient> {
    signal?.throwIfAborted();
    const pending = this.pool.connect();
    if (!signal) return pending;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (client) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) client.release();
          else resolve(client);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  /** Cancels whatever backend `pid` is running, from a connection of its own (never throws). */
  private async cancelBackend(pid: number): Promise<void> {
    const canceller = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: `${PG_APPLICATION_NAME}-cancel`,
    });
    canceller.on('error', () => {});
    try {
      await canceller.connect();
      await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      // The session is gone already, or the server is unreachable: the discarded connection ends it either way.
    } finally {
      await canceller.end().catch(() => {});
    }
  }

  /**
   * A lock wait past lock_timeout or a statement past statement_timeout becomes a retryable failure naming what the
   * session was doing (`what` names the lock or table) and the setting to change; anything else passes unchanged.
   */
  private sessionTimeoutError(err: unknown, what: string): unknown {
    const e = err as { code?: string; message?: string };
    if (e.code === LOCK_NOT_AVAILABLE) {
      return ApplicationFailure.retryable(
        `${what}: gave up after PG_LOCK_TIMEOUT (${this.timeouts.lockTimeoutMs} ms) because another session holds the ` +
          `lock; Temporal retries the load (raise PG_LOCK_TIMEOUT if such waits are expected): ${e.message}`,
        'LockTimeout',
      );
    }
    if (e.code === QUERY_CANCELED && /statement timeout/i.test(e.message ?? '')) {
      return ApplicationFailure.retryable(
        `${what}: ran longer than PG_STATEMENT_TIMEOUT (${this.timeouts.statementTimeoutMs} ms); Temporal retries the ` +
          `load (raise PG_STATEMENT_TIMEOUT if the statement needs longer)`,
        'StatementTimeout',
      );
    }
    return err;
  }

  /** Streams one object into `target` with COPY; returns the rows COPY reported. */
  private async copyObject(
    client: pg.PoolClient,
    target: string,
    entity: EntityName,
    obj: ShardObject,
    source: Readable,
    onRows: (rows: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    // HEADER MATCH (PostgreSQL 15+): the file's header must name the listed columns in order, so a file with
    // swapped columns fails instead of loading every value into the wrong column.
    const copy = client.query(copyFrom(`COPY ${target} (${columnList(entity)}) FROM STDIN (FORMAT csv, HEADER MATCH)`));
    const counter = new LineCounter(onRows);
    try {
      // An abort destroys the streams; pg-copy-streams then sends CopyFail, which ends the COPY.
      await pipeline(source, counter, copy, ...(signal ? [{ signal }] : []));
    } catch (err) {
      if (isHeaderMismatch(err)) throw headerMismatch(obj.key, entity, counter.firstLine);
      throw this.sessionTimeoutError(toLoadError(err, obj.key), `COPY of ${obj.key} into ${target}`);
    }
    return copy.rowCount;
  }

  /** Opens an object only if it still has the etag the batch names, so the ledger never records bytes it did not load. */
  private async open(obj: ShardObject, signal?: AbortSignal): Promise<Readable> {
    try {
      const res = await this.store.client.send(
        new GetObjectCommand({
          Bucket: this.store.bucket,
          Key: obj.key,
          ...(obj.etag ? { IfMatch: `"${obj.etag}"` } : {}),
        }),
        signal ? { abortSignal: signal } : {},
      );
      return res.Body as Readable;
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'PreconditionFailed') {
        throw ApplicationFailure.nonRetryable(
          `${obj.key} changed since it was written (etag is no longer ${obj.etag}); regenerate the batch`,
          'ObjectChanged',
        );
      }
      if (name === 'NoSuchKey') throw new Error(`object ${this.store.s3Uri(obj.key)} does not exist`);
      throw err;
    }
  }
}

/**
 * Bad CSV becomes a non-retryable `CsvLoadError` naming the object and the file line PG reports
 * (its `where` reads "COPY appointments, line 7, column no_show: …"; line 1 is the header).
 * Anything else (connection lost, object stream broken) stays a plain, retryable error.
 */
function toLoadError(err: unknown, key: string): unknown {
  const e = err as { code?: string; where?: string; message?: string };
  if (typeof e.code !== 'string' || !DATA_ERROR.test(e.code)) return err;
  const where = e.where ?? '';
  const line = /line (\d+)/.exec(where)?.[1];
  const column = /column (\w+)/.exec(where)?.[1];
  return ApplicationFailure.create({
    message: `${key}${line ? ` line ${line}` : ''}${column ? ` (column ${column})` : ''}: ${e.message}`,
    type: 'CsvLoadError',
    nonRetryable: true,
    details: [{ key, line: line ? Number(line) : undefined, column, sqlState: e.code }],
  });
}

/** Marks a promise as handled now (its rejection is still thrown where it is awaited), so a prefetch that fails
 * while another object is streaming does not count as an unhandled rejection. */
function settle<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** HEADER MATCH's complaint (SQLSTATE 22P04, "… in header line …"): the object's first line is not the columns. */
function isHeaderMismatch(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '22P04' && /header line/.test(e.message ?? '');
}

/**
 * Passes bytes through and reports newlines seen (about one per row) at most every 500 ms, for heartbeats. Keeps
 * the object's first line (up to {@link HEADER_PROBE_BYTES}) for the message when the header does not match.
 */
class LineCounter extends Transform {
  private lines = 0;
  private last = Date.now();
  private head = '';

  constructor(private readonly onRows: (rows: number) => void) {
    super();
  }

  /** The first line seen (the CSV header), without its line break. */
  get firstLine(): string {
    return firstLine(this.head);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.lines === 0 && this.head.length < HEADER_PROBE_BYTES) {
      this.head += chunk.subarray(0, HEADER_PROBE_BYTES - this.head.length).toString('utf8');
    }
    let i = chunk.indexOf(10);
    while (i !== -1) {
      this.lines++;
      i = chunk.indexOf(10, i + 1);
    }
    const now = Date.now();
    if (now - this.last >= 500) {
      this.last = now;
      this.onRows(Math.max(0, this.lines - 1));
    }
    cb(null, chunk);
  }
}
