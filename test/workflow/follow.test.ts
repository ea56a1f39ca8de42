/**
 * `follow` against the real Temporal dev server with STAND-IN workflows
 * (test/workflow/fixtures/ops-stand-in-workflows.ts): they exercise the client side only (polling
 * the `progress` query, retrying it before the first workflow task, rendering, the final summary or
 * failure, exit codes), not the pipeline. Stand-in rule: a run date on the 13th fails at dbt.
 */
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../../src/config.js';
import { followWorkflow, registerFollowCommands } from '../../src/cli/follow.js';
import { memoryIo } from '../../src/cli/command.js';
import { connectClient, workflowIds } from '../../src/temporal.js';
import { terminateAll } from '../support/workflow-runs.js';
import { startStandInWorker, type RunningStandInWorker } from './fixtures/ops-worker.js';

const config: Config = loadConfig({ ...process.env, TEMPORAL_TASK_QUEUE: `hs-ops-follow-${randomUUID().slice(0, 8)}` });
// A random weekday-independent date before 2000: no collision with other tests' daily-pipeline-<date> ids.
const year = randomInt(1971, 2000);
const month = String(randomInt(1, 13)).padStart(2, '0');
const okDate = `${year}-${month}-0${randomInt(1, 10)}`;
const failDate = `${year}-${month}-13`;

describe('follow (stand-in workflows)', () => {
  let client: Client;
  let worker: RunningStandInWorker | undefined;
  const started: string[] = [];
  const start = async (runDate: string, scale = 300) => {
    const id = workflowIds.dailyPipeline(runDate);
    started.push(id);
    return client.workflow.start('dailyPipeline', {
      taskQueue: config.temporal.taskQueue,
      workflowId: id,
      args: [{ runDate, scale }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  };
  before(async () => {
    client = await connectClient(config);
  });
  after(async () => {
    await terminateAll(client, started);
    await worker?.stop();
    await client.connection.close();
  });

  test('waits for the first task (query retried), prints progress changes once, then the summary', async () => {
    // Started before any worker polls the queue: the progress query cannot be answered yet.
    await start(okDate);
    const io = memoryIo();
    const following = followWorkflow(client, config, workflowIds.dailyPipeline(okDate), {
      io,
      tty: false,
      intervalMs: 200,
      queryTimeoutMs: 800,
    });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(io.stdout.length, 1, 'only the header while no worker runs');
    worker = await startStandInWorker(config);
    const outcome = await following;
    assert.equal(outcome, 'completed');
    const text = io.text();
    assert.match(text, new RegExp(`^following daily-pipeline-${okDate} \\(dailyPipeline\\), run `, 'm'));
    assert.match(text, /^\d\d:\d\d:\d\d step dbt: running$/m);
    assert.match(text, /^\d\d:\d\d:\d\d step dbt: completed: 3 models, 5 tests passed$/m);
    assert.match(text, /^\d\d:\d\d:\d\d ingest patients: completed, 100 rows generated, 100 loaded$/m);
    // Lines are printed on change only: each distinct state at most once.
    const dbtRunning = io.stdout.filter((l) => l.endsWith('step dbt: running'));
    assert.equal(dbtRunning.length, 1);
    assert.match(text, new RegExp(`daily-pipeline-${okDate} completed in `));
    assert.match(text, /^patients\s+1\s+100\s+100\s+loaded$/m);
    assert.match(text, new RegExp(`/workflows/daily-pipeline-${okDate}/[0-9a-f-]+/history$`, 'm'));
  });

  test('a failed run: prints the failing step and the failure, exit code 1 (command, --json)', async () => {
    worker ??= await startStandInWorker(config);
    await start(failDate);
    const io = memoryIo();
    const program = new Command().exitOverride();
    registerFollowCommands(program, { io, config: () => config });
    await program.parseAsync([
      'node',
      'healthsynth',
      'follow',
      workflowIds.dailyPipeline(failDate),
      '--json',
      '--interval',
      '200',
      '--worker',
      'never', // stand-in workflows only: never a real worker on this queue
    ]);
    assert.equal(io.exitCode, 1);
    const result = JSON.parse(io.text());
    assert.equal(result.status, 'failed');
    assert.equal(result.type, 'dailyPipeline');
    assert.match(result.failure, new RegExp(`dailyPipeline ${failDate} failed at step dbt`));
    assert.equal(result.progress.steps.find((s: { name: string }) => s.name === 'dbt').state, 'failed');
    assert.ok(result.webUiUrl.includes(`/workflows/daily-pipeline-${failDate}/`));

    const text = memoryIo();
    const outcome = await followWorkflow(client, config, workflowIds.dailyPipeline(failDate), { io: text, tty: false });
    assert.equal(outcome, 'failed');
    assert.match(
      text.text(),
      new RegExp(`daily-pipeline-${failDate} FAILED after .* at step dbt: dailyPipeline ${failDate} failed`),
    );
  });

  test('a terminated run and an unknown id', async () => {
    worker ??= await startStandInWorker(config);
    const handle = await start(okDate, 5000);
    const io = memoryIo();
    const following = followWorkflow(client, config, handle.workflowId, { io, tty: false, intervalMs: 200 });
    await new Promise((r) => setTimeout(r, 1000));
    await handle.terminate('operator stopped it');
    assert.equal(await following, 'terminated');
    assert.match(io.text(), /TERMINATED after .*operator stopped it/);

    const missing = memoryIo();
    assert.equal(
      await followWorkflow(client, config, `no-such-workflow-${randomUUID()}`, { io: missing }),
      'not_found',
    );
    assert.match(missing.stderr.join(), /not found/);
  });
});
