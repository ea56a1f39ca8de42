/**
 * `healthsynth run` (one pipeline run) and `healthsynth worker` (a worker in the foreground).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseScale } from '../config.js';
import { awaitPipeline, startPipeline } from '../run-pipeline.js';
import { runWorkerProcess, WORKER_CONNECT_RETRY_MS } from '../worker.js';
import { relaunchUnlessWorkerSettings } from '../worker-process.js';
import { WorkerWatchdog, type WorkerMode } from '../worker-watchdog.js';
import { EXIT, jsonOption, resolveDeps, runAction, withClient, type CliDeps, type CliIo } from './command.js';
import { parseRunDate, todayIn } from './dates.js';
import { failureText, terminalSummary } from './format.js';
import { workerOption } from './worker-option.js';

/** Parses a whole number of seconds from 0 to 3600. */
function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 3600) {
    throw new InvalidArgumentError(`must be a whole number of seconds from 0 to 3600, got "${value}"`);
  }
  return Number(value);
}

export function registerRunCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  jsonOption(
    program
      .command('run')
      .description(
        'Run the daily pipeline for one date and wait for it (starts a worker in-process if none is polling).',
      )
      .option('--date <YYYY-MM-DD>', 'run date, 2000-01-01 to today (default: today in HEALTHSYNTH_TIMEZONE)')
      .option(
        '--scale <small|medium|large|N>',
        'rows to generate: a named scale or a number of appointments',
        (v: string) => parseScale(v),
      )
      .addOption(workerOption())
      .option('--allow-large-cleanup', 'let retention delete more than RETENTION_MAX_DELETE_SHARE of a table')
      .option('--follow', 'show live progress while it runs (on stderr with --json)'),
  ).action(
    (opts: {
      date?: string;
      scale?: ReturnType<typeof parseScale>;
      worker: WorkerMode;
      allowLargeCleanup?: boolean;
      follow?: boolean;
      json?: boolean;
    }) =>
      runAction(io, async () => {
        const config = getConfig();
        // Refused here, before a worker starts, when the scale needs more shards than one history holds.
        if (opts.scale !== undefined) parseScale(opts.scale, config.shardRows);
        const today = todayIn(config.timezone);
        const runDate = opts.date === undefined ? today : parseRunDate('--date', opts.date, today, config.timezone);
        await withClient(config, async (client) => {
          const watchdog = new WorkerWatchdog({ client, config, mode: opts.worker, warn: (line) => io.err(line) });
          try {
            await watchdog.beforeStart();
            const handle = await startPipeline(client, config, {
              runDate,
              ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
              ...(opts.allowLargeCleanup ? { allowLargeCleanup: true } : {}),
            });
            await watchdog.attach(handle);
            if (!opts.json) io.err(`started ${handle.workflowId}; Web UI: ${config.temporal.uiUrl}`);
            if (opts.follow) {
              const { followWorkflow } = await import('./follow.js');
              // With --json, stdout carries only the result document: progress goes to stderr as plain lines.
              const progressIo: CliIo = opts.json ? { ...io, out: (text) => io.err(text), isTTY: false } : io;
              await followWorkflow(client, config, handle.workflowId, { io: progressIo });
            }
            const outcome = await awaitPipeline(config, handle);
            if (opts.json) {
              // One line, as it always was: scripts may read it with `tail -1`.
              io.out(JSON.stringify({ ...outcome, error: outcome.error ? failureText(outcome.error) : undefined }));
            } else if (outcome.summary) {
              if (!opts.follow) io.out(terminalSummary(outcome.summary));
              io.out(`Web UI: ${outcome.webUiUrl}`);
            } else {
              io.err(`run ${outcome.workflowId} failed: ${failureText(outcome.error)}\nWeb UI: ${outcome.webUiUrl}`);
            }
            io.setExitCode(outcome.error ? EXIT.failed : EXIT.ok);
          } finally {
            await watchdog.close();
          }
        });
      }),
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
    .action((opts: { connectTimeout: number }) =>
      runAction(io, async () => {
        // The memory settings only take effect at process start: run this command again with them if needed.
        const exitCode = await relaunchUnlessWorkerSettings();
        if (exitCode !== undefined) {
          io.setExitCode(exitCode);
          return;
        }
        await runWorkerProcess(getConfig(), { connectRetryMs: opts.connectTimeout * 1000 });
      }),
    );
}
