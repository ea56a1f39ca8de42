/**
 * `healthsynth notice [--date D]`: send the weekend notice by hand. The workflow id
 * `weekend-notice-<date>` makes it at most once per date: a second call for the same date reports
 * the earlier run instead of messaging patients again (a failed earlier run may be retried).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import type { Command } from 'commander';
import { workflowIds, WORKFLOW_TYPES } from '../temporal.js';
import { webUiLink } from '../workflow-ids.js';
import type { weekendNotice, WeekendNoticeResult } from '../workflows/weekend-notice.js';
import { EXIT, jsonOption, printJson, resolveDeps, runAction, withClient, type CliDeps } from './command.js';
import { parseWeekendDate, todayIn } from './dates.js';
import { workerOption } from './worker-option.js';
import { WorkerWatchdog, type WorkerMode } from '../worker-watchdog.js';

export function registerNoticeCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  jsonOption(
    program
      .command('notice')
      .description("Send the weekend notice to the patients' Telegram chat for a date, at most once per date.")
      .option('--date <YYYY-MM-DD>', 'a Saturday or Sunday, not after today (default: today in HEALTHSYNTH_TIMEZONE)')
      .addOption(workerOption()),
  ).action((opts: { date?: string; json?: boolean; worker: WorkerMode }) =>
    runAction(io, async () => {
      const config = getConfig();
      const today = todayIn(config.timezone);
      const date = parseWeekendDate(
        opts.date === undefined ? '--date (default: today)' : '--date',
        opts.date ?? today,
        today,
        config.timezone,
      );
      const workflowId = workflowIds.weekendNotice(date);
      await withClient(config, async (client) => {
        const watchdog = new WorkerWatchdog({ client, config, mode: opts.worker, warn: (line) => io.err(line) });
        try {
          await watchdog.beforeStart();
          let result: WeekendNoticeResult & { alreadySent?: boolean };
          try {
            const handle = await client.workflow.start<typeof weekendNotice>(WORKFLOW_TYPES.weekendNotice, {
              taskQueue: config.temporal.taskQueue,
              workflowId,
              workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
              args: [{ date }],
            });
            await watchdog.attach(handle);
            result = await handle.result();
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
            const earlier = client.workflow.getHandle<typeof weekendNotice>(workflowId);
            await watchdog.attach(earlier);
            result = { ...(await earlier.result()), alreadySent: true };
          }
          const link = webUiLink(config.temporal, workflowId);
          if (opts.json) printJson(io, { workflowId, webUiUrl: link, ...result });
          else {
            io.out(
              result.alreadySent
                ? `weekend notice for ${date} was already sent; nothing sent again`
                : `weekend notice for ${date}:`,
            );
            for (const n of result.alreadySent ? [] : result.notifications) {
              io.out(
                `  ${n.channel}: ${n.status}${n.outboxPath ? ` (NOT DELIVERED, written to ${n.outboxPath})` : ''}`,
              );
            }
            io.out(`Web UI: ${link}`);
          }
          if (result.notifications.some((n) => n.status === 'failed')) io.setExitCode(EXIT.failed);
        } finally {
          await watchdog.close();
        }
      });
    }),
  );
}
