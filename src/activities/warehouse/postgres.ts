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
import { isEntityName, type EntityName } from '../../domain/entities.js';
import type { CleanupTableResult, LoadBatchInput, LoadResult, ShardObject } from '../../domain/types.js';
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
} from './ddl.js';
import type { BackupVerifier, CleanupPlan, Warehouse } from './index.js';
import { retentionLimitExceeded, withinDeleteShare } from './retention-limit.js';

/**
 * How a batch reaches its raw table inside the transaction.
 * - `direct` (default): delete the batch, then COPY straight into `raw.<entity>`. Rows are written once.
 * - `staging`: COPY into a temp table LIKE the raw table, then delete + INSERT … SELECT. Rows are written twice.
 * Both are one transaction, so a failed COPY leaves the previous batch exactly as it was; bench/load.ts measures both.
 */
export type PgLoadStrategy = 'direct' | 'staging';

/** Connection, object store and load strategy for {@link PostgresWarehouse}. */
export interface PostgresWarehouseOptions {
  databaseUrl: string;
  store: ObjectStore;
  strategy?: PgLoadStrategy;
  /** Pool size; one connection per concurrent load or cleanup. */
  maxConnections?: number;
}

/** Advisory-lock namespaces (first key of the two-key form), so our locks never collide with anyone else's. */
const LOCK_DDL = 0x4853_0001;
const LOCK_LOAD = 0x4853_0002;

/** SQLSTATE classes that mean the data is bad, not the connection: 22 data exception, 23 constraint violation. */
const DATA_ERROR = /^(22|23)/;

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
  private readonly strategy: PgLoadStrategy;
  private ensured?: Promise<void>;

  constructor(opts: PostgresWarehouseOptions) {
    this.pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.maxConnections ?? 8, types: TYPES });
    // An idle client losing its connection must not crash the worker; the next checkout reconnects.
    this.pool.on('error', () => {});
    this.store = opts.store;
    this.strategy = opts.strategy ?? 'direct';
  }

  /** Idempotent; serialized by an advisory lock because concurrent CREATE … IF NOT EXISTS can still race in PG. */
  ensureRawTables(): Promise<void> {
    this.ensured ??= this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_DDL]);
      for (const sql of ensureRawTablesSql('postgres')) await client.query(sql);
    }).catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  async loadBatch(input: LoadBatchInput, onProgress?: (rows: number) => void): Promise<LoadResult> {
    const { entity, batchDate, objects } = input;
    if (!isEntityName(entity)) throw ApplicationFailure.nonRetryable(`unknown entity ${entity}`, 'InvalidInput');
    dateLiteral(batchDate);
    const started = Date.now();
    await this.ensureRawTables();
    const ledgerObjects = canonicalObjects(objects);
    const expected = objects.reduce((sum, o) => sum + o.rows, 0);
    const table = rawTable(entity);

    return this.transaction(async (client) => {
      // Two loads of the same batch serialize here; the second then finds the first in the ledger.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_LOAD, `${entity}/${batchDate}`]);
      const prior = await client.query<{ objects: string; rows: number }>(
        `SELECT objects, rows FROM ${LOAD_LEDGER} WHERE entity = $1 AND batch_date = $2`,
        [entity, batchDate],
      );
      if (prior.rows[0]?.objects === ledgerObjects) {
        return { entity, batchDate, rows: prior.rows[0].rows, status: 'unchanged', durationMs: Date.now() - started };
      }

      let target = table;
      if (this.strategy === 'staging') {
        target = `pg_temp.stage_${entity}`;
        await client.query(`CREATE TEMP TABLE stage_${entity} (LIKE ${table}) ON COMMIT DROP`);
      } else {
        await client.query(`DELETE FROM ${table} WHERE batch_date = $1`, [batchDate]);
      }

      let loaded = 0;
      // The next object's GET is in flight while the current one streams, hiding the store's first-byte latency.
      let opening = objects[0] ? settle(this.open(objects[0])) : undefined;
      for (const [i, obj] of objects.entries()) {
        const source = await (opening as Promise<Readable>);
        const following = objects[i + 1];
        opening = following ? settle(this.open(following)) : undefined;
        let copied: number;
        try {
          copied = await this.copyObject(client, target, entity, obj, source, (rows) => onProgress?.(loaded + rows));
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
        onProgress?.(loaded);
      }
      // Counting by batch_date also catches rows that carry another batch's date (they would escape reloads).
      const staged = await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${target} WHERE batch_date = $1`, [
        batchDate,
      ]);
      const inBatch = staged.rows[0]?.n ?? 0;
      if (inBatch !== expected) {
        throw ApplicationFailure.nonRetryable(
          `${entity} ${batchDate}: ${inBatch} staged rows carry batch_date ${batchDate}, expected ${expected} ` +
            `(the sum of ${objects.length} objects' rows)`,
          'RowCountMismatch',
        );
      }
      if (this.strategy === 'staging') {
        await client.query(`DELETE FROM ${table} WHERE batch_date = $1`, [batchDate]);
        await client.query(`INSERT INTO ${table} SELECT * FROM ${target}`);
      }
      await client.query(
        `INSERT INTO ${LOAD_LEDGER} (entity, batch_date, objects, rows, loaded_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (entity, batch_date) DO UPDATE
         SET objects = EXCLUDED.objects, rows = EXCLUDED.rows, loaded_at = EXCLUDED.loaded_at`,
        [entity, batchDate, ledgerObjects, expected],
      );
      return { entity, batchDate, rows: expected, status: 'loaded', durationMs: Date.now() - started };
    });
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
      await client.query(`LOCK TABLE ${rawTable(table)} IN EXCLUSIVE MODE`);
      if (spec.keptWhileReferencedBy) {
        await client.query(`LOCK TABLE ${rawTable(spec.keptWhileReferencedBy)} IN SHARE MODE`);
      }
      const done = await client.query<{ cutoff: string; backup_key: string; rows: number }>(
        `SELECT cutoff, backup_key, rows FROM ${CLEANUP_LEDGER} WHERE run_date = $1 AND table_name = $2`,
        [runDate, table],
      );
      const prior = done.rows[0];
      if (prior) {
        return {
          table,
          cutoff: prior.cutoff,
          backupKey: prior.backup_key,
          rowsBackedUp: prior.rows,
          rowsDeleted: prior.rows,
          status: 'already-done',
        };
      }
      // One scan counts the rows due, the whole table (for the share limit) and the key sum of the rows due.
      const counted = await client.query<{ n: number; total: number; key_sum: string }>(
        `SELECT count(*) FILTER (WHERE ${where}) AS n, count(*) AS total, ` +
          `COALESCE(sum(${spec.key}) FILTER (WHERE ${where}), 0)::text AS key_sum FROM ${rawTable(table)}`,
      );
      const n = counted.rows[0]?.n ?? 0;
      const total = counted.rows[0]?.total ?? 0;
      const keySum = counted.rows[0]?.key_sum ?? '0';
      if (n === 0) return { table, cutoff, rowsBackedUp: 0, rowsDeleted: 0, status: 'nothing-to-clean' };
      if (!withinDeleteShare(n, total, maxDeleteShare)) {
        throw retentionLimitExceeded(table, n, total, maxDeleteShare ?? 1);
      }

      const backupKey = `${keys.backupPrefix(table, runDate)}part-00000.csv`;
      const out: Readable = client.query(
        copyTo(
          `COPY (SELECT ${columnList(table)} FROM ${rawTable(table)} WHERE ${where} ORDER BY ${spec.key}) ` +
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
      const unledgered = await client.query(deleteLedgerOfExpiredSql(table, where));
      const deleted = await client.query(`DELETE FROM ${rawTable(table)} WHERE ${where}`);
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
      return {
        table,
        cutoff,
        backupKey,
        rowsBackedUp: verified.rows,
        rowsDeleted: verified.rows,
        ledgerRowsDeleted: unledgered.rowCount ?? 0,
        status: 'cleaned',
      };
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** BEGIN … COMMIT around `fn`; any error rolls back and discards the connection (its state is unknown). */
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      client.release(true);
      throw err;
    }
  }

  /** Streams one object into `target` with COPY; returns the rows COPY reported. */
  private async copyObject(
    client: pg.PoolClient,
    target: string,
    entity: EntityName,
    obj: ShardObject,
    source: Readable,
    onRows: (rows: number) => void,
  ): Promise<number> {
    const copy = client.query(copyFrom(`COPY ${target} (${columnList(entity)}) FROM STDIN (FORMAT csv, HEADER true)`));
    try {
      await pipeline(source, new LineCounter(onRows), copy);
    } catch (err) {
      throw toLoadError(err, obj.key);
    }
    return copy.rowCount;
  }

  /** Opens an object only if it still has the etag the batch names, so the ledger never records bytes it did not load. */
  private async open(obj: ShardObject): Promise<Readable> {
    try {
      const res = await this.store.client.send(
        new GetObjectCommand({
          Bucket: this.store.bucket,
          Key: obj.key,
          ...(obj.etag ? { IfMatch: `"${obj.etag}"` } : {}),
        }),
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

/** Passes bytes through and reports newlines seen (about one per row) at most every 500 ms, for heartbeats. */
class LineCounter extends Transform {
  private lines = 0;
  private last = Date.now();

  constructor(private readonly onRows: (rows: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
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
