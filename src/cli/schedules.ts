/**
 * `healthsynth schedules …`: apply the schedules defined in src/schedules.ts, and list, describe,
 * pause, unpause, trigger or delete them. The same schedules show in `temporal schedule list`.
 */
import type { Client, ScheduleDescription, ScheduleOverlapPolicy, ScheduleSummary } from '@temporalio/client';
import { ScheduleNotFoundError } from '@temporalio/client';
import { Option, type Command } from 'commander';
import type { Config } from '../config.js';
import {
  applySchedules,
  calendarText,
  formatPlan,
  MANAGED_BY,
  planSchedules,
  type SchedulePlanItem,
} from '../schedules.js';
import { webUiLink } from '../workflow-ids.js';
import {
  EXIT,
  jsonOption,
  printJson,
  resolveDeps,
  runAction,
  withClient,
  type CliDeps,
  type CliIo,
} from './command.js';
import { formatTable, formatTime, failureText } from './format.js';
import { WorkerWatchdog, type WorkerMode } from '../worker-watchdog.js';
import { workerOption } from './worker-option.js';

const OVERLAP_POLICIES = ['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL'];

/** A plan item without the full create options, for `--json` output. */
function planJson(item: SchedulePlanItem): Record<string, unknown> {
  return {
    scheduleId: item.scheduleId,
    action: item.action,
    desired: item.shape,
    ...(item.action === 'update' ? { changes: item.changes } : {}),
  };
}

/** The parts of a description worth printing (drops the raw protobuf). */
export function describeJson(config: Config, d: ScheduleDescription): Record<string, unknown> {
  return {
    scheduleId: d.scheduleId,
    managed: d.memo?.managedBy === MANAGED_BY,
    calendars: (d.spec.calendars ?? []).map(calendarText),
    timezone: d.spec.timezone || 'UTC',
    spec: d.spec,
    action: {
      workflowType: d.action.workflowType,
      workflowId: d.action.workflowId,
      taskQueue: d.action.taskQueue,
      args: d.action.args,
    },
    policies: d.policies,
    state: d.state,
    memo: d.memo,
    info: {
      ...d.info,
      recentActions: d.info.recentActions.map((a) => ({
        ...a,
        webUiUrl: webUiLink(config.temporal, a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId),
      })),
    },
  };
}

function printDescription(io: CliIo, config: Config, d: ScheduleDescription): void {
  const lines = [
    `${d.scheduleId}${d.memo?.managedBy === MANAGED_BY ? '  (managed by healthsynth)' : ''}`,
    `  when:      ${(d.spec.calendars ?? []).map(calendarText).join('; ') || '(no calendar)'} ${d.spec.timezone || 'UTC'}`,
    `  starts:    ${d.action.workflowType} on task queue ${d.action.taskQueue}, workflow id ${d.action.workflowId}-<time>`,
    `  input:     ${JSON.stringify(d.action.args ?? [])}`,
    `  policies:  overlap ${d.policies.overlap ?? 'SKIP'}, catch-up window ${Math.round(d.policies.catchupWindow / 60_000)} min, ` +
      `pause on failure ${d.policies.pauseOnFailure}`,
    `  state:     ${d.state.paused ? 'PAUSED' : 'active'}${d.state.note ? ` (note: ${d.state.note})` : ''}`,
    `  actions:   ${d.info.numActionsTaken} taken, ${d.info.numActionsSkippedOverlap} skipped for overlap, ` +
      `${d.info.numActionsMissedCatchupWindow} missed the catch-up window`,
    `  next:      ${d.info.nextActionTimes.slice(0, 5).map(formatTime).join(', ') || '-'}`,
  ];
  if (d.info.runningActions.length > 0) {
    lines.push(`  running:   ${d.info.runningActions.map((a) => a.workflow.workflowId).join(', ')}`);
  }
  for (const a of d.info.recentActions.slice(-5)) {
    const wf = a.action.workflow;
    lines.push(
      `  recent:    ${formatTime(a.scheduledAt)} ${wf.workflowId} ${webUiLink(config.temporal, wf.workflowId, wf.firstExecutionRunId)}`,
    );
  }
  io.out(lines.join('\n'));
}

async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const all: ScheduleSummary[] = [];
  for await (const s of client.schedule.list()) all.push(s);
  return all.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

/**
 * Registers `schedules apply|list|describe|pause|unpause|trigger|delete` on `program`.
 * `deps` lets tests pass their own configuration and capture output.
 */
export function registerScheduleCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  const schedules = program
    .command('schedules')
    .description('Temporal schedules as code: daily-pipeline (Mon-Fri 10:05) and weekend-notice (Sat+Sun 10:05).');

  jsonOption(
    schedules
      .command('apply')
      .description('Create or update the schedules to match the code and configuration (prints the plan first).')
      .option('--dry-run', 'print the plan and change nothing')
      .addOption(
        new Option('--id-prefix <prefix>', 'prefix for schedule ids (tests, side-by-side setups)').default(''),
      ),
  ).action((opts: { dryRun?: boolean; idPrefix: string; json?: boolean }) =>
    runAction(io, async () => {
      const config = getConfig();
      await withClient(config, async (client) => {
        const plan = await planSchedules(client, config, { idPrefix: opts.idPrefix });
        if (!opts.json) {
          for (const line of formatPlan(plan)) io.out(line);
        }
        const result = await applySchedules(client, config, { plan, dryRun: opts.dryRun });
        if (opts.json) {
          printJson(io, { dryRun: Boolean(opts.dryRun), plan: plan.map(planJson), applied: result.applied });
        } else if (plan.every((p) => p.action === 'unchanged')) {
          io.out('no changes');
        } else if (opts.dryRun) {
          io.out('dry run: nothing changed');
        } else {
          io.out(`applied: ${result.applied.join(', ')}`);
        }
      });
    }),
  );

  jsonOption(schedules.command('list').description('List the schedules on the server.')).action(
    (opts: { json?: boolean }) =>
      runAction(io, async () => {
        const config = getConfig();
        await withClient(config, async (client) => {
          const all = await listSchedules(client);
          if (opts.json) {
            printJson(
              io,
              all.map((s) => ({
                scheduleId: s.scheduleId,
                managed: s.memo?.managedBy === MANAGED_BY,
                workflowType: s.action?.workflowType,
                calendars: (s.spec?.calendars ?? []).map(calendarText),
                timezone: s.spec?.timezone || 'UTC',
                paused: s.state.paused,
                note: s.state.note,
                nextActionTimes: s.info.nextActionTimes,
              })),
            );
            return;
          }
          if (all.length === 0) {
            io.out('no schedules (create them with `healthsynth schedules apply`)');
            return;
          }
          io.out(
            formatTable(
              ['SCHEDULE', 'WORKFLOW', 'WHEN', 'STATE', 'NEXT'],
              all.map((s) => [
                s.scheduleId,
                s.action?.workflowType ?? '-',
                `${(s.spec?.calendars ?? []).map(calendarText).join('; ')} ${s.spec?.timezone || 'UTC'}`,
                s.state.paused ? 'paused' : 'active',
                formatTime(s.info.nextActionTimes[0]),
              ]),
            ),
          );
        });
      }),
  );

  jsonOption(
    schedules.command('describe <id>').description('Show one schedule: spec, action, state, next and recent runs.'),
  ).action((id: string, opts: { json?: boolean }) =>
    runAction(io, async () => {
      const config = getConfig();
      await withClient(config, async (client) => {
        const d = await scheduleOrExit(io, client, id);
        if (!d) return;
        if (opts.json) printJson(io, describeJson(config, d));
        else printDescription(io, config, d);
      });
    }),
  );

  const simple = (
    name: string,
    description: string,
    run: (client: Client, id: string, opts: { note?: string; overlap?: string }) => Promise<string>,
    configure: (c: Command) => Command = (c) => c,
  ): void => {
    jsonOption(configure(schedules.command(`${name} <id>`).description(description))).action(
      (id: string, opts: { json?: boolean; note?: string; overlap?: string }) =>
        runAction(io, async () => {
          const config = getConfig();
          await withClient(config, async (client) => {
            if (!(await scheduleOrExit(io, client, id))) return;
            const message = await run(client, id, opts);
            if (opts.json) printJson(io, { scheduleId: id, action: name, ok: true, message });
            else io.out(message);
          });
        }),
    );
  };
  const noteOption = (c: Command) => c.option('--note <text>', 'why (shown in describe and the Web UI)');
  simple(
    'pause',
    'Pause a schedule: no runs start until it is unpaused (apply keeps it paused).',
    async (client, id, opts) => {
      await client.schedule.getHandle(id).pause(opts.note ?? 'paused with healthsynth schedules pause');
      return `${id} paused`;
    },
    noteOption,
  );
  simple(
    'unpause',
    'Unpause a schedule.',
    async (client, id, opts) => {
      await client.schedule.getHandle(id).unpause(opts.note ?? 'unpaused with healthsynth schedules unpause');
      return `${id} unpaused`;
    },
    noteOption,
  );
  jsonOption(
    schedules
      .command('trigger <id>')
      .description(
        "Start the schedule's action now (the run date is today in the configured timezone) and wait for the run.",
      )
      .addOption(
        new Option('--overlap <policy>', "overlap policy for this run (default: the schedule's)").choices(
          OVERLAP_POLICIES,
        ),
      )
      .addOption(workerOption()),
  ).action((id: string, opts: { json?: boolean; overlap?: string; worker: WorkerMode }) =>
    runAction(io, async () => {
      const config = getConfig();
      await withClient(config, async (client) => {
        const d = await scheduleOrExit(io, client, id);
        if (!d) return;
        // The schedule's own task queue, which may differ from TEMPORAL_TASK_QUEUE.
        const watchdog = new WorkerWatchdog({
          client,
          config,
          mode: opts.worker,
          taskQueue: d.action.taskQueue,
          warn: (line) => io.err(line),
        });
        try {
          await watchdog.beforeStart();
          const run = await triggerAndFindRun(client, d, opts.overlap as ScheduleOverlapPolicy | undefined);
          if (!run.workflowId) {
            if (opts.json)
              printJson(io, { scheduleId: id, action: 'trigger', ok: true, started: false, message: run.why });
            else io.out(`${id} triggered, but ${run.why}`);
            return;
          }
          const handle = client.workflow.getHandle(run.workflowId, run.runId);
          const link = webUiLink(config.temporal, run.workflowId, run.runId);
          if (!opts.json) io.out(`${id} triggered: ${run.workflowId}\n${link}`);
          await watchdog.attach(handle);
          let failure: string | undefined;
          try {
            await handle.result();
          } catch (err) {
            failure = failureText(err);
          }
          if (opts.json) {
            printJson(io, {
              scheduleId: id,
              action: 'trigger',
              ok: failure === undefined,
              started: true,
              workflowId: run.workflowId,
              runId: run.runId,
              status: failure === undefined ? 'completed' : 'failed',
              ...(failure !== undefined ? { failure } : {}),
              webUiUrl: link,
            });
          } else {
            io.out(failure === undefined ? `${run.workflowId} completed` : `${run.workflowId} failed: ${failure}`);
          }
          io.setExitCode(failure === undefined ? EXIT.ok : EXIT.failed);
        } finally {
          await watchdog.close();
        }
      });
    }),
  );
  simple('delete', 'Delete a schedule (running workflows it started keep running).', async (client, id) => {
    await client.schedule.getHandle(id).delete();
    return `${id} deleted`;
  });
}

/**
 * Triggers schedule `d` and finds the run it started (the server names it `<workflow id>-<time>` and lists it in
 * the schedule's recent actions a moment later). Returns why no run started when the overlap policy skipped it.
 */
async function triggerAndFindRun(
  client: Client,
  d: ScheduleDescription,
  overlap: ScheduleOverlapPolicy | undefined,
): Promise<{ workflowId?: string; runId?: string; why: string }> {
  const handle = client.schedule.getHandle(d.scheduleId);
  const known = new Set(d.info.recentActions.map((a) => a.action.workflow.workflowId));
  const skippedBefore = d.info.numActionsSkippedOverlap;
  await handle.trigger(overlap);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const now = await handle.describe();
    const fresh = now.info.recentActions.find((a) => !known.has(a.action.workflow.workflowId));
    if (fresh) {
      return {
        workflowId: fresh.action.workflow.workflowId,
        runId: fresh.action.workflow.firstExecutionRunId,
        why: '',
      };
    }
    if (now.info.numActionsSkippedOverlap > skippedBefore) {
      const running = now.info.runningActions.map((a) => a.workflow.workflowId).join(', ');
      return { why: `the overlap policy skipped the run (still running: ${running || 'another run'})` };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { why: 'no run appeared in the schedule within 15 s (see `healthsynth schedules describe`)' };
}

/** Describes `id`; when it does not exist prints a clear message, sets exit code 1 and returns undefined. */
async function scheduleOrExit(io: CliIo, client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    io.err(`healthsynth: schedule ${id} not found (see \`healthsynth schedules list\`)`);
    io.setExitCode(EXIT.failed);
    return undefined;
  }
}
