/**
 * The fault suite's kit: one scenario = its own PostgreSQL database, Slack/Telegram receiver, task queue and worker
 * processes (real child processes, so they can be SIGKILLed), one or more pipeline runs, a fault injected at a moment
 * observed in Temporal, PostgreSQL or the object store, and the same closing checks for every fault:
 *  - the run completed;
 *  - each entity's rows in the warehouse (plus, after a cleanup, in its verified backup) equal what the generator
 *    produces for the date, recomputed here from the generator itself;
 *  - no primary key twice in any raw table or backup;
 *  - no message accepted twice by the receivers (same channel, chat and text).
 * What it measured is written to the results file (see ./fault-results.ts) before the assertions run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse';
import pg from 'pg';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { keys } from '../../src/activities/storage.js';
import { ENTITIES, ENTITY_NAMES, type EntityName } from '../../src/domain/entities.js';
import { generateShardChunks } from '../../src/domain/generator/stream.js';
import { planShards } from '../../src/domain/shards.js';
import type { PipelineSummary } from '../../src/domain/types.js';
import { startPipeline } from '../../src/run-pipeline.js';
import { workflowIds } from '../../src/temporal.js';
import { freshDatabase, harness, testConfig, uniq, uniqueDate, type TestHarness } from './env.js';
import { faultResultsFile, recordFaultResult, type FaultResult } from './fault-results.js';
import { chatIdOf, startReceiver, type Receiver, type RecordedRequest } from './receiver.js';
import { startWorkerProcess, stopWorker, type WorkerProcess } from './worker-process.js';

const { PendingActivityState } = proto.temporal.api.enums.v1;

/** Appointments per run: small, but split into 8 part files per entity (SHARD_ROWS is at least 1,000) so generation has a middle to kill in. */
export const FAULT_SCALE = 8_000;
export const FAULT_SHARD_ROWS = 1_000;

/** The staff and patient chats the scenarios' workers send to. */
const STAFF_CHAT = '-100200300';
const PATIENT_CHAT = '-100400500';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `intervalMs` until it returns something other than undefined/false; fails naming `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  { timeoutMs = 180_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    assert.ok(Date.now() < deadline, `timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const usedDates = new Set<string>();

/** A past date no other scenario of this process uses (their raw objects share one bucket). */
export function faultDate(): string {
  for (;;) {
    const date = uniqueDate();
    if (!usedDates.has(date)) {
      usedDates.add(date);
      return date;
    }
  }
}

/** Rows the generator produces for each entity of `runDate`: every part file generated here and counted. */
export function generatedCounts(runDate: string, seed: number): Record<EntityName, number> {
  const counts = {} as Record<EntityName, number>;
  for (const entity of ENTITY_NAMES) {
    counts[entity] = 0;
    for (let shard = 0; shard < planShards(entity, FAULT_SCALE, FAULT_SHARD_ROWS); shard++) {
      const counter = { rows: 0 };
      for (const _chunk of generateShardChunks(
        { entity, runDate, scale: FAULT_SCALE, shard, seed, shardRows: FAULT_SHARD_ROWS },
        counter,
      ));
      counts[entity] += counter.rows;
    }
  }
  return counts;
}

/** What a receiver accepted as one message: channel, chat, method and text (a photo by its bytes' hash). */
function messageKey(r: RecordedRequest): string {
  if (r.channel === 'slack') return `slack|${JSON.stringify((r.json as { text?: unknown } | undefined)?.text)}`;
  const input = { ...(r.json as Record<string, unknown> | undefined), ...r.fields };
  const photo = r.files?.photo ? createHash('sha256').update(r.files.photo.bytes).digest('hex') : '';
  return `telegram|${chatIdOf(r)}|${r.telegramMethod}|${String(input.text ?? input.caption ?? '')}|${photo}`;
}

/** Messages accepted (HTTP 200) more than once, counted as the extra copies. */
export function duplicateMessages(receiver: Receiver): number {
  const seen = new Map<string, number>();
  for (const r of receiver.requests) {
    if (r.status === 200) seen.set(messageKey(r), (seen.get(messageKey(r)) ?? 0) + 1);
  }
  return [...seen.values()].reduce((n, c) => n + c - 1, 0);
}

/** The text of a Slack post or a Telegram message or caption. */
export function requestText(r: RecordedRequest): string {
  const input = { ...(r.json as Record<string, unknown> | undefined), ...r.fields };
  return String(input.text ?? input.caption ?? '');
}

/** A pending activity of a run or one of its ingest children, as describe() shows it. */
export interface PendingActivity {
  workflowId: string;
  type: string;
  started: boolean;
  attempt: number;
  lastFailure?: string;
}

/** A run's closing checks: the numbers that go into the results table, and what they were computed from. */
export interface RunCheck {
  rowsLost: number;
  duplicateKeys: number;
  /** `<date> <entity>: <expected> generated, <warehouse> in the warehouse[, <backup> in the backup]` per entity. */
  lines: string[];
}

/**
 * Node's fatal error in the SDK's workflow thread (temporalio/sdk-typescript#939, open; seen here on a long demo
 * and under CI load). Production survives it by starting the worker again: compose's restart policy, the demo's
 * supervisor (src/worker-supervisor.ts).
 */
export const KNOWN_WORKER_CRASH = /async hook stack has become corrupted/;

export class FaultScenario {
  /** The worker processes started so far; the last one is the current worker. */
  readonly workers: WorkerProcess[] = [];
  /** Workers that died of {@link KNOWN_WORKER_CRASH} and were started again (see startWorker). */
  readonly knownCrashes: string[] = [];
  private closing = false;
  /** The runs started, terminated by close() if a failed scenario left them running. */
  private readonly runs: WorkflowHandle[] = [];
  /** Sessions from session(), ended by close() (a failed scenario may leave one holding its locks). */
  private readonly sessions: pg.Client[] = [];

  private constructor(
    readonly name: string,
    readonly h: TestHarness,
    readonly receiver: Receiver,
    private readonly workerEnv: NodeJS.ProcessEnv,
  ) {}

  /**
   * A scenario named `name`: a fresh database `hs_fault_<name>`, an emptied bucket `hs-fault-<name>`, a task queue
   * `faults-<name>-<random>`, and Slack and Telegram pointed at a new receiver; `env` adds or overrides worker
   * settings.
   */
  static async create(name: string, env: Record<string, string> = {}): Promise<FaultScenario> {
    const receiver = await startReceiver();
    try {
      return await FaultScenario.connect(name, receiver, env);
    } catch (err) {
      await receiver.close();
      throw err;
    }
  }

  private static async connect(name: string, receiver: Receiver, env: Record<string, string>): Promise<FaultScenario> {
    const settings: Record<string, string> = {
      TEMPORAL_TASK_QUEUE: `faults-${name}-${uniq()}`,
      DATABASE_URL: await freshDatabase(`hs_fault_${name.replace(/\W/g, '_')}`),
      // A bucket of its own too: a cleanup deletes the raw objects of every day before its cutoff, whoever wrote them.
      S3_BUCKET: `hs-fault-${name}`,
      SLACK_WEBHOOK_URL: receiver.slackUrl,
      TELEGRAM_BOT_TOKEN: '123456:FAULT-token',
      TELEGRAM_STAFF_CHAT_ID: STAFF_CHAT,
      TELEGRAM_PATIENT_CHAT_ID: PATIENT_CHAT,
      TELEGRAM_API_ROOT: receiver.telegramApiRoot,
      RETENTION_DAYS: '365',
      SHARD_ROWS: String(FAULT_SHARD_ROWS),
      WORKER_METRICS_PORT: '0',
      ...env,
    };
    const h = await harness(testConfig(settings), { worker: false });
    await h.store.delete((await h.store.list('')).map((o) => o.key));
    return new FaultScenario(name, h, receiver, { ...process.env, ...settings });
  }

  /** The current worker process. */
  get worker(): WorkerProcess {
    const w = this.workers[this.workers.length - 1];
    assert.ok(w, 'no worker started');
    return w;
  }

  /**
   * Starts a worker process (`bin/healthsynth.js worker`) on the scenario's task queue and waits until it polls.
   * With `restartOnKnownCrash`, a worker that dies of {@link KNOWN_WORKER_CRASH} is started again at once, as
   * production's restart policy would, and listed in `knownCrashes`; any other exit (the scenario's SIGKILL, another
   * crash) is left as it is.
   */
  async startWorker(opts: { restartOnKnownCrash?: boolean } = {}): Promise<WorkerProcess> {
    const w = await startWorkerProcess(this.workerEnv);
    this.workers.push(w);
    if (opts.restartOnKnownCrash) {
      // 'close', not 'exit': the crash's message may still be in the pipe when the process exits.
      w.proc.once('close', (code, signal) => {
        if (this.closing || !KNOWN_WORKER_CRASH.test(w.output())) return;
        this.knownCrashes.push(`worker ${this.workers.indexOf(w) + 1} (exit ${signal ?? code})`);
        this.startWorker(opts).catch((err: Error) => this.knownCrashes.push(`its restart failed: ${err.message}`));
      });
    }
    return w;
  }

  /** SIGKILLs the current worker (no shutdown, nothing reported to Temporal); returns when it was sent. */
  async killWorker(): Promise<number> {
    const at = Date.now();
    await stopWorker(this.worker, 'SIGKILL');
    return at;
  }

  /** Starts `daily-pipeline-<runDate>` at the fault scale. */
  async startRun(runDate: string, opts: { allowLargeCleanup?: boolean } = {}): Promise<WorkflowHandle> {
    const handle = await startPipeline(this.h.client, this.h.config, { runDate, scale: FAULT_SCALE, ...opts });
    this.runs.push(handle);
    return handle;
  }

  /**
   * Waits for the run's result, asking again while Temporal cannot be reached (it may be restarting). Fails at once
   * when the run fails or the current worker process exits (a run with no worker would wait forever).
   */
  async completion(handle: WorkflowHandle): Promise<{ summary: PipelineSummary; closedAt: number }> {
    const worker = this.worker;
    const gone = () => worker.proc.exitCode !== null || worker.proc.signalCode !== null;
    const exited = new Promise<never>((_, reject) => {
      const fail = () =>
        reject(
          new Error(
            `the worker exited (${worker.proc.exitCode ?? worker.proc.signalCode}) before the run completed:\n` +
              worker.output(),
          ),
        );
      if (gone()) fail();
      else worker.proc.once('exit', fail);
    });
    exited.catch(() => undefined);
    for (;;) {
      try {
        const summary = (await Promise.race([handle.result(), exited])) as PipelineSummary;
        const desc = await handle.describe();
        return { summary, closedAt: desc.closeTime?.getTime() ?? Date.now() };
      } catch (err) {
        if (err instanceof WorkflowFailedError || gone()) throw err;
        await sleep(1000);
      }
    }
  }

  /** The pending activities of `daily-pipeline-<runDate>` and its ingest children (children not started yet skipped). */
  async pendingActivities(runDate: string): Promise<PendingActivity[]> {
    const ids = [workflowIds.dailyPipeline(runDate), ...ENTITY_NAMES.map((e) => workflowIds.ingest(e, runDate))];
    const described = await Promise.all(
      ids.map((id) =>
        this.h.client.workflow
          .getHandle(id)
          .describe()
          .then((d) => ({ id, pending: d.raw.pendingActivities ?? [] }))
          .catch(() => ({ id, pending: [] })),
      ),
    );
    return described.flatMap(({ id, pending }) =>
      pending.map((a) => ({
        workflowId: id,
        type: a.activityType?.name ?? '',
        started: a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        attempt: a.attempt ?? 1,
        ...(a.lastFailure?.message ? { lastFailure: a.lastFailure.message } : {}),
      })),
    );
  }

  /** Waits until an activity of `type` of the run is running on a worker; returns it. */
  runningActivity(runDate: string, type: string, timeoutMs?: number): Promise<PendingActivity> {
    return waitFor(
      `a running ${type} of ${runDate}`,
      async () => (await this.pendingActivities(runDate)).find((a) => a.type === type && a.started),
      timeoutMs ? { timeoutMs } : {},
    );
  }

  /** Waits until some part files of `runDate` are written and a generateShard is running; returns the files written. */
  async midGeneration(runDate: string): Promise<number> {
    await waitFor('the first part files written', async () => (await this.partFiles(runDate)) > 0);
    await this.runningActivity(runDate, 'generateShard');
    return this.partFiles(runDate);
  }

  /** Attempts after the first, per activity type, over the run and its children (from their histories). */
  async retries(runDate: string): Promise<Record<string, number>> {
    const ids = [
      workflowIds.dailyPipeline(runDate),
      ...ENTITY_NAMES.map((e) => workflowIds.ingest(e, runDate)),
      workflowIds.report(runDate),
      workflowIds.cleanup(runDate),
    ];
    const out: Record<string, number> = {};
    for (const id of ids) {
      const events = (await this.h.client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const types = new Map<string, string>();
      for (const e of events) {
        const scheduled = e.activityTaskScheduledEventAttributes;
        if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name ?? '');
        const started = e.activityTaskStartedEventAttributes;
        if (started && (started.attempt ?? 1) > 1) {
          const type = types.get(String(started.scheduledEventId)) ?? '?';
          out[type] = (out[type] ?? 0) + (started.attempt ?? 1) - 1;
        }
      }
    }
    return out;
  }

  /** The retries of {@link retries} as text for the results table: "generateShard 3, loadBatch 6", or "none". */
  async retried(runDate: string): Promise<string> {
    const parts = Object.entries(await this.retries(runDate)).map(([type, n]) => `${type} ${n}`);
    return parts.length > 0 ? parts.join(', ') : 'none';
  }

  /** Part files of `runDate` in the object store, over all entities. */
  async partFiles(runDate: string): Promise<number> {
    const lists = await Promise.all(ENTITY_NAMES.map((e) => this.h.store.list(`raw/${e}/dt=${runDate}/`)));
    return lists.reduce((n, l) => n + l.length, 0);
  }

  /** Part files one run of the fault scale writes. */
  static partFilesPerRun(): number {
    return ENTITY_NAMES.reduce((n, e) => n + planShards(e, FAULT_SCALE, FAULT_SHARD_ROWS), 0);
  }

  /** A separate session to the scenario's database (for holding locks); its errors (a stopped server) are ignored. */
  async session(): Promise<pg.Client> {
    const url = this.h.config.warehouse.kind === 'postgres' ? this.h.config.warehouse.databaseUrl : '';
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    await client.connect();
    this.sessions.push(client);
    return client;
  }

  /**
   * Holds each of `runDate`'s six loads just before its commit: uncommitted load-ledger rows of the six batches, in
   * a session of our own, make each load (which records its batch in the ledger last) wait once it has copied its
   * rows. Call before the run starts; {@link loadsHeld} waits until all six wait; `end()` on the returned session
   * (or a stopped server) releases them. Six loads held at once need six activity slots (WORKER_MAX_CONCURRENT_ACTIVITIES).
   */
  async holdLoadsAtCommit(runDate: string): Promise<pg.Client> {
    const blocker = await this.session();
    await blocker.query('BEGIN');
    for (const entity of ENTITY_NAMES) {
      await blocker.query(
        `INSERT INTO raw._load_ledger (entity, batch_date, objects, rows, loaded_at) VALUES ($1, $2, '[]', 0, now())`,
        [entity, runDate],
      );
    }
    return blocker;
  }

  /** Waits until the six loads held by {@link holdLoadsAtCommit} wait on it. */
  async loadsHeld(): Promise<void> {
    await waitFor(
      'six loads waiting to commit',
      async () => (await this.lockWaits('%INSERT INTO raw._load_ledger%')).length === ENTITY_NAMES.length,
    );
  }

  /** Statements of the warehouse's sessions that wait for a lock, matching the SQL LIKE `pattern`. */
  async lockWaits(pattern: string): Promise<string[]> {
    const rows = await this.h.warehouse.query<{ query: string }>(
      `select query from pg_stat_activity
        where datname = current_database() and application_name = 'healthsynth-warehouse'
          and wait_event_type = 'Lock' and query like $1`,
      [pattern],
    );
    return rows.map((r) => r.query);
  }

  /** dbt's "N of M OK" lines so far in the build logs of `runDate` (under the data folder's dbt/ run folders). */
  async dbtNodesDone(runDate: string): Promise<number> {
    const root = path.join(this.h.config.dataDir, 'dbt');
    const dirs = (await readdir(root).catch(() => [] as string[])).filter((d) => d.startsWith(`${runDate}-`));
    let done = 0;
    for (const dir of dirs) {
      const log = await readFile(path.join(root, dir, 'logs', 'dbt.log'), 'utf8').catch(() => '');
      done += [...log.matchAll(/\b\d+ of \d+ (OK|PASS)\b/g)].length;
    }
    return done;
  }

  /**
   * The closing checks of one date: per entity, rows generated (recomputed) against rows in the warehouse, plus
   * rows in the cleanup backup written by `backupRunDate`'s run for the retention tables when given; duplicate keys
   * in the warehouse's batch and in the backup. `summary` (the date's own run) must report the same generation.
   */
  async checkDate(
    runDate: string,
    opts: { summary?: PipelineSummary; backupRunDate?: string } = {},
  ): Promise<RunCheck> {
    const expected = generatedCounts(runDate, this.h.config.seed);
    const check: RunCheck = { rowsLost: 0, duplicateKeys: 0, lines: [] };
    for (const entity of ENTITY_NAMES) {
      const key = ENTITIES[entity].key;
      const [row] = await this.h.warehouse.query<{ n: number; distinct: number }>(
        `select count(*) as n, count(distinct ${key}) as distinct from raw.${entity} where batch_date = $1`,
        [runDate],
      );
      const inWarehouse = Number(row?.n ?? 0);
      const keysSeen = new Set<string>();
      let inBackup = 0;
      let backupDuplicates = 0;
      if (opts.backupRunDate && entity !== 'clinics' && entity !== 'doctors') {
        const backupKey = `${keys.backupPrefix(entity, opts.backupRunDate)}part-00000.csv`;
        const parser = (await this.h.store.get(backupKey)).pipe(parse({ columns: true }));
        for await (const record of parser as AsyncIterable<Record<string, string>>) {
          if (record.batch_date !== runDate) continue;
          inBackup++;
          const id = record[key] ?? '';
          if (keysSeen.has(id)) backupDuplicates++;
          keysSeen.add(id);
        }
      }
      check.rowsLost += Math.max(0, expected[entity] - inWarehouse - inBackup);
      check.duplicateKeys += inWarehouse - Number(row?.distinct ?? 0) + backupDuplicates;
      check.lines.push(
        `${runDate} ${entity}: ${expected[entity]} generated, ${inWarehouse} in the warehouse` +
          (opts.backupRunDate ? `, ${inBackup} in the backup` : ''),
      );
      assert.equal(inWarehouse + inBackup, expected[entity], `${runDate} ${entity}: warehouse + backup = generated`);
      const reported = opts.summary?.ingest.find((r) => r.entity === entity);
      if (opts.summary) assert.equal(reported?.rowsGenerated, expected[entity], `${runDate} ${entity}: run's count`);
    }
    return check;
  }

  /** {@link finish} for a fault during one run: the checks of that run's date and summary. */
  async finishRun(
    row: Pick<FaultResult, 'order' | 'fault' | 'happened'> & { faultAt: number },
    run: { runDate: string; summary: PipelineSummary; closedAt: number },
  ): Promise<FaultResult> {
    const check = await this.checkDate(run.runDate, { summary: run.summary });
    return this.finish(
      { ...row, recoveredAt: run.closedAt },
      [check],
      [{ runDate: run.runDate, summary: run.summary }],
    );
  }

  /**
   * Records the scenario's row (rows lost and duplicates summed over `checks`, duplicate messages from the
   * receiver) and then asserts zero of each and that every run's staff summary reached both channels once.
   */
  finish(
    row: Pick<FaultResult, 'order' | 'fault' | 'happened'> & { faultAt: number; recoveredAt: number },
    checks: RunCheck[],
    runs: { runDate: string; summary: PipelineSummary }[],
  ): FaultResult {
    const result: FaultResult = {
      order: row.order,
      fault: row.fault,
      happened: row.happened,
      rowsLost: checks.reduce((n, c) => n + c.rowsLost, 0),
      duplicateKeys: checks.reduce((n, c) => n + c.duplicateKeys, 0),
      duplicateMessages: duplicateMessages(this.receiver),
      recoverySeconds: Math.round((row.recoveredAt - row.faultAt) / 100) / 10,
    };
    recordFaultResult(faultResultsFile(this.h.config.dataDir), result);
    assert.equal(result.rowsLost, 0, checks.flatMap((c) => c.lines).join('\n'));
    assert.equal(result.duplicateKeys, 0, 'duplicate keys');
    assert.equal(result.duplicateMessages, 0, 'duplicate messages');
    for (const { runDate, summary } of runs) {
      assert.equal(summary.dbt?.testsFailed, 0, `${runDate}: dbt tests`);
      for (const channel of ['slack', 'telegram'] as const) {
        const summaries = this.receiver.requests.filter(
          (r) => r.channel === channel && r.status === 200 && requestText(r).includes(`daily run ${runDate}`),
        );
        const sent = summary.notifications.find((n) => n.channel === channel && n.message === 'pipeline-summary');
        assert.equal(
          summaries.length,
          1,
          `${runDate}: one summary on ${channel}; the run says ${JSON.stringify(sent)}, the receiver saw ` +
            JSON.stringify(this.receiver.requests.filter((r) => r.channel === channel).map((r) => r.status)),
        );
      }
    }
    return result;
  }

  /** Terminates the scenario's runs that are still open (a failed scenario's), stops its workers and receiver. */
  async close(): Promise<void> {
    for (const session of this.sessions) await session.end().catch(() => undefined);
    for (const run of this.runs) {
      const open = await run.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      );
      if (open) await run.terminate('fault scenario ended').catch(() => undefined);
    }
    this.closing = true;
    for (const w of this.workers) await stopWorker(w).catch(() => undefined);
    // What each worker printed, for reading after a failed run: <data folder>/logs/fault-<name>-worker-<n>.log.
    const logs = path.join(this.h.config.dataDir, 'logs');
    await mkdir(logs, { recursive: true });
    for (const [i, w] of this.workers.entries()) {
      await writeFile(path.join(logs, `fault-${this.name}-worker-${i + 1}.log`), w.output());
    }
    await this.h.close().catch(() => undefined);
    await this.receiver.close().catch(() => undefined);
  }
}
