/**
 * `healthsynth status [--date D] [--limit N]`: the recent daily pipeline runs, newest first, with
 * their outcome, start and close time and Web UI link. Reads Temporal's visibility store, so it
 * sees runs started by the schedule, by backfill and by hand alike.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Command } from 'commander';
import type { Config } from '../config.js';
import { WORKFLOW_TYPES, workflowIds } from '../temporal.js';
import { webUiLink } from '../workflow-ids.js';
import { parseRunDate, todayIn } from './dates.js';
import {
  EXIT,
  jsonOption,
  parseLimit,
  printJson,
  resolveDeps,
  runAction,
  withClient,
  type CliDeps,
} from './command.js';
import { formatDuration, formatTable, formatTime } from './format.js';

export interface PipelineRun {
  workflowId: string;
  runId: string;
  /** The date the run processes, taken from the id `daily-pipeline-<date>`. */
  runDate?: string;
  /** Temporal's status in lower case: running, completed, failed, canceled, terminated, timed_out, continued_as_new. */
  status: string;
  startTime: Date;
  closeTime?: Date;
  durationMs?: number;
  webUiUrl: string;
}

/** The visibility query for pipeline runs, optionally of one date. */
export function pipelineRunsQuery(date?: string): string {
  const type = `WorkflowType = '${WORKFLOW_TYPES.dailyPipeline}'`;
  return date ? `${type} AND WorkflowId = '${workflowIds.dailyPipeline(date)}'` : type;
}

function toRun(config: Config, info: WorkflowExecutionInfo): PipelineRun {
  const prefix = workflowIds.dailyPipeline('');
  const runDate = info.workflowId.startsWith(prefix) ? info.workflowId.slice(prefix.length) : undefined;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    runDate,
    status: info.status.name.toLowerCase(),
    startTime: info.startTime,
    closeTime: info.closeTime,
    durationMs: info.closeTime ? info.closeTime.getTime() - info.startTime.getTime() : undefined,
    webUiUrl: webUiLink(config.temporal, info.workflowId, info.runId),
  };
}

/**
 * Lists up to `limit` dailyPipeline runs, newest first (visibility order), optionally only those of
 * one date (every run of it, including earlier failed or forced ones).
 */
export async function listPipelineRuns(
  client: Client,
  config: Config,
  opts: { date?: string; limit?: number } = {},
): Promise<PipelineRun[]> {
  const limit = opts.limit ?? 10;
  const runs: PipelineRun[] = [];
  for await (const info of client.workflow.list({
    query: pipelineRunsQuery(opts.date),
    pageSize: Math.min(limit, 100),
  })) {
    runs.push(toRun(config, info));
    if (runs.length >= limit) break;
  }
  return runs.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
}

/**
 * Registers `status [--date D] [--limit N] [--json]` on `program`. With --date the exit code is that
 * date's latest run: 0 when completed or still running, 1 when it failed or there is none.
 */
export function registerStatusCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  jsonOption(
    program
      .command('status')
      .description('List recent daily pipeline runs with their outcome and Web UI link.')
      .option('--date <date>', 'only the runs of this date (YYYY-MM-DD, 2000-01-01 to today)')
      .option('--limit <n>', 'how many runs to show', '10'),
  ).action((opts: { date?: string; limit: string; json?: boolean }) =>
    runAction(io, async () => {
      const config = getConfig();
      const date =
        opts.date === undefined
          ? undefined
          : parseRunDate('--date', opts.date, todayIn(config.timezone), config.timezone);
      const limit = parseLimit(opts.limit);
      const runs = await withClient(config, (client) => listPipelineRuns(client, config, { date, limit }));
      if (opts.json) {
        printJson(io, runs);
      } else if (runs.length === 0) {
        io.out(date ? `no runs for ${date}` : 'no pipeline runs yet');
      } else {
        io.out(
          formatTable(
            ['WORKFLOW ID', 'STATUS', 'STARTED', 'CLOSED', 'DURATION', 'WEB UI'],
            runs.map((r) => [
              r.workflowId,
              r.status,
              formatTime(r.startTime),
              formatTime(r.closeTime),
              r.durationMs === undefined ? '-' : formatDuration(r.durationMs),
              r.webUiUrl,
            ]),
          ),
        );
      }
      if (date) {
        const latest = runs[0];
        io.setExitCode(
          latest && (latest.status === 'completed' || latest.status === 'running') ? EXIT.ok : EXIT.failed,
        );
      }
    }),
  );
}
