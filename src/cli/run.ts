/**
 * `healthsynth run` (one pipeline run) and `healthsynth worker` (a worker in the foreground).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, parseScale } from '../config.js';
import { awaitPipeline, startPipeline } from '../run-pipeline.js';
import { connectClient } from '../temporal.js';
import { runWorkerProcess, WORKER_CONNECT_RETRY_MS } from '../worker.js';
import { relaunchUnlessWorkerSettings } from '../worker-process.js';
import { WorkerWatchdog, type WorkerMode } from '../worker-watchdog.js';
import { workerOption } from './worker-option.js';
import { parseRunDate, todayIn } from './dates.js';
import { failureText, terminalSummary } from './format.js';

/** Parses a whole number of seconds from 0 to 3600. */
function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 3600) {
    throw new InvalidArgumentError(`must be a whole number of seconds from 0 to 3600, got "${value}"`);
  }
  return Number(value);
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('Run the daily pipeline for one date and wait for it (starts a worker in-process if none is polling).')
    .option('--date <YYYY-MM-DD>', 'run date, 2000-01-01 to today (default: today in HEALTHSYNTH_TIMEZONE)')
    .option(
      '--scale <small|medium|large|N>',
      'rows to generate: a named scale or a number of appointments',
      (v: string) => parseScale(v),
    )
    .addOption(workerOption())
    .option('--allow-large-cleanup', 'let retention delete more than RETENTION_MAX_DELETE_SHARE of a table')
    .option('--follow', 'show live progress while it runs')
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: {
        date?: string;
        scale?: ReturnType<typeof parseScale>;
        worker: WorkerMode;
        allowLargeCleanup?: boolean;
        follow?: boolean;
        json?: boolean;
      }) => {
        const config = loadConfig();
        // Refused here, before a worker starts, when the scale needs more shards than one history holds.
        if (opts.scale !== undefined) parseScale(opts.scale, config.shardRows);
        const today = todayIn(config.timezone);
        const runDate = opts.date === undefined ? today : parseRunDate('--date', opts.date, today, config.timezone);
        const client = await connectClient(config);
        const watchdog = new WorkerWatchdog({ client, config, mode: opts.worker });
        try {
          await watchdog.beforeStart();
          const handle = await startPipeline(client, config, {
            runDate,
            ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
            ...(opts.allowLargeCleanup ? { allowLargeCleanup: true } : {}),
          });
          await watchdog.attach(handle);
          if (!opts.json) console.error(`started ${handle.workflowId}; Web UI: ${config.temporal.uiUrl}`);
          if (opts.follow) {
            const { followWorkflow } = await import('./follow.js');
            await followWorkflow(client, config, handle.workflowId, { json: opts.json, tty: process.stdout.isTTY });
          }
          const outcome = await awaitPipeline(config, handle);
          if (opts.json) {
            console.log(JSON.stringify({ ...outcome, error: outcome.error ? failureText(outcome.error) : undefined }));
          } else if (outcome.summary) {
            if (!opts.follow) console.log(terminalSummary(outcome.summary));
            console.log(`Web UI: ${outcome.webUiUrl}`);
          } else {
            console.error(
              `run ${outcome.workflowId} failed: ${failureText(outcome.error)}\nWeb UI: ${outcome.webUiUrl}`,
            );
          }
          process.exitCode = outcome.error ? 1 : 0;
        } finally {
          await watchdog.close();
          await client.connection.close();
        }
      },
    );

  program
    .command('worker')
    .description(
      'Run a worker on the configured task queue in the foreground (Ctrl-C stops it); ' +
        'it needs only Temporal to start, and runs with the memory settings of WORKER_PROCESS_SETTINGS.',
    )
    .option(
      '--connect-timeout <seconds>',
      'how long to keep trying to reach Temporal at start before giving up',
      parseSeconds,
      WORKER_CONNECT_RETRY_MS / 1000,
    )
    .action(async (opts: { connectTimeout: number }) => {
      // The memory settings only take effect at process start: run this command again with them if needed.
      const exitCode = await relaunchUnlessWorkerSettings();
      if (exitCode !== undefined) {
        process.exitCode = exitCode;
        return;
      }
      await runWorkerProcess(loadConfig(), { connectRetryMs: opts.connectTimeout * 1000 });
    });
}
