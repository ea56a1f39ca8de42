/**
 * Waiting commands and real pipeline runs on the real stack (Temporal, PostgreSQL, S3, dbt):
 *  - `backfill` with no worker anywhere starts one in its own process and completes (it used to wait forever);
 *  - a worker killed with SIGKILL in the middle of a run: a command waiting for it says so on stderr, naming the
 *    task queue and how to start a worker; with `--worker never` it keeps waiting and the run completes once a new
 *    worker polls, in auto mode it starts a worker itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import { registerBackfillCommands } from '../../src/cli/backfill.js';
import { registerFollowCommands } from '../../src/cli/follow.js';
import { memoryIo, type CliDeps, type MemoryIo } from '../../src/cli/command.js';
import type { Config } from '../../src/config.js';
import { addDays } from '../../src/domain/dates.js';
import { ENTITY_NAMES } from '../../src/domain/entities.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/temporal.js';
import { installQuietRuntime } from '../../src/worker.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { startWorkerProcess, stopWorker, type WorkerProcess } from '../support/worker-process.js';

/** Runs a command in-process; `io` can be read while it runs. */
function cli(config: Config, register: (p: Command, d: CliDeps) => void, args: string[], io: MemoryIo = memoryIo()) {
  const program = new Command().exitOverride();
  register(program, { io, config: () => config });
  return { io, done: program.parseAsync(['node', 'healthsynth', ...args]).then(() => io) };
}

/** Resolves once `predicate` holds, checking every 250 ms; fails with `what` after `ms`. */
async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 180_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Ends a run a failed test left behind, so it cannot overlap the next test's run in the same database. */
async function endIfRunning(handle: WorkflowHandle): Promise<void> {
  await handle.terminate('test cleanup').catch(() => undefined);
}

/** True once any ingest child of the run has an activity running on a worker. */
async function activityRunning(h: TestHarness, runDate: string): Promise<boolean> {
  for (const entity of ENTITY_NAMES) {
    const desc = await h.client.workflow
      .getHandle(workflowIds.ingest(entity, runDate))
      .describe()
      .catch(() => undefined);
    if ((desc?.raw.pendingActivities ?? []).some((a) => a.lastStartedTime && !a.lastFailure)) return true;
  }
  return false;
}

describe('waiting commands on the real pipeline', { timeout: 900_000 }, () => {
  let h: TestHarness;
  const workers: WorkerProcess[] = [];
  before(async () => {
    installQuietRuntime();
    h = await harness(testConfig({ DATABASE_URL: await freshDatabase('hs_watchdog_test') }), { worker: false });
  });
  after(async () => {
    for (const w of workers) await stopWorker(w).catch(() => undefined);
    await h?.close();
  });

  test('backfill with no worker anywhere starts one in its own process and completes', async () => {
    const day = uniqueDate();
    const monday = addDays(day, (8 - new Date(`${day}T00:00:00Z`).getUTCDay()) % 7); // a one-weekday range
    const { io, done } = cli(h.config, registerBackfillCommands, [
      'backfill',
      '--from',
      monday,
      '--to',
      monday,
      '--scale',
      '300',
      '--json',
    ]);
    await done;
    const out = JSON.parse(io.text()) as { counts: Record<string, number> };
    assert.deepEqual(out.counts, { completed: 1, skipped: 0, failed: 0 }, io.text());
    const desc = await h.client.workflow.getHandle(workflowIds.dailyPipeline(monday)).describe();
    assert.equal(desc.status.name, 'COMPLETED');
  });

  const workerEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
    DATABASE_URL: h.config.warehouse.kind === 'postgres' ? h.config.warehouse.databaseUrl : '',
  });

  /**
   * Starts a run served by a worker process and `follow`s it with `mode`; once an activity of the run is running,
   * kills that worker with SIGKILL (the command is waiting by then).
   */
  async function followThenKillTheWorker(mode: 'never' | 'auto') {
    const w = await startWorkerProcess(workerEnv());
    workers.push(w);
    const runDate = uniqueDate();
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.dailyPipeline, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.dailyPipeline(runDate),
      // The tests' random dates can be more than RETENTION_DAYS apart, and then this run's cleanup would expire the
      // previous test's rows, far more than the retention guard allows: retention is not what these tests are about.
      args: [{ runDate, scale: 20_000, allowLargeCleanup: true }],
    });
    const { io, done } = cli(h.config, registerFollowCommands, ['follow', handle.workflowId, '--worker', mode]);
    await until(() => activityRunning(h, runDate), 'an activity of the run running on the worker');
    assert.equal(io.stderr.length, 0, 'no notice while the worker is alive');
    assert.equal(await stopWorker(w, 'SIGKILL'), 137, 'the worker was killed');
    return { handle, runDate, io, done };
  }

  test('--worker never: the waiting command says the last worker went away; a new worker finishes the run', async (t) => {
    const { handle, io, done } = await followThenKillTheWorker('never');
    t.after(() => endIfRunning(handle));
    const notices = () => io.stderr.join('\n');
    await until(() => /no worker polls task queue .* any more/.test(notices()), 'the lost-worker notice');
    assert.match(notices(), new RegExp(`task queue "${h.config.temporal.taskQueue}" any more`));
    assert.match(
      notices(),
      new RegExp(`${handle.workflowId} waits until one does\\. Start one with \`npm run worker\``),
    );

    const replacement = await startWorkerProcess(workerEnv());
    workers.push(replacement);
    t.after(() => stopWorker(replacement)); // the next test needs a task queue nobody serves
    await done;
    assert.equal(io.exitCode, 0, `${io.text()}\n${notices()}`);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
  });

  test('auto: the waiting command notices the lost worker, starts one itself and the run completes', async (t) => {
    const { handle, runDate, io, done } = await followThenKillTheWorker('auto');
    t.after(() => endIfRunning(handle));
    await done;
    assert.equal(io.exitCode, 0, `${io.text()}\n${io.stderr.join('\n')}`);
    assert.match(
      io.stderr.join('\n'),
      new RegExp(`no worker polls task queue "${h.config.temporal.taskQueue}" any more .*starting one in this process`),
    );
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    assert.equal(await h.warehouse.countBatch('appointments', runDate), 20_000);
  });
});
