/**
 * The runDbt activity: `dbt build` of the project in dbt/ (staging views, marts tables, data and unit tests),
 * summarised from dbt's run_results.json into a small {@link DbtSummary} for the workflow history.
 *
 * dbt runs as a child process (execa). Each run gets its own target and log directory under
 * `<dataDir>/dbt/<runDate>-<run>/`, and the connection settings reach dbt's profile (dbt/profiles.yml) as environment
 * variables derived from the config; secrets go only into the child's environment, never into arguments, results or
 * logs.
 *
 * Builds are serialized per warehouse: every build replaces the shared staging views and marts tables, and two
 * builds at once (a backfill runs pipelines for two dates in parallel) would race on the same relations. On
 * PostgreSQL runDbt holds a session advisory lock for the whole dbt process, so concurrent pipelines' builds run one
 * after the other. On Redshift there are no advisory locks: run dbt from one place at a time there (for example a
 * dedicated worker for the dbt activity with maxConcurrentActivityTaskExecutions 1, or a backfill concurrency of 1).
 * Each date keeps its own ranking in marts.doctor_rating (incremental on as_of_on), so a report never reads another
 * date's ranking even while the next build runs.
 */
import { randomUUID } from 'node:crypto';
import { access, constants, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import pg from 'pg';
import type { Config } from '../config.js';
import type { DbtNodeTiming, DbtSummary } from '../domain/types.js';
import { dbtVenvBin } from '../stack/toolchain.js';
import { startHeartbeat } from './heartbeat.js';

/** The dbt project directory (holds dbt_project.yml and profiles.yml), independent of the worker's cwd. */
export const DBT_PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dbt');

/** How often runDbt heartbeats; callers should set heartbeatTimeout to a few multiples of it (e.g. 30 s). */
export const DBT_HEARTBEAT_INTERVAL_MS = 5_000;

export interface RunDbtInput {
  /** The day the marts are "as of" (YYYY-MM-DD), passed to dbt as var run_date. */
  runDate: string;
  /** A dbt node selection (e.g. `+doctor_rating`); default: the whole project. */
  select?: string;
}

/**
 * The PostgreSQL advisory lock (two-int form, in the `0x4853_xxxx` family the warehouse adapter uses for its own
 * locks) that runDbt holds for the whole dbt process. Advisory locks are per database, so this serializes the
 * builds of one warehouse and leaves other databases (tests, other environments on the same server) independent.
 */
export const DBT_BUILD_LOCK = [0x4853_0003, 0] as const;

/** The heartbeat detail (`last`) while runDbt waits for another build to release {@link DBT_BUILD_LOCK}. */
export const DBT_LOCK_WAIT_DETAIL = 'waiting for another dbt build';

/** What runDbt heartbeats: dbt's progress, or the lock wait while another build runs. */
export interface DbtHeartbeat {
  runDate: string;
  phase: 'waiting' | 'running';
  done: number;
  total: number;
  last: string;
}

/** Failure types runDbt raises, for workflows' retry policies and alerts. */
export const DBT_FAILURE_TYPES = {
  testFailure: 'DbtTestFailure',
  runError: 'DbtRunError',
  notInstalled: 'DbtNotInstalled',
  config: 'DbtConfigError',
} as const;

/**
 * The dbt executable: `config.dbt.bin` (DBT_BIN), else the DBT_BIN environment variable, else the virtualenv that
 * `npm run setup` builds for the pinned requirements ({@link dbtVenvBin}: the toolchain's own lookup, so no
 * environment variable is needed). A bare name (`dbt`) is looked up on PATH. Only looks: runDbt reports a missing
 * dbt as DbtNotInstalled and never installs one.
 */
export function resolveDbtBin(config: Pick<Config, 'dbt'>, env: NodeJS.ProcessEnv = process.env): string {
  return config.dbt.bin ?? (env.DBT_BIN?.trim() || undefined) ?? dbtVenvBin(env);
}

/** The dbt target in profiles.yml for the configured warehouse. */
export function dbtTarget(config: Pick<Config, 'warehouse'>): 'local' | 'redshift' {
  return config.warehouse.kind === 'redshift' ? 'redshift' : 'local';
}

/**
 * Environment variables read by dbt/profiles.yml, derived from the config: DATABASE_URL becomes DBT_PG_*,
 * the Redshift settings become DBT_REDSHIFT_*. Settings the app config has no field for (the Redshift host,
 * a password for method `database`) pass through from the worker's environment unchanged.
 */
export function dbtProfileEnv(
  config: Pick<Config, 'warehouse' | 'dbt'>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {
    DBT_TARGET: dbtTarget(config),
    DBT_THREADS: String(config.dbt.threads),
    DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    DBT_VERSION_CHECK: 'false',
  };
  const wh = config.warehouse;
  if (wh.kind === 'postgres') {
    const url = new URL(wh.databaseUrl);
    out.DBT_PG_HOST = url.hostname.replace(/^\[|\]$/g, '');
    out.DBT_PG_PORT = url.port || '5432';
    out.DBT_PG_USER = decodeURIComponent(url.username);
    out.DBT_PG_PASSWORD = decodeURIComponent(url.password);
    out.DBT_PG_DATABASE = decodeURIComponent(url.pathname.replace(/^\//, '')) || out.DBT_PG_USER;
    const sslmode = url.searchParams.get('sslmode');
    if (sslmode) out.DBT_PG_SSLMODE = sslmode;
  } else {
    out.DBT_REDSHIFT_DATABASE = wh.database;
    out.DBT_REDSHIFT_REGION = wh.region;
    out.DBT_REDSHIFT_METHOD = env.DBT_REDSHIFT_METHOD ?? 'iam';
    if (wh.clusterId) out.DBT_REDSHIFT_CLUSTER_ID = wh.clusterId;
    if (wh.workgroup) out.DBT_REDSHIFT_WORKGROUP = wh.workgroup;
    if (wh.dbUser) out.DBT_REDSHIFT_USER = wh.dbUser;
  }
  // Pass-through (and explicit overrides) of every DBT_REDSHIFT_* / DBT_PG_* the operator set.
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && /^DBT_(REDSHIFT|PG)_/.test(name) && !(name in out)) out[name] = value;
  }
  return out;
}

/** The subset of dbt's run_results.json that runDbt reads. */
interface RunResults {
  elapsed_time?: number;
  results: { unique_id: string; status: string; execution_time?: number; failures?: number | null }[];
}

/** A readable name for a test node: `test.pkg.<name>.<hash>` → name, `unit_test.pkg.<model>.<name>` → model:name. */
export function dbtNodeName(uniqueId: string): string {
  const parts = uniqueId.split('.');
  if (parts[0] === 'unit_test') return `${parts[2] ?? ''}:${parts.slice(3).join('.')}`;
  if (parts[0] === 'test') return parts[2] ?? uniqueId;
  return parts.slice(2).join('.') || uniqueId;
}

/**
 * Turns run_results.json into a {@link DbtSummary}. Failed or errored data tests and failed unit tests count
 * as `testsFailed` and are named in `failingTests` (at most 25 names, so the summary stays small).
 */
export function summarizeRunResults(runResults: RunResults, command: string, success: boolean): DbtSummary {
  let modelsBuilt = 0;
  let testsPassed = 0;
  let testsFailed = 0;
  let testsWarned = 0;
  let unitTestsPassed = 0;
  const failing: string[] = [];
  for (const r of runResults.results) {
    const kind = r.unique_id.split('.')[0];
    if (kind === 'model' && r.status === 'success') modelsBuilt += 1;
    else if (kind === 'test') {
      if (r.status === 'pass') testsPassed += 1;
      else if (r.status === 'warn') testsWarned += 1;
      else if (r.status === 'fail' || r.status === 'error') {
        testsFailed += 1;
        failing.push(dbtNodeName(r.unique_id));
      }
    } else if (kind === 'unit_test') {
      if (r.status === 'pass') unitTestsPassed += 1;
      else if (r.status === 'fail' || r.status === 'error') {
        testsFailed += 1;
        failing.push(dbtNodeName(r.unique_id));
      }
    }
  }
  const slowest: DbtNodeTiming[] = [...runResults.results]
    .sort((a, b) => (b.execution_time ?? 0) - (a.execution_time ?? 0))
    .slice(0, 5)
    .map((r) => ({
      uniqueId: r.unique_id,
      status: r.status,
      seconds: Math.round((r.execution_time ?? 0) * 1000) / 1000,
    }));
  return {
    command,
    success,
    elapsedSeconds: Math.round((runResults.elapsed_time ?? 0) * 1000) / 1000,
    modelsBuilt,
    testsPassed,
    testsFailed,
    testsWarned,
    unitTestsPassed,
    failingTests: failing.sort().slice(0, 25),
    slowest,
  };
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (CLI, tests): no heartbeats, no cancellation
  }
}

/** One directory per workflow run, activity and attempt (a retry never reads its predecessor's results). */
function runLabel(ctx: Context | undefined): string {
  if (!ctx) return randomUUID().slice(0, 8);
  const run = (ctx.info.workflowExecution?.runId ?? randomUUID()).slice(0, 8);
  return `${run}-${ctx.info.activityId}-${ctx.info.attempt}`.replace(/[^\w-]/g, '_');
}

function validRunDate(runDate: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(runDate)) return false;
  const d = new Date(`${runDate}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === runDate;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const tail = (text: string, lines = 30): string => text.split('\n').slice(-lines).join('\n').trim();

/** A held {@link DBT_BUILD_LOCK}; `release` unlocks and closes its connection (never throws). */
interface BuildLock {
  /** Milliseconds spent waiting for the lock (0 when it was free). */
  waitedMs: number;
  release(): Promise<void>;
}

/**
 * Takes {@link DBT_BUILD_LOCK} on a dedicated connection to `databaseUrl` and keeps that session open until
 * `release`: the lock belongs to the session, so a crashed worker (its connection gone) releases it too.
 * Tries without waiting first; when another build holds it, calls `onWait` and blocks in `pg_advisory_lock`.
 * An abort of `signal` while waiting cancels the waiting statement (pg_cancel_backend from a second connection) and
 * closes the session, so a cancelled activity never takes the lock later, then rethrows the abort reason.
 */
async function acquireBuildLock(
  databaseUrl: string,
  { signal, onWait }: { signal?: AbortSignal; onWait: () => void },
): Promise<BuildLock> {
  const connection = {
    connectionString: databaseUrl,
    application_name: 'healthsynth-dbt-lock',
    keepAlive: true,
    connectionTimeoutMillis: 15_000,
  };
  const client = new pg.Client(connection);
  // A connection lost while dbt runs must not crash the worker; the build finishes without the lock.
  client.on('error', () => {});
  const close = async (): Promise<void> => {
    await client.end().catch(() => {});
  };
  const started = Date.now();
  try {
    signal?.throwIfAborted();
    await client.connect();
    const [k1, k2] = DBT_BUILD_LOCK;
    const tried = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [k1, k2]);
    if (!tried.rows[0]?.ok) {
      onWait();
      // Wait as long as it takes (the activity's timeouts bound it), whatever the role's defaults say.
      await client.query('set statement_timeout = 0; set lock_timeout = 0');
      // PostgreSQL 14+: notice a vanished client while blocked in the lock wait, not only once the lock is granted.
      await client.query(`set client_connection_check_interval = '5s'`).catch(() => {});
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      const cancelWait = (): void => {
        const canceller = new pg.Client(connection);
        canceller.on('error', () => {});
        void canceller
          .connect()
          .then(() => canceller.query('select pg_cancel_backend($1)', [pid]))
          .catch(() => {})
          .finally(() => {
            void canceller.end().catch(() => {});
            void close();
          });
      };
      signal?.addEventListener('abort', cancelWait, { once: true });
      try {
        await client.query('select pg_advisory_lock($1, $2)', [k1, k2]);
      } finally {
        signal?.removeEventListener('abort', cancelWait);
      }
      if (signal?.aborted) {
        // Granted just as the cancel arrived: give it back at once.
        await close();
        signal.throwIfAborted();
      }
    }
    const waitedMs = Date.now() - started;
    return {
      waitedMs,
      async release() {
        await client.query('select pg_advisory_unlock($1, $2)', [k1, k2]).catch(() => {});
        await close();
      },
    };
  } catch (err) {
    await close();
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/**
 * Builds the dbt activities with their dependencies (the parsed config).
 *
 * `runDbt` is idempotent: dbt rebuilds every selected view and table from the raw tables and replaces the run
 * date's rows of the incremental marts (marts.doctor_rating), so a retry (or a rerun of the same date) produces the
 * same marts and leaves other dates' rankings alone. Outcomes:
 * - exit 0: the summary;
 * - exit 1 with failing tests: `ApplicationFailure.nonRetryable(…, 'DbtTestFailure', summary)` (bad data does
 *   not get better by retrying); exit 1 without failing tests (a model errored, e.g. a lost connection):
 *   a retryable `DbtRunError`;
 * - exit 2 (dbt crashed, cannot connect, bad profile): a plain Error, retried;
 * - dbt not installed: non-retryable `DbtNotInstalled`.
 * It heartbeats every {@link DBT_HEARTBEAT_INTERVAL_MS} with dbt's progress, and a cancelled activity kills dbt.
 *
 * On PostgreSQL the build runs under {@link DBT_BUILD_LOCK}: while another build holds it, runDbt heartbeats
 * {@link DBT_LOCK_WAIT_DETAIL} (phase `waiting`) and starts dbt when the lock is free; the wait counts against the
 * activity's startToCloseTimeout, so give it room for one more build. A cancel while waiting ends the wait and
 * throws the cancellation; the lock is released in `finally` whatever dbt did. On Redshift there is no lock (see
 * the file comment): serialize dbt there by running the activity one at a time.
 */
export function createDbtActivities({
  config,
  env = process.env,
  heartbeatIntervalMs = DBT_HEARTBEAT_INTERVAL_MS,
}: {
  config: Config;
  /** The environment dbt inherits (default process.env); DBT_BIN and DBT_REDSHIFT_* overrides are read from it. */
  env?: NodeJS.ProcessEnv;
  heartbeatIntervalMs?: number;
}) {
  return {
    /** Runs `dbt build` as of `runDate`; see {@link createDbtActivities} for the outcomes. */
    async runDbt(input: RunDbtInput): Promise<DbtSummary> {
      const { runDate, select } = input;
      if (!validRunDate(runDate)) {
        throw ApplicationFailure.nonRetryable(`runDate must be a YYYY-MM-DD date, got "${runDate}"`, 'InvalidRunDate');
      }
      const bin = resolveDbtBin(config, env);
      if (bin.includes(path.sep) && !(await isExecutable(bin))) {
        throw ApplicationFailure.nonRetryable(
          `dbt is not installed at ${bin}: run \`npm run setup\` (or set DBT_BIN to a dbt with the postgres and redshift adapters)`,
          DBT_FAILURE_TYPES.notInstalled,
        );
      }
      const target = dbtTarget(config);
      const profileEnv = dbtProfileEnv(config, env);
      if (target === 'redshift' && !profileEnv.DBT_REDSHIFT_HOST) {
        throw ApplicationFailure.nonRetryable(
          'DBT_REDSHIFT_HOST must name the Redshift cluster or workgroup endpoint for dbt (see dbt/profiles.yml)',
          DBT_FAILURE_TYPES.config,
        );
      }

      const ctx = currentContext();
      const runDir = path.join(config.dataDir, 'dbt', `${runDate}-${runLabel(ctx)}`);
      const targetPath = path.join(runDir, 'target');
      const logPath = path.join(runDir, 'logs');
      const selectArgs = select?.trim() ? ['--select', ...select.trim().split(/\s+/)] : [];
      const vars = JSON.stringify({ run_date: runDate });
      const args = ['build', '--target', target, '--vars', vars, ...selectArgs];
      const command = `dbt ${args.join(' ')}`;

      const progress: DbtHeartbeat = { runDate, phase: 'running', done: 0, total: 0, last: '' };
      const heartbeats = startHeartbeat(() => ({ ...progress }), heartbeatIntervalMs);
      const heartbeat = heartbeats.beat;
      let lock: BuildLock | undefined;
      try {
        if (config.warehouse.kind === 'postgres') {
          const waitingSince = Date.now();
          lock = await acquireBuildLock(config.warehouse.databaseUrl, {
            ...(ctx ? { signal: ctx.cancellationSignal } : {}),
            onWait: () => {
              progress.phase = 'waiting';
              progress.last = `${DBT_LOCK_WAIT_DETAIL} (since ${new Date(waitingSince).toISOString()})`;
              heartbeat();
            },
          });
          progress.phase = 'running';
          progress.last = '';
        }
        heartbeat();
        const startedAt = Date.now();
        const subprocess = execa(
          bin,
          [
            ...args,
            '--project-dir',
            DBT_PROJECT_DIR,
            '--profiles-dir',
            DBT_PROJECT_DIR,
            '--target-path',
            targetPath,
            '--log-path',
            logPath,
            '--no-use-colors',
          ],
          {
            env: { ...env, ...profileEnv },
            extendEnv: false,
            cwd: DBT_PROJECT_DIR,
            reject: false,
            all: true,
            stripFinalNewline: true,
            ...(ctx ? { cancelSignal: ctx.cancellationSignal } : {}),
            forceKillAfterDelay: 10_000,
            maxBuffer: 64 * 1024 * 1024,
          },
        );
        subprocess.all?.on('data', (chunk: Buffer) => {
          // "12 of 183 OK created sql view model staging.stg_clinics ...." → progress for the heartbeat.
          for (const m of chunk.toString().matchAll(/(\d+) of (\d+) (OK|PASS|FAIL|ERROR|WARN|SKIP)\b[^\n]*/g)) {
            progress.done = Number(m[1]);
            progress.total = Number(m[2]);
            progress.last = m[0].replace(/\s*\.{2,}.*$/, '').slice(0, 200);
          }
        });
        const result = await subprocess;

        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        if ((result as { code?: string }).code === 'ENOENT') {
          throw ApplicationFailure.nonRetryable(
            `dbt executable "${bin}" not found: run \`npm run setup\` (or set DBT_BIN)`,
            DBT_FAILURE_TYPES.notInstalled,
          );
        }
        const output = typeof result.all === 'string' ? result.all : '';
        if (result.exitCode === 0 || result.exitCode === 1) {
          const runResults = await readFile(path.join(targetPath, 'run_results.json'), 'utf8')
            .then((text) => JSON.parse(text) as RunResults)
            .catch(() => undefined);
          if (!runResults)
            throw new Error(`dbt exited with ${result.exitCode} but wrote no run_results.json:\n${tail(output)}`);
          const summary = summarizeRunResults(runResults, command, result.exitCode === 0);
          if (result.exitCode === 0) {
            await pruneTarget(targetPath);
            return summary;
          }
          if (summary.testsFailed > 0) {
            throw ApplicationFailure.nonRetryable(
              `dbt tests failed: ${summary.failingTests.join(', ')}`,
              DBT_FAILURE_TYPES.testFailure,
              summary,
            );
          }
          const errored = runResults.results.filter((r) => r.status === 'error').map((r) => r.unique_id);
          throw ApplicationFailure.retryable(
            `dbt build failed (${errored.join(', ') || 'see logs'}); logs in ${logPath}\n${tail(output, 15)}`,
            DBT_FAILURE_TYPES.runError,
            summary,
          );
        }
        const how =
          result.exitCode === undefined
            ? `was killed (${result.signal ?? 'unknown signal'})`
            : `exited with ${result.exitCode}`;
        throw new Error(
          `dbt ${how} after ${Math.round((Date.now() - startedAt) / 1000)} s; logs in ${logPath}\n${tail(output)}`,
        );
      } finally {
        heartbeats.stop();
        await lock?.release();
      }
    },
  };
}

/** After a successful run, keep run_results.json, manifest.json and the logs; drop the bulky compiled SQL. */
async function pruneTarget(targetPath: string): Promise<void> {
  for (const name of ['compiled', 'run', 'graph.gpickle', 'graph_summary.json', 'partial_parse.msgpack']) {
    await rm(path.join(targetPath, name), { recursive: true, force: true });
  }
}
