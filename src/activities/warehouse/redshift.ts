/**
 * Amazon Redshift warehouse adapter over the Redshift Data API. Redshift loads from S3 itself (COPY, in
 * parallel across slices) and writes backups to S3 itself (UNLOAD); this adapter only sends SQL, waits
 * and reads small results, so the worker never carries table data.
 *
 * The parts: redshift-data.ts speaks the Data API (submit, poll, page, resume); redshift-load.ts holds the
 * COPY of a batch and the publishing of a day; redshift-cleanup.ts the UNLOAD backup and the guarded delete.
 */
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
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
import { ensureRawTablesSql } from './ddl.js';
import type { BackupVerifier, CleanupPlan, LoadOptions, Warehouse } from './index.js';
import { ensureModelTablesSql, exportCsvRedshift, replaceRowsRedshift, type ReplaceRowsInput } from './model-tables.js';
import { cleanupExpired } from './redshift-cleanup.js';
import {
  RedshiftDataApi,
  RedshiftStatementError,
  type Backoff,
  type RedshiftSession,
  type RedshiftTarget,
} from './redshift-data.js';
import { countBatch, loadBatch, publishDay } from './redshift-load.js';
import { isMissingObject, setupOnce } from './setup-once.js';

export { RedshiftStatementError, type Backoff, type RedshiftTarget };

type RedshiftConfig = Extract<Config['warehouse'], { kind: 'redshift' }>;

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

/**
 * The production warehouse over the Redshift Data API. Statements are submitted and polled; nothing holds a
 * connection, so a worker restart mid-statement loses nothing but the wait (the retry re-checks the ledger).
 */
export class RedshiftWarehouse implements Warehouse {
  readonly kind = 'redshift';
  private readonly session: RedshiftSession;

  constructor(private readonly opts: RedshiftWarehouseOptions) {
    this.session = {
      // A statement that finds a raw table or schema gone (a cluster restored from an older snapshot, a schema
      // dropped by hand) makes the next attempt create them again instead of failing every retry the same way.
      api: new RedshiftDataApi({
        ...opts,
        onFailed: (err) => {
          if (isMissingObject(err)) this.rawTables.forget();
        },
      }),
      store: opts.store,
      iamRole: opts.iamRole,
      region: opts.region,
      ensureRawTables: () => this.ensureRawTables(),
    };
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
    return this.rawTables.ready();
  }

  /** Made once per process, and again after a statement finds them gone (setup-once.ts). */
  private readonly rawTables = setupOnce(async () => {
    await this.session.api.batch(ensureRawTablesSql('redshift'));
  });

  /** redshift-load.ts: guarded COPY from a manifest, resumable from the heartbeat. */
  loadBatch(input: LoadBatchInput, opts: LoadOptions = {}): Promise<LoadResult> {
    return loadBatch(this.session, input, opts);
  }

  /** redshift-load.ts: guards on the ledger and every table, then the published row. */
  publishDay(input: PublishDayInput, opts: Pick<LoadOptions, 'signal'> = {}): Promise<PublishedDay> {
    return publishDay(this.session, input, opts);
  }

  countBatch(entity: EntityName, batchDate: string): Promise<number> {
    return countBatch(this.session, entity, batchDate);
  }

  /** `$n` placeholders become Data API named parameters `:pn` (values are sent as strings; null is not allowed). */
  query<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.session.api.query<T>(sql, params);
  }

  /** redshift-cleanup.ts: UNLOAD, verify, then one guarded delete. */
  cleanupExpired(plan: CleanupPlan, verify: BackupVerifier): Promise<CleanupTableResult> {
    return cleanupExpired(this.session, plan, verify);
  }

  /** model-tables.ts: CREATE … IF NOT EXISTS in one batch. */
  async ensureModelTables(): Promise<void> {
    await this.session.api.batch(ensureModelTablesSql());
  }

  /** model-tables.ts: UNLOAD to the prefix. */
  exportCsv(select: string, prefix: string): Promise<string[]> {
    return exportCsvRedshift(this.session, select, prefix);
  }

  /** model-tables.ts: DELETE + COPY from the object in one batch. */
  replaceRows(input: ReplaceRowsInput): Promise<number> {
    return replaceRowsRedshift(this.session, input);
  }

  async close(): Promise<void> {
    this.opts.client.destroy();
  }
}
