/**
 * Every command that waits for a run either has a worker or fails at once saying so, on the real Temporal dev
 * server: with `--worker never` and nobody polling, `run`, `backfill`, `notice` and `follow` fail naming the task
 * queue and `npm run worker`, and start nothing (`schedules trigger`: test/workflow/schedules.test.ts). A worker
 * that was killed is still listed by the server for minutes; it does not count: `notice --worker never` fails once
 * its run's first task is not picked up, and `notice` (auto) starts a worker of its own and completes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { registerBackfillCommands } from '../../src/cli/backfill.js';
import { registerFollowCommands } from '../../src/cli/follow.js';
import { registerNoticeCommands } from '../../src/cli/notice.js';
import { memoryIo, type CliDeps } from '../../src/cli/command.js';
import type { Config } from '../../src/config.js';
import { addDays } from '../../src/domain/dates.js';
import { connectClient, describeOrUndefined, WORKFLOW_TYPES, workflowIds } from '../../src/temporal.js';
import { installQuietRuntime } from '../../src/worker.js';
import { NoWorkerError, pollerState } from '../../src/worker-watchdog.js';
import { testConfig, uniqueDate } from '../support/env.js';
import { terminateAll, unusedDate } from '../support/workflow-runs.js';

type Register = (program: Command, deps: CliDeps) => void;

async function cli(config: Config, register: Register, args: string[]) {
  const io = memoryIo();
  const program = new Command().exitOverride();
  register(program, { io, config: () => config });
  await program.parseAsync(['node', 'healthsynth', ...args]);
  return io;
}

/** A past Saturday: weekend notices are for weekends. */
function uniqueSaturday(): string {
  const date = uniqueDate();
  const dow = new Date(`${date}T00:00:00Z`).getUTCDay();
  return addDays(date, (6 - dow + 7) % 7 || 7);
}

/** A past Monday, so a one-day backfill has exactly one weekday. */
function uniqueMonday(): string {
  return addDays(uniqueSaturday(), -5);
}

function expectNoWorker(config: Config, reason: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof NoWorkerError, String(err));
    assert.match(err.message, new RegExp(`no worker polls task queue "${config.temporal.taskQueue}"`));
    assert.match(err.message, reason);
    assert.match(err.message, /Start one with `npm run worker`/);
    return true;
  };
}

async function notFound(client: Client, workflowId: string): Promise<boolean> {
  return (await describeOrUndefined(client.workflow.getHandle(workflowId))) === undefined;
}

describe('--worker never with nobody polling: fail at once, start nothing', () => {
  const config = testConfig();
  let client: Client;
  before(async () => {
    client = await connectClient(config);
  });
  after(async () => {
    await client.connection.close();
  });

  test('backfill', async () => {
    const date = await unusedDate(client, uniqueMonday, workflowIds.dailyPipeline);
    await assert.rejects(
      cli(config, registerBackfillCommands, ['backfill', '--from', date, '--to', date, '--worker', 'never']),
      expectNoWorker(config, /the server lists no poller/),
    );
    assert.ok(await notFound(client, workflowIds.dailyPipeline(date)), 'no run was started');
  });

  test('notice', async () => {
    // A Saturday no earlier test has run a notice for: a notice found later must be one this command started.
    const date = await unusedDate(client, uniqueSaturday, workflowIds.weekendNotice);
    await assert.rejects(
      cli(config, registerNoticeCommands, ['notice', '--date', date, '--worker', 'never']),
      expectNoWorker(config, /the server lists no poller/),
    );
    assert.ok(await notFound(client, workflowIds.weekendNotice(date)), 'no run was started');
  });

  test('follow of a run nobody works on', async () => {
    const date = uniqueSaturday();
    const handle = await client.workflow.start(WORKFLOW_TYPES.weekendNotice, {
      taskQueue: config.temporal.taskQueue,
      workflowId: workflowIds.weekendNotice(date),
      args: [{ date }],
    });
    try {
      await assert.rejects(
        cli(config, registerFollowCommands, ['follow', handle.workflowId, '--worker', 'never']),
        expectNoWorker(config, /the server lists no poller/),
      );
    } finally {
      await handle.terminate('test cleanup');
    }
  });

  test('run (the real command, in its own process)', async () => {
    const date = await unusedDate(client, uniqueSaturday, workflowIds.dailyPipeline);
    const proc = spawn(
      process.execPath,
      ['bin/healthsynth.js', 'run', '--date', date, '--scale', '100', '--worker', 'never'],
      { env: { ...process.env, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`no worker polls task queue "${config.temporal.taskQueue}"`));
    assert.match(stderr, /npm run worker/);
    assert.ok(await notFound(client, workflowIds.dailyPipeline(date)), 'no run was started');
  });
});

describe('a killed worker still listed by the server does not count', () => {
  const config = testConfig();
  let client: Client;
  const started: string[] = [];
  before(async () => {
    installQuietRuntime();
    client = await connectClient(config);
    // A real worker process polls the queue, then dies without a word.
    const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: { ...process.env, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, WORKER_METRICS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout?.on('data', () => out.includes('polling task queue') && resolve());
      proc.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${out}`)));
    });
    proc.removeAllListeners('exit');
    // Killed once the server lists its poll (its start line comes a moment before that).
    for (let i = 0; i < 100; i++) {
      if ((await pollerState(client, config.temporal.namespace, config.temporal.taskQueue)).listed > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  });
  after(async () => {
    await terminateAll(client, started);
    await client.connection.close();
  });

  test('the server still lists its poller, as if it were alive', async () => {
    const pollers = await pollerState(client, config.temporal.namespace, config.temporal.taskQueue);
    assert.ok(pollers.listed >= 1 && pollers.live >= 1, JSON.stringify(pollers));
  });

  test('notice --worker never fails once its first task is not picked up, naming the queue', async () => {
    // An unused id: `notice` attaches to an earlier completed run of it and reports "already sent" instead.
    const date = await unusedDate(client, uniqueSaturday, workflowIds.weekendNotice);
    started.push(workflowIds.weekendNotice(date));
    await assert.rejects(
      cli(config, registerNoticeCommands, ['notice', '--date', date, '--worker', 'never']),
      expectNoWorker(config, /has waited \d+ s for a worker to pick up its task/),
    );
  });

  test('notice (auto) starts a worker in its own process and sends the notice', async () => {
    const date = await unusedDate(client, uniqueSaturday, workflowIds.weekendNotice);
    const io = await cli(config, registerNoticeCommands, ['notice', '--date', date]);
    assert.equal(io.exitCode, 0, io.text());
    assert.match(io.text(), new RegExp(`weekend notice for ${date}:`));
    assert.match(io.stderr.join('\n'), /no worker serves task queue .*; starting one here/);
  });
});
