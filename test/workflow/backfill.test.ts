/**
 * Backfill and status against the real Temporal dev server, with STAND-IN workflows
 * (test/workflow/fixtures/ops-stand-in-workflows.ts) on a private task queue: they check the client
 * side (ids, reuse and conflict policies, skipping, attaching, concurrency, outcomes, exit codes),
 * not the pipeline itself. Stand-in rule: a run date on the 13th fails; a numeric scale is the
 * delay of each step in ms.
 *
 * Dates are in a random week of a random year in 2019-2025 (past, and after 2000-01-01: other dates are
 * refused), years no other test uses, so the ids daily-pipeline-<date> never collide with their runs.
 */
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../../src/config.js';
import { backfillDate, registerBackfillCommands, weekdaysInRange } from '../../src/cli/backfill.js';
import { memoryIo } from '../../src/cli/command.js';
import { listPipelineRuns, registerStatusCommands } from '../../src/cli/status.js';
import { connectClient, workflowIds } from '../../src/temporal.js';
import { startStandInWorker, type RunningStandInWorker } from './fixtures/ops-worker.js';
import { terminateAll } from '../support/workflow-runs.js';

/** A Monday-to-Friday week that contains a 13th falling on a weekday. */
function randomWeekWith13th(): { from: string; to: string; thirteenth: string } {
  for (;;) {
    const year = randomInt(2019, 2026);
    const month = randomInt(1, 13);
    const d13 = new Date(Date.UTC(year, month - 1, 13));
    const dow = d13.getUTCDay();
    if (dow === 0 || dow === 6) continue;
    const monday = new Date(d13.getTime() - (dow - 1) * 86_400_000);
    const friday = new Date(monday.getTime() + 4 * 86_400_000);
    const iso = (d: Date) => d.toISOString().slice(0, 10);
    return { from: iso(monday), to: iso(friday), thirteenth: iso(d13) };
  }
}

const week = randomWeekWith13th();
const dates = weekdaysInRange(week.from, week.to);
const config: Config = loadConfig({
  ...process.env,
  TEMPORAL_TASK_QUEUE: `hs-ops-backfill-${randomUUID().slice(0, 8)}`,
  BACKFILL_MAX_DAYS: '31',
});

async function cli(register: (p: Command, d: object) => void, args: string[]) {
  const io = memoryIo();
  const program = new Command().exitOverride();
  register(program, { io, config: () => config });
  // Stand-in workflows only: a backfill must never start a real worker on this queue.
  const worker = args[0] === 'backfill' ? ['--worker', 'never'] : [];
  await program.parseAsync(['node', 'healthsynth', ...args, ...worker]);
  return io;
}

describe(`backfill ${week.from}..${week.to} (stand-in workflows)`, () => {
  let client: Client;
  let worker: RunningStandInWorker;
  before(async () => {
    client = await connectClient(config);
    worker = await startStandInWorker(config);
  });
  after(async () => {
    // Terminate anything of ours still running (only on failure paths), then stop.
    await terminateAll(
      client,
      dates.map((d) => workflowIds.dailyPipeline(d)),
    );
    await worker?.stop();
    await client?.connection.close();
  });

  test('runs every weekday, reports completed and failed with links, exit code 1', async () => {
    const started = Date.now();
    const io = await cli(registerBackfillCommands, [
      'backfill',
      '--from',
      week.from,
      '--to',
      week.to,
      '--concurrency',
      '3',
    ]);
    const elapsed = Date.now() - started;
    assert.equal(io.exitCode, 1, io.text());
    const text = io.text();
    assert.match(text, new RegExp(`backfill ${week.from}..${week.to}: 5 weekday\\(s\\), 3 at a time`));
    for (const date of dates) {
      const status = date === week.thirteenth ? 'failed' : 'completed';
      assert.match(text, new RegExp(`^${status}\\s+${date}\\s.*/workflows/daily-pipeline-${date}/`, 'm'));
    }
    assert.match(
      text,
      new RegExp(
        `failed\\s+${week.thirteenth}\\s+started; failed: dailyPipeline ${week.thirteenth} failed at step dbt`,
      ),
    );
    assert.match(text, /^4 completed, 0 skipped, 1 failed$/m);
    // Five runs of ~0.8 s each, three at a time: well under five sequential runs.
    console.log(`backfill of 5 stand-in dates with concurrency 3 took ${elapsed} ms`);
  });

  test('a second backfill skips completed dates and retries the failed one', async () => {
    const io = await cli(registerBackfillCommands, ['backfill', '--from', week.from, '--to', week.to, '--json']);
    assert.equal(io.exitCode, 1);
    const report = JSON.parse(io.text());
    assert.deepEqual(report.counts, { completed: 0, skipped: 4, failed: 1 });
    const failed = report.outcomes.find((o: { runDate: string }) => o.runDate === week.thirteenth);
    assert.match(failed.detail, /^started again \(previous run failed\); failed: /);
    assert.deepEqual(
      report.outcomes.map((o: { runDate: string }) => o.runDate),
      dates,
      'outcomes are in date order',
    );
  });

  test('--force runs a completed date again under the same id, as a new run', async () => {
    const date = dates.find((d) => d !== week.thirteenth)!;
    const before = await client.workflow.getHandle(workflowIds.dailyPipeline(date)).describe();
    const io = await cli(registerBackfillCommands, ['backfill', '--from', date, '--to', date, '--force', '--json']);
    assert.equal(io.exitCode, 0);
    const [outcome] = JSON.parse(io.text()).outcomes;
    assert.equal(outcome.status, 'completed');
    assert.equal(outcome.detail, 'started again (previous run completed)');
    assert.notEqual(outcome.runId, before.runId);
    assert.equal(
      outcome.webUiUrl,
      `${config.temporal.uiUrl}/namespaces/default/workflows/daily-pipeline-${date}/${outcome.runId}/history`,
    );
  });

  test('a date that is running is attached to and waited for, not started twice', async () => {
    const date = dates.find((d) => d !== week.thirteenth)!;
    const running = await client.workflow.start('dailyPipeline', {
      taskQueue: config.temporal.taskQueue,
      workflowId: workflowIds.dailyPipeline(date),
      args: [{ runDate: date, scale: 400 }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    const outcome = await backfillDate(client, config, date, { force: true });
    assert.equal(outcome.status, 'completed');
    assert.equal(outcome.detail, 'attached to the running run');
    assert.equal(outcome.runId, running.firstExecutionRunId);
    assert.ok(outcome.durationMs >= 1000, `waited for the run (${outcome.durationMs} ms)`);
  });

  test('status lists the runs of a date, newest first, and its exit code follows the latest run', async () => {
    const failedRuns = await listPipelineRuns(client, config, { date: week.thirteenth });
    assert.equal(failedRuns.length, 2, 'two failed runs of the 13th');
    assert.ok(failedRuns.every((r) => r.status === 'failed' && r.runDate === week.thirteenth && r.closeTime));
    assert.ok(failedRuns[0]!.startTime >= failedRuns[1]!.startTime);

    const io = await cli(registerStatusCommands, ['status', '--date', week.thirteenth]);
    assert.equal(io.exitCode, 1);
    assert.match(io.text(), /^WORKFLOW ID\s+STATUS\s+STARTED\s+CLOSED\s+DURATION\s+WEB UI$/m);
    assert.match(io.text(), new RegExp(`^daily-pipeline-${week.thirteenth}\\s+failed\\s`, 'm'));

    // Any date of the week but the 13th (which fails on purpose, and can be the Monday).
    const okDate = dates.find((d) => d !== week.thirteenth)!;
    const ok = await cli(registerStatusCommands, ['status', '--date', okDate, '--json']);
    assert.equal(ok.exitCode, 0);
    const runs = JSON.parse(ok.text());
    assert.equal(runs[0].status, 'completed');

    const limited = JSON.parse((await cli(registerStatusCommands, ['status', '--limit', '3', '--json'])).text());
    assert.equal(limited.length, 3);
    assert.ok(limited.every((r: { workflowId: string }) => r.workflowId.startsWith('daily-pipeline-')));
  });
});
