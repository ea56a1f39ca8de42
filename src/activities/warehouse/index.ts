/**
 * The warehouse: one interface, two adapters. PostgreSQL locally (COPY FROM STDIN streamed from the object
 * store), Amazon Redshift in production (Redshift Data API: COPY from S3, UNLOAD for backups).
 *
 * Activities depend on {@link Warehouse} only, so the same load and cleanup code runs on both, and the
 * exactly-once rules (ledger, one transaction per batch, verified backup before delete) live in the adapters.
 */
import type { Config } from '../../config.js';
import type { EntityName } from '../../domain/entities.js';
import type {
  CleanupTableResult,
  LoadBatchInput,
  LoadResult,
  PublishDayInput,
  PublishedDay,
} from '../../domain/types.js';
import type { ObjectStore } from '../storage.js';
import type { RetentionTable } from './ddl.js';
import type { ReplaceRowsInput } from './model-tables.js';
import { PostgresWarehouse } from './postgres.js';
import { RedshiftWarehouse } from './redshift.js';

export type { Dialect, RetentionTable } from './ddl.js';
export { MODEL_TABLES, modelCsvHeader, modelTable, type ModelTable, type ReplaceRowsInput } from './model-tables.js';
export { RETENTION_TABLES, isRetentionTable } from './ddl.js';
export { retentionLimitExceeded, withinDeleteShare } from './retention-limit.js';

/** One retention run for one table: rows whose date is before `cutoff` go, backed up under `runDate`. */
export interface CleanupPlan {
  table: RetentionTable;
  runDate: string;
  cutoff: string;
  /**
   * The largest share (0–1] of the table's rows this run may delete; more fails with `RetentionLimitExceeded`
   * and deletes nothing. Undefined means no limit (the operator allowed a large cleanup).
   */
  maxDeleteShare?: number;
  /** The activity attempt, for naming a backup that must not overwrite an earlier attempt's (Redshift UNLOAD). */
  attempt?: number;
}

/** Where an adapter wrote a table's backup: the key to report and every object holding backed-up rows. */
export interface BackupObjects {
  backupKey: string;
  dataKeys: string[];
}

/** What re-reading a backup found: its CSV record count and the sum of its key column (as a decimal string). */
export interface VerifiedBackup {
  rows: number;
  keySum: string;
}

/**
 * Re-reads a backup from the object store and reports what it really holds. The adapter deletes only when
 * this matches the rows it is about to delete, so a truncated or empty upload never costs data.
 */
export type BackupVerifier = (backup: BackupObjects) => Promise<VerifiedBackup>;

/**
 * Where a load is, for heartbeats: the step it is in (or waiting in) and the rows streamed so far. On Redshift it
 * also names the submitted statement and its manifest, so a retry can resume the statement instead of resubmitting.
 */
export interface LoadProgress {
  phase: 'connect' | 'lock' | 'ledger' | 'delete' | 'copy' | 'check' | 'commit' | 'statement';
  rows: number;
  statementId?: string;
  manifest?: string;
}

/** How a load reports and is stopped; all optional (plain calls from tests and benchmarks pass none). */
export interface LoadOptions {
  /** Called at every step and while rows stream; the activity heartbeats the latest value on a timer. */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborted when the activity is cancelled: the adapter stops waiting, aborts its query and rethrows. */
  signal?: AbortSignal;
  /** The previous attempt's last heartbeat ({@link LoadProgress}), so a retry can resume what it started. */
  resumeFrom?: unknown;
}

export interface Warehouse {
  readonly kind: 'postgres' | 'redshift';
  /** Creates schema `raw`, one table per entity and both ledgers when missing. Safe to call concurrently and often. */
  ensureRawTables(): Promise<void>;
  /**
   * Replaces batch (entity, batchDate) with exactly `input.objects`, in one transaction. Returns `unchanged` without
   * writing when the ledger shows the same keys and etags already loaded and the table still holds the ledger's row
   * count for the batch; otherwise (rows deleted since) it loads again. Bad data fails non-retryably
   * (`CsvLoadError`, `RowCountMismatch`, `ObjectChanged`); connection errors and lock waits past the session's
   * lock_timeout (`LockTimeout`) retry. See {@link LoadOptions} for progress, cancellation and resuming.
   */
  loadBatch(input: LoadBatchInput, opts?: LoadOptions): Promise<LoadResult>;
  /**
   * Makes `input.batchDate` visible to dbt: verifies that the load ledger holds all seven entities of the date with
   * the rows this run loaded and that each raw table still holds them, then writes the date's row in
   * `raw._published_batches`, all in one transaction. A mismatch fails non-retryably (`DayIncomplete`, naming each
   * entity that is off) and publishes nothing. Every load that changes a batch removes its date's row in its own
   * transaction, so a day is never visible half replaced. Idempotent: publishing again rewrites the same row.
   */
  publishDay(input: PublishDayInput, opts?: Pick<LoadOptions, 'signal'>): Promise<PublishedDay>;
  /** Rows of `raw.<entity>` whose batch_date is `batchDate`. */
  countBatch(entity: EntityName, batchDate: string): Promise<number>;
  /**
   * Runs a read query with `$1`… placeholders and returns all rows. For small results (reports, summaries):
   * everything is held in memory. bigint and numeric come back as numbers, date and timestamp as strings.
   * Parameters are strings, numbers or booleans (Redshift binds them as text and cannot bind null).
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * Backs up `plan.table`'s rows older than `plan.cutoff` to the object store, has `verify` re-read the backup,
   * deletes exactly the verified rows and the load-ledger rows of their batches in one transaction and records
   * the run in `raw._cleanup_ledger`. Refuses (`RetentionLimitExceeded`, nothing backed up or deleted) when the
   * rows due exceed `plan.maxDeleteShare` of the table, counted in the transaction that deletes.
   * A run already in the ledger returns `already-done` with the recorded numbers and touches nothing.
   */
  cleanupExpired(plan: CleanupPlan, verify: BackupVerifier): Promise<CleanupTableResult>;
  /**
   * Writes the rows of `select` (plain SQL both dialects run, values inlined) as CSV objects with a header under
   * `prefix` and returns their keys: PostgreSQL streams COPY … TO STDOUT into one object, Redshift UNLOADs. For
   * results too large for {@link query}, such as the model's features. Idempotent: a rerun replaces the objects.
   */
  exportCsv(select: string, prefix: string): Promise<string[]>;
  /** Creates the model tables (marts.no_show_risk, model_performance, model_registry) when missing. Idempotent. */
  ensureModelTables(): Promise<void>;
  /**
   * Replaces the rows of model table `input.table` whose `input.column` is `input.value` with the rows of CSV object
   * `input.key`, in one transaction (the table is created when missing); returns the rows loaded. Idempotent.
   */
  replaceRows(input: ReplaceRowsInput): Promise<number>;
  /** Releases connections. The instance is unusable afterwards. */
  close(): Promise<void>;
}

/** Builds the adapter `config.warehouse` selects. The object store serves loads (PG) and manifests/backups. */
export function createWarehouse(config: Config, store: ObjectStore): Warehouse {
  const wh = config.warehouse;
  if (wh.kind === 'postgres') {
    return new PostgresWarehouse({
      databaseUrl: wh.databaseUrl,
      store,
      lockTimeoutMs: wh.lockTimeoutMs,
      statementTimeoutMs: wh.statementTimeoutMs,
    });
  }
  return RedshiftWarehouse.fromConfig(wh, store);
}

export { PostgresWarehouse, RedshiftWarehouse };
