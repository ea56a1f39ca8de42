/**
 * `healthsynth backfill --from D --to D`: runs the daily pipeline for every weekday in a past range,
 * a few dates at a time, and reports each date's outcome with its Web UI link.
 *
 * Each date is the workflow `daily-pipeline-<date>`, so a backfill is idempotent by id: a date whose
 * run already completed is skipped (unless --force), a date that is running is attached to and
 * waited for, and a failed date is started again.
 */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { parseScale, type Config } from '../config.js';
import type { ScaleInput } from '../domain/types.js';
import type { dailyPipeline } from '../workflows/daily-pipeline.js';
import { describeOrUndefined, WORKFLOW_TYPES, workflowIds } from '../temporal.js';
import { webUiLink } from '../workflow-ids.js';
import {
  EXIT,
  jsonOption,
  printJson,
  resolveDeps,
  runAction,
  UsageError,
  withClient,
  type CliDeps,
} from './command.js';
import { formatDuration, failureText } from './format.js';
import { parseRunDate, todayIn } from './dates.js';
import { NoWorkerError, withWorkerWatchdog, type WorkerMode } from '../worker-watchdog.js';
import { workerOption } from './worker-option.js';

const DAY_MS = 86_400_000;

/** A backfill range that cannot run; the message says what is wrong and what is allowed. */
export class BackfillRangeError extends UsageError {
  override name = 'BackfillRangeError';
}

/** Monday-to-Friday dates from `from` to `to`, both included, in order (the pipeline runs on weekdays only). */
export function weekdaysInRange(from: string, to: string): string[] {
  const dates: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_MS) {
    const d = new Date(t);
    const dow = d.getUTCDay();
    if (dow !== 0 && dow !== 6) dates.push(d.toISOString().slice(0, 10));
  }
  return dates;
}

export interface BackfillRange {
  from: string;
  to: string;
  /** Today in the configured timezone (see {@link todayIn}); dates after it are refused. */
  today: string;
  /** HEALTHSYNTH_TIMEZONE, named in the message when a date is refused. */
  timezone: string;
  /** config.backfillMaxDays: the longest range, in calendar days, one backfill may cover. */
  maxDays: number;
}

/**
 * Validates a backfill range and returns its weekdays. Refuses, with a usage error naming the option: a
 * malformed or impossible date, a date outside the run dates (before 2000-01-01, the generator's first day,
 * or after today: there is no data to make for the future, and its retention cutoff would expire
 * everything), from after to, and a range longer than `maxDays` calendar days. Today itself is allowed, so a
 * missed run can be made up the same day.
 */
export function backfillDates(range: BackfillRange): string[] {
  const from = parseRunDate('--from', range.from, range.today, range.timezone);
  const to = parseRunDate('--to', range.to, range.today, range.timezone);
  if (from > to) throw new BackfillRangeError(`--from ${from} is after --to ${to}`);
  const days = Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
  if (days > range.maxDays) {
    throw new BackfillRangeError(
      `the range ${from}..${to} covers ${days} days; at most ${range.maxDays} are allowed at once ` +
        '(BACKFILL_MAX_DAYS). Split it into smaller ranges.',
    );
  }
  return weekdaysInRange(from, to);
}

/** Parses --concurrency: a whole number from 1 to 32. */
export function parseConcurrency(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 32) {
    throw new BackfillRangeError(`--concurrency must be a whole number from 1 to 32, got "${value}"`);
  }
  return Number(value);
}

export type BackfillStatus = 'completed' | 'skipped' | 'failed';

export interface BackfillOutcome {
  runDate: string;
  workflowId: string;
  runId?: string;
  status: BackfillStatus;
  /** What happened: "already completed", "attached to the running run", the failure message… */
  detail: string;
  webUiUrl: string;
  durationMs: number;
}

export interface BackfillOptions {
  dates: readonly string[];
  /** How many dates run at once (default 2): each pipeline fans out to many activities already. */
  concurrency?: number;
  /** Run dates again even when their last run completed (a new run with the same workflow id). */
  force?: boolean;
  scale?: ScaleInput;
  /** Let each date's retention cleanup delete more than RETENTION_MAX_DELETE_SHARE of a table. */
  allowLargeCleanup?: boolean;
  /** Called as each date finishes, in completion order (the CLI prints a line). */
  onOutcome?: (outcome: BackfillOutcome) => void;
  /** Called with each run before waiting for it (the CLI's worker watchdog); a throw ends the backfill. */
  onRun?: (handle: WorkflowHandle) => Promise<void>;
}

/**
 * Runs (or skips, or attaches to) the pipeline for one date and waits for it to close.
 * Start semantics: without --force the reuse policy is ALLOW_DUPLICATE_FAILED_ONLY, so a run that
 * completed between our describe and our start is not repeated (the start is rejected and reported as
 * skipped); with --force it is ALLOW_DUPLICATE. The conflict policy USE_EXISTING makes a start that
 * races with a running run (for example the schedule's) attach to it instead of failing or killing it.
 */
export async function backfillDate(
  client: Client,
  config: Config,
  runDate: string,
  opts: Pick<BackfillOptions, 'force' | 'scale' | 'allowLargeCleanup' | 'onRun'> = {},
): Promise<BackfillOutcome> {
  const workflowId = workflowIds.dailyPipeline(runDate);
  const started = Date.now();
  const outcome = (status: BackfillStatus, detail: string, runId?: string): BackfillOutcome => ({
    runDate,
    workflowId,
    runId,
    status,
    detail,
    webUiUrl: webUiLink(config.temporal, workflowId, runId),
    durationMs: Date.now() - started,
  });
  try {
    const existing = await describeOrUndefined(client.workflow.getHandle(workflowId));
    if (existing?.status.name === 'COMPLETED' && !opts.force) {
      return outcome('skipped', `already completed at ${existing.closeTime?.toISOString() ?? '?'}`, existing.runId);
    }
    let handle: WorkflowHandle;
    let runId: string | undefined;
    let how: string;
    if (existing?.status.name === 'RUNNING') {
      handle = client.workflow.getHandle(workflowId, existing.runId);
      runId = existing.runId;
      how = 'attached to the running run';
    } else {
      try {
        const startedRun = await client.workflow.start<typeof dailyPipeline>(WORKFLOW_TYPES.dailyPipeline, {
          taskQueue: config.temporal.taskQueue,
          workflowId,
          args: [
            {
              runDate,
              scale: opts.scale ?? config.defaultScale,
              ...(opts.allowLargeCleanup ? { allowLargeCleanup: true } : {}),
            },
          ],
          workflowIdReusePolicy: opts.force ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
        handle = startedRun;
        runId = startedRun.firstExecutionRunId;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          return outcome('skipped', 'completed by another run while the backfill was starting');
        }
        throw err;
      }
      how = existing ? `started again (previous run ${existing.status.name.toLowerCase()})` : 'started';
    }
    await opts.onRun?.(handle);
    try {
      await handle.result();
    } catch (err) {
      return outcome('failed', `${how}; failed: ${failureText(err)}`, runId);
    }
    return outcome('completed', how, runId);
  } catch (err) {
    if (err instanceof NoWorkerError) throw err; // no date can run: the whole backfill stops, saying why
    return outcome('failed', `could not run: ${failureText(err)}`);
  }
}

/**
 * Runs {@link backfillDate} for every date with at most `concurrency` in flight, and returns the
 * outcomes in date order. Never throws for a failed date: each failure is an outcome.
 */
export async function runBackfill(client: Client, config: Config, opts: BackfillOptions): Promise<BackfillOutcome[]> {
  const dates = [...opts.dates];
  const results: BackfillOutcome[] = new Array(dates.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < dates.length) {
      const i = next++;
      const result = await backfillDate(client, config, dates[i] as string, opts);
      results[i] = result;
      opts.onOutcome?.(result);
    }
  };
  const lanes = Math.max(1, Math.min(opts.concurrency ?? 2, dates.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return results;
}

/** Counts outcomes by status. */
export function countOutcomes(outcomes: readonly BackfillOutcome[]): Record<BackfillStatus, number> {
  const counts: Record<BackfillStatus, number> = { completed: 0, skipped: 0, failed: 0 };
  for (const o of outcomes) counts[o.status]++;
  return counts;
}

/** What commander parses for `backfill`. */
interface BackfillCliOptions {
  from: string;
  to: string;
  concurrency: string;
  force?: boolean;
  allowLargeCleanup?: boolean;
  scale?: string;
  json?: boolean;
  worker: WorkerMode;
}

/** Registers `backfill --from --to [--concurrency] [--force] [--allow-large-cleanup] [--scale] [--worker] [--json]`. */
export function registerBackfillCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  jsonOption(
    program
      .command('backfill')
      .description(
        'Run the daily pipeline for every weekday from --from to --to (inclusive), skipping dates already completed.',
      )
      .requiredOption('--from <date>', 'first date, YYYY-MM-DD')
      .requiredOption('--to <date>', 'last date, YYYY-MM-DD (today at the latest)')
      .option('--concurrency <n>', 'dates running at once', '2')
      .option('--force', 'run dates again even when their last run completed')
      .option('--allow-large-cleanup', 'let retention delete more than RETENTION_MAX_DELETE_SHARE of a table')
      .option('--scale <scale>', 'small, medium, large or a number of appointments per day (default: DEFAULT_SCALE)')
      .addOption(workerOption()),
  ).action((opts: BackfillCliOptions) =>
    runAction(io, async () => {
      const config = getConfig();
      const concurrency = parseConcurrency(opts.concurrency);
      let scale: ScaleInput | undefined;
      try {
        scale = opts.scale === undefined ? undefined : parseScale(opts.scale, config.shardRows);
      } catch (err) {
        throw new UsageError(`--scale: ${(err as Error).message}`);
      }
      const dates = backfillDates({
        from: opts.from,
        to: opts.to,
        today: todayIn(config.timezone),
        timezone: config.timezone,
        maxDays: config.backfillMaxDays,
      });
      if (dates.length === 0) {
        if (opts.json) printJson(io, { from: opts.from, to: opts.to, dates: [], outcomes: [] });
        else io.out(`no weekdays between ${opts.from} and ${opts.to}: nothing to run`);
        return;
      }
      if (!opts.json) {
        io.out(
          `backfill ${opts.from}..${opts.to}: ${dates.length} weekday(s), ${concurrency} at a time` +
            `${opts.force ? ', --force' : ''}, task queue ${config.temporal.taskQueue}`,
        );
      }
      const outcomes = await withClient(config, (client) =>
        withWorkerWatchdog({ client, config, mode: opts.worker, warn: (line) => io.err(line) }, async (watchdog) => {
          await watchdog.beforeStart();
          return runBackfill(client, config, {
            dates,
            concurrency,
            force: opts.force,
            allowLargeCleanup: opts.allowLargeCleanup,
            scale,
            onRun: (handle) => watchdog.attach(handle),
            onOutcome: opts.json
              ? undefined
              : (o) =>
                  io.out(
                    `${o.status.padEnd(9)} ${o.runDate}  ${o.detail} (${formatDuration(o.durationMs)})  ${o.webUiUrl}`,
                  ),
          });
        }),
      );
      const counts = countOutcomes(outcomes);
      if (opts.json) printJson(io, { from: opts.from, to: opts.to, dates, counts, outcomes });
      else io.out(`${counts.completed} completed, ${counts.skipped} skipped, ${counts.failed} failed`);
      io.setExitCode(counts.failed > 0 ? EXIT.failed : EXIT.ok);
    }),
  );
}
