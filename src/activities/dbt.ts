/**
 * The runDbt activity: `dbt build` of the project in dbt/ (staging views, marts tables, data and unit tests),
 * summarised from dbt's run_results.json into a small {@link DbtSummary} for the workflow history.
 *
 * dbt runs in the worker's long-lived dbt process (dbt-daemon.ts: Python imports dbt once and the parsed manifest is
 * reused while the project and settings stay the same), or, when that cannot serve (DBT_DAEMON=false, no Python
 * beside the dbt executable, the daemon busy, dead or not starting), as a `dbt` child process of its own (execa).
 * Either way each run gets its own target and log directory under `<dataDir>/dbt/<runDate>-<run>/`, and the
 * connection settings reach dbt's profile (dbt/profiles.yml) as environment variables derived from the config;
 * secrets go only into dbt's environment (the child's, or the daemon's request over its stdin), never into
 * arguments, results or logs.
 *
 * Builds are serialized per warehouse: every build replaces the shared staging views and marts tables, and two
 * builds at once (a backfill runs pipelines for two dates in parallel) would race on the same relations. On
 * PostgreSQL runDbt holds a session advisory lock for the whole dbt process, so concurrent pipelines' builds run one
 * after the other. On Redshift there are no advisory locks: run dbt from one place at a time there (for example a
 * dedicated worker for the dbt activity with maxConcurrentActivityTaskExecutions 1, or a backfill concurrency of 1).
 * Each date keeps its own ranking in marts.doctor_rating (incremental on as_of_on), so a report never reads another
 * date's ranking even while the next build runs.
 *
 * Beside this file: dbt-command.ts (executable, target, profile environment), dbt-daemon.ts and dbt-daemon.py (the
 * long-lived dbt), dbt-results.ts (run_results.json into a DbtSummary) and warehouse/dbt-build-lock.ts (the
 * PostgreSQL build lock).
 */
import { randomUUID } from 'node:crypto';
import { access, constants, copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { Config } from '../config.js';
import type { DbtSummary } from '../domain/types.js';
import {
  DBT_PROJECT_DIR,
  dbtBuildCommand,
  dbtParseStatePath,
  dbtProjectHash,
  dbtProfileEnv,
  dbtTarget,
  resolveDbtBin,
  type DbtScope,
} from './dbt-command.js';
import { DBT_DAEMONS, DbtDaemonUnavailable, daemonPython } from './dbt-daemon.js';
import { pruneTarget, summarizeRunResults, type RunResults } from './dbt-results.js';
import { startHeartbeat, type HeartbeatTimer } from './heartbeat.js';
import { acquireBuildLock, type BuildLock } from './warehouse/dbt-build-lock.js';

// What callers of runDbt (the tests, the CLI) also need, from the file that defines it.
export { DBT_PROJECT_DIR, dbtProfileEnv, resolveDbtBin } from './dbt-command.js';

/** How often runDbt heartbeats; callers should set heartbeatTimeout to a few multiples of it (e.g. 30 s). */
export const DBT_HEARTBEAT_INTERVAL_MS = 5_000;

export interface RunDbtInput {
  /** The day the marts are "as of" (YYYY-MM-DD), passed to dbt as var run_date. */
  runDate: string;
  /** A dbt node selection (e.g. `+doctor_rating`); default: the whole project (scope `full`) or the day's selector. */
  select?: string;
  /** `day`: the daily pipeline's build, tests scoped to the run date's batch; `full` (default): everything. */
  scope?: DbtScope;
  /** Rebuild the incremental models from raw (`--full-refresh`), as the weekly dbt-full-refresh does. */
  fullRefresh?: boolean;
}

/** The heartbeat detail (`last`) while runDbt waits for another build to release the build lock. */
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

/** Whether `file` exists with the access `mode` (constants.X_OK, R_OK). */
async function canAccess(file: string, mode: number): Promise<boolean> {
  try {
    await access(file, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * Keeps the run's partial-parse state for the next run of the same warehouse (copied under a temporary name, then
 * renamed, so a reader never sees half a file). Best effort: without it the next run parses the project again.
 */
async function saveParseState(from: string, to: string): Promise<void> {
  try {
    await mkdir(path.dirname(to), { recursive: true });
    const temporary = `${to}.${randomUUID().slice(0, 8)}`;
    await copyFile(from, temporary);
    await rename(temporary, to);
  } catch {
    // no state written (dbt failed before parsing): the next run parses in full
  }
}

const tail = (text: string, lines = 30): string => text.split('\n').slice(-lines).join('\n').trim();

/** How one dbt build ended, in a daemon or in a process of its own. */
interface DbtRun {
  /** The dbt CLI's exit code; undefined when the process was killed. */
  exitCode?: number;
  signal?: string;
  /** dbt's console output. */
  output: string;
  /** The executable was not found. */
  notFound?: boolean;
}

/** The environment without unset entries, as a child process gets it. */
function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** One `dbt build` as a process of its own (how every build ran before the daemon; its fallback). */
async function buildInProcess(
  bin: string,
  argv: string[],
  env: Record<string, string>,
  signal: AbortSignal | undefined,
  onOutput: (chunk: string) => void,
): Promise<DbtRun> {
  const subprocess = execa(bin, argv, {
    env,
    extendEnv: false,
    cwd: DBT_PROJECT_DIR,
    reject: false,
    all: true,
    stripFinalNewline: true,
    ...(signal ? { cancelSignal: signal } : {}),
    forceKillAfterDelay: 10_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  subprocess.all?.on('data', (chunk: Buffer) => onOutput(chunk.toString()));
  const result = await subprocess;
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    output: typeof result.all === 'string' ? result.all : '',
    notFound: (result as { code?: string }).code === 'ENOENT',
  };
}

/**
 * One `dbt build` in the worker's daemon for `bin` and `target`; undefined when the daemon cannot serve it (no Python
 * beside `bin`, the daemon busy with another build, did not start or died), and then the caller runs a dbt process.
 * `key` is the partial-parse key: the daemon parses again when it changes. A cancel kills the daemon and throws.
 */
async function buildInDaemon({
  bin,
  target,
  args,
  dirArgs,
  key,
  runResults,
  env,
  signal,
  onOutput,
}: {
  bin: string;
  target: string;
  args: string[];
  dirArgs: string[];
  key: string;
  runResults: string;
  env: Record<string, string>;
  signal: AbortSignal | undefined;
  onOutput: (chunk: string) => void;
}): Promise<DbtRun | undefined> {
  const python = await daemonPython(bin);
  if (!python) return undefined;
  const daemon = DBT_DAEMONS.get(python, target, env);
  if (daemon.busy) return undefined;
  const varsAt = args.indexOf('--vars');
  const parseArgs = ['parse', '--target', target, ...(varsAt >= 0 ? args.slice(varsAt, varsAt + 2) : []), ...dirArgs];
  try {
    // --no-write-json: dbt would write the manifest it did not parse again (about 1 MB of JSON) after every build;
    // the daemon writes the run's run_results.json itself.
    const build = { key, parseArgs, args: [...args, ...dirArgs, '--no-write-json'], env, runResults };
    const run = await daemon.build(build, { signal, onOutput });
    return { exitCode: run.exitCode, output: run.error ? `${run.output}\n${run.error}` : run.output };
  } catch (err) {
    if (err instanceof DbtDaemonUnavailable && !signal?.aborted) return undefined;
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
 * It heartbeats every {@link DBT_HEARTBEAT_INTERVAL_MS} with dbt's progress, and a cancelled activity kills dbt (the
 * daemon too: the next build starts a new one). A daemon that dies mid-build is not a failure: the build runs again
 * in a dbt process in the same attempt (every build is idempotent, and the build lock is still held).
 *
 * On PostgreSQL the build runs under the build lock (warehouse/dbt-build-lock.ts): while another build holds it,
 * runDbt heartbeats {@link DBT_LOCK_WAIT_DETAIL} (phase `waiting`) and starts dbt when the lock is free; the wait
 * counts against the activity's startToCloseTimeout, so give it room for one more build. A cancel while waiting ends the wait and
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
      const { runDate } = input;
      if (!validRunDate(runDate)) {
        throw ApplicationFailure.nonRetryable(`runDate must be a YYYY-MM-DD date, got "${runDate}"`, 'InvalidRunDate');
      }
      const bin = resolveDbtBin(config, env);
      if (bin.includes(path.sep) && !(await canAccess(bin, constants.X_OK))) {
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
      const { args, env: buildEnv, command } = dbtBuildCommand(target, input);
      const parseState = dbtParseStatePath(config, { projectHash: await dbtProjectHash(), args, profileEnv, bin });
      const withState = await canAccess(parseState, constants.R_OK);

      const progress: DbtHeartbeat = { runDate, phase: 'running', done: 0, total: 0, last: '' };
      // The timer starts once the phase is known (waiting for the lock, or running), so no heartbeat says `running`
      // while the lock is still being asked for (on a loaded machine that can take longer than one interval).
      let heartbeats: HeartbeatTimer | undefined;
      const heartbeat = (): void => {
        heartbeats ??= startHeartbeat(() => ({ ...progress }), heartbeatIntervalMs);
        heartbeats.beat();
      };
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
        const onOutput = (chunk: string): void => {
          // "12 of 183 OK created sql view model staging.stg_clinics ...." → progress for the heartbeat.
          for (const m of chunk.matchAll(/(\d+) of (\d+) (OK|PASS|FAIL|ERROR|WARN|SKIP)\b[^\n]*/g)) {
            progress.done = Number(m[1]);
            progress.total = Number(m[2]);
            progress.last = m[0].replace(/\s*\.{2,}.*$/, '').slice(0, 200);
          }
        };
        const dirArgs = [
          '--project-dir',
          DBT_PROJECT_DIR,
          '--profiles-dir',
          DBT_PROJECT_DIR,
          '--target-path',
          targetPath,
          '--log-path',
          logPath,
          '--no-use-colors',
          ...(withState ? ['--partial-parse-file-path', parseState, '--no-partial-parse-file-diff'] : []),
        ];
        const dbtEnv = definedOnly({ ...env, ...profileEnv, ...buildEnv });
        const signal = ctx?.cancellationSignal;
        const result =
          (config.dbt.daemon
            ? await buildInDaemon({
                bin,
                target,
                args,
                dirArgs,
                key: parseState,
                runResults: path.join(targetPath, 'run_results.json'),
                env: dbtEnv,
                signal,
                onOutput,
              })
            : undefined) ?? (await buildInProcess(bin, [...args, ...dirArgs], dbtEnv, signal, onOutput));

        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        if (result.notFound) {
          throw ApplicationFailure.nonRetryable(
            `dbt executable "${bin}" not found: run \`npm run setup\` (or set DBT_BIN)`,
            DBT_FAILURE_TYPES.notInstalled,
          );
        }
        const { output } = result;
        if (result.exitCode === 0 || result.exitCode === 1) {
          const runResults = await readFile(path.join(targetPath, 'run_results.json'), 'utf8')
            .then((text) => JSON.parse(text) as RunResults)
            .catch(() => undefined);
          if (!runResults)
            throw new Error(`dbt exited with ${result.exitCode} but wrote no run_results.json:\n${tail(output)}`);
          if (withState && runResults.results.length === 0) {
            // A saved manifest dbt could not use and a file diff we told it to skip: it found nothing to run.
            // Forget the state and let the retry parse the project.
            await rm(parseState, { force: true });
            throw new Error(`dbt ran nothing with the saved parse state ${parseState}; state removed, retry parses`);
          }
          const summary = summarizeRunResults(runResults, command, result.exitCode === 0);
          await saveParseState(path.join(targetPath, 'partial_parse.msgpack'), parseState);
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
        heartbeats?.stop();
        await lock?.release();
      }
    },
  };
}
