/**
 * The Redshift Data API client the Redshift adapter talks through: submit a statement (or a batch, which runs
 * in one transaction), poll DescribeStatement until it ends, page GetStatementResult. Nothing here knows about
 * tables or loads; redshift-load.ts (COPY, publish) and redshift-cleanup.ts (UNLOAD, delete) hold the SQL.
 *
 * Statements run inside Redshift whatever happens to the worker, so a caller that heartbeats the statement id
 * ({@link StatementWatch.onSubmitted}) can find it again after a crash and {@link RedshiftDataApi.resume} it
 * instead of submitting the work a second time.
 */
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  type DescribeStatementResponse,
  type Field,
  type RedshiftDataClient,
  type SqlParameter,
} from '@aws-sdk/client-redshift-data';
import type { ObjectStore } from '../storage.js';

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

/** Client, target and timing for {@link RedshiftDataApi}; tests inject a mocked client and a sleep of their own. */
export interface RedshiftDataApiOptions {
  client: RedshiftDataClient;
  target: RedshiftTarget;
  /** Injected so tests run without waiting (and can keep a clock of their own). */
  sleep?: (ms: number) => Promise<void>;
  /** DescribeStatement polling: starts fast (most statements take well under a second), grows to the cap. */
  poll?: Backoff;
  /** Retries of ActiveStatementsExceeded/Throttling before giving up with a retryable error. */
  throttle?: Backoff & { attempts: number };
  /** Called with every statement that ended FAILED or ABORTED, before it is thrown. */
  onFailed?: (err: RedshiftStatementError) => void;
}

/**
 * What a caller learns while a statement runs. `onSubmitted` receives the id as soon as Redshift has it (put it
 * in the heartbeat details so a retry can resume); `onPoll` runs after every DescribeStatement; an aborted
 * `signal` stops the waiting (the statement itself keeps running in Redshift) and rethrows the abort reason.
 */
export interface StatementWatch {
  onSubmitted?: (id: string) => void;
  onPoll?: (id: string, status: DescribeStatementResponse) => void;
  signal?: AbortSignal;
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
    /** The session (process id) the statement ran in; SYS views call it session_id. */
    readonly redshiftPid?: number,
    /** When the Data API accepted the statement. */
    readonly createdAt?: Date,
  ) {
    super(
      `Redshift statement ${statementId}${failedIndex !== undefined ? ` (statement ${failedIndex + 1} of the batch)` : ''} ` +
        `${status}: ${redshiftError || '(no error text)'}${failedSql ? `\n  SQL: ${truncate(failedSql, 600)}` : ''}`,
    );
  }
}

/**
 * What the load and cleanup statements run with: the Data API, and the object store with the IAM role and region
 * Redshift itself reaches it with (COPY reads from it, UNLOAD writes to it). `ensureRawTables` creates the raw and
 * ledger tables once per warehouse.
 */
export interface RedshiftSession {
  api: RedshiftDataApi;
  store: ObjectStore;
  iamRole: string;
  region: string;
  ensureRawTables(): Promise<void>;
}

/** Statuses of a statement that is still on its way (DescribeStatement); anything else has ended. */
const RUNNING = new Set(['SUBMITTED', 'PICKED', 'STARTED']);

const RETRYABLE_SUBMIT = new Set([
  'ActiveStatementsExceededException',
  'ThrottlingException',
  'ActiveSessionsExceededException',
]);
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The Data API protocol: submit, poll, page, retry throttling. One instance per adapter. */
export class RedshiftDataApi {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly poll: Backoff;
  private readonly throttle: Backoff & { attempts: number };

  constructor(private readonly opts: RedshiftDataApiOptions) {
    this.sleep = opts.sleep ?? realSleep;
    this.poll = opts.poll ?? { initialMs: 200, maxMs: 5_000, factor: 1.5 };
    this.throttle = opts.throttle ?? { initialMs: 500, maxMs: 15_000, factor: 2, attempts: 8 };
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
  async execute(
    sql: string,
    parameters: SqlParameter[] = [],
    watch: StatementWatch = {},
  ): Promise<DescribeStatementResponse> {
    const res = await this.submit(() =>
      this.opts.client.send(
        new ExecuteStatementCommand({
          ...this.connection(),
          Sql: sql,
          ...(parameters.length > 0 ? { Parameters: parameters } : {}),
        }),
      ),
    );
    watch.onSubmitted?.(res.Id ?? '');
    return this.wait(res.Id ?? '', watch);
  }

  /** Several statements in one transaction: submit (retrying throttling), wait for FINISHED. */
  async batch(sqls: string[], watch: StatementWatch = {}): Promise<DescribeStatementResponse> {
    const res = await this.submit(() =>
      this.opts.client.send(new BatchExecuteStatementCommand({ ...this.connection(), Sqls: sqls })),
    );
    watch.onSubmitted?.(res.Id ?? '');
    return this.wait(res.Id ?? '', watch);
  }

  /**
   * Picks up a statement an earlier attempt submitted: FINISHED returns it, SUBMITTED/PICKED/STARTED waits for it
   * as {@link wait} does, and anything else (FAILED, ABORTED, an id Redshift no longer knows) returns undefined, so
   * the caller submits the work again (a failed or aborted transaction changed nothing).
   */
  async resume(id: string, watch: StatementWatch = {}): Promise<DescribeStatementResponse | undefined> {
    let d: DescribeStatementResponse;
    try {
      d = await this.submit(() => this.opts.client.send(new DescribeStatementCommand({ Id: id })));
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
    if (d.Status === 'FINISHED') return { ...d, Id: id };
    if (!RUNNING.has(d.Status ?? '')) return undefined;
    watch.onSubmitted?.(id);
    return this.wait(id, watch);
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

  /** Polls DescribeStatement until the statement ends; FAILED and ABORTED become {@link RedshiftStatementError}. */
  async wait(id: string, watch: StatementWatch = {}): Promise<DescribeStatementResponse> {
    let delay = this.poll.initialMs;
    for (;;) {
      watch.signal?.throwIfAborted();
      const d = await this.submit(() => this.opts.client.send(new DescribeStatementCommand({ Id: id })));
      watch.onPoll?.(id, d);
      if (d.Status === 'FINISHED') return { ...d, Id: id };
      if (d.Status === 'FAILED' || d.Status === 'ABORTED') {
        const subs = d.SubStatements ?? [];
        const idx = subs.findIndex((s) => s.Status === 'FAILED' || s.Status === 'ABORTED');
        const failed = idx >= 0 ? subs[idx] : undefined;
        const err = new RedshiftStatementError(
          d.Status,
          id,
          failed?.Error ?? d.Error ?? '',
          failed?.QueryString ?? d.QueryString,
          idx >= 0 ? idx : undefined,
          failed?.RedshiftQueryId ?? d.RedshiftQueryId,
          d.RedshiftPid,
          d.CreatedAt,
        );
        this.opts.onFailed?.(err);
        throw err;
      }
      await this.sleep(delay);
      delay = Math.min(this.poll.maxMs, delay * this.poll.factor);
    }
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
