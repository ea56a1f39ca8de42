/**
 * The standalone worker process (`healthsynth worker`, `npm run worker`) on the real stack:
 *  - it needs only Temporal: started while PostgreSQL, the object store and Slack are unreachable, it polls, runs
 *    what needs none of them and keeps going while their activities fail; the same run then completes once a
 *    worker with live settings takes over;
 *  - pointed at a Temporal server that does not answer, it retries with a message per attempt and exits non-zero
 *    with a clear message when the time is up;
 *  - `npm run worker` and `npx healthsynth worker` are the same process with the same memory settings.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PipelineSummary } from '../../src/domain/types.js';
import { freeLoopbackPort } from '../support/ports.js';
import { REPO_ROOT } from '../../src/stack/toolchain.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/temporal.js';
import { WORKER_PROCESS_SETTINGS } from '../../src/worker-process.js';
import { pollerState } from '../../src/worker-watchdog.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { startWorkerCommand, startWorkerProcess, stopWorker, type WorkerProcess } from '../support/worker-process.js';

/** The environment the worker's process was started with, from /proc. */
async function environOf(pid: number): Promise<Record<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** Settings from the test environment that must not decide the outcome (the worker applies its own). */
function withoutProcessSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _n, MALLOC_ARENA_MAX: _m, ...rest } = env;
  return rest;
}

describe('a worker needs only Temporal to start and to keep polling', () => {
  let h: TestHarness;
  let databaseUrl: string;
  const workers: WorkerProcess[] = [];
  before(async () => {
    databaseUrl = await freshDatabase('hs_worker_outage_test');
    h = await harness(testConfig({ DATABASE_URL: databaseUrl }), { worker: false });
  });
  after(async () => {
    for (const w of workers) await stopWorker(w).catch(() => undefined);
    await h?.close();
  });

  test('PostgreSQL, S3 and Slack down: it polls and keeps running; the run completes on a worker with live settings', async () => {
    const [pgPort, s3Port, slackPort] = await Promise.all([freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort()]);
    const base = { ...process.env, TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue };
    const down = await startWorkerProcess({
      ...base,
      DATABASE_URL: `postgres://healthsynth:healthsynth@127.0.0.1:${pgPort}/nowhere`,
      S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
      SLACK_WEBHOOK_URL: `http://127.0.0.1:${slackPort}/hook`,
    });
    workers.push(down);
    // Its first poll reaches the server a moment after the start line.
    const polls = async () =>
      (await pollerState(h.client, h.config.temporal.namespace, h.config.temporal.taskQueue)).live >= 1;
    for (let i = 0; i < 40 && !(await polls()); i++) await new Promise((r) => setTimeout(r, 250));
    assert.ok(await polls(), 'the worker polls');

    const runDate = uniqueDate();
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.dailyPipeline, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.dailyPipeline(runDate),
      args: [{ runDate, scale: 300 }],
    });
    // The worker runs the workflow and its first activity, and the object store's outage fails a later attempt
    // (which Temporal retries): the worker is still there. The attempt that fails first is the pipeline's read of
    // the day's reminded set (remindedSetFor, before the ingests) or, on a run without it, a generation.
    let failure = '';
    const deadline = Date.now() + 120_000;
    type Pending = NonNullable<Awaited<ReturnType<typeof handle.describe>>['raw']['pendingActivities']>;
    const retried = (pending: Pending | null | undefined) =>
      (pending ?? []).find(
        (a) => (a.attempt ?? 0) >= 2 && ['remindedSetFor', 'generateShard'].includes(a.activityType?.name ?? ''),
      );
    while (!failure) {
      assert.ok(Date.now() < deadline, `no failed attempt in time:\n${down.output()}`);
      assert.equal(down.proc.exitCode, null, `the worker exited:\n${down.output()}`);
      const handles = [handle, ...(await childIngests(h, runDate)).map((child) => h.client.workflow.getHandle(child))];
      for (const x of handles) {
        const failed = retried((await x.describe()).raw.pendingActivities);
        if (failed) failure = failed.lastFailure?.message ?? '';
      }
      if (!failure) await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(failure, /ECONNREFUSED|connect|socket/i);
    const history = await handle.fetchHistory();
    assert.ok(
      history.events?.some((e) => e.activityTaskCompletedEventAttributes),
      'pipelineSettings completed on the worker whose warehouse and object store are down',
    );
    assert.equal(down.proc.exitCode, null, 'still running after the failures');
    assert.ok(await polls(), 'and still polls');

    // The services "come back": a worker with live settings takes over and the same run completes.
    assert.equal(await stopWorker(down), 0, down.output());
    const live = await startWorkerProcess({ ...base, DATABASE_URL: databaseUrl });
    workers.push(live);
    const summary = (await handle.result()) as PipelineSummary;
    for (const r of summary.ingest) assert.equal(r.rowsLoaded, r.rowsGenerated, r.entity);
    assert.equal(await h.warehouse.countBatch('appointments', runDate), 300);
  });

  test('Temporal unreachable: a line per attempt, then it exits non-zero saying what to do', async () => {
    const port = await freeLoopbackPort();
    const proc = spawn(process.execPath, ['bin/healthsynth.js', 'worker', '--connect-timeout', '3'], {
      env: { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, WORKER_METRICS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 1, stderr);
    const address = `127\\.0\\.0\\.1:${port}`;
    assert.match(stderr, new RegExp(`cannot reach Temporal at ${address} \\(attempt 1: .*\\); retrying for up to`));
    assert.match(stderr, new RegExp(`cannot reach Temporal at ${address} \\(attempt 2: `));
    assert.match(
      stderr,
      /gave up after \d+ s\. Start the local stack with `npm run stack:up`, or set TEMPORAL_ADDRESS/,
    );
  });
});

/** The ingest child workflow ids of a pipeline run (they exist once the run has started them). */
async function childIngests(h: TestHarness, runDate: string): Promise<string[]> {
  const ids: string[] = [];
  for (const entity of ['clinics', 'doctors', 'patients', 'appointments', 'records', 'feedback']) {
    const id = workflowIds.ingest(entity, runDate);
    if (
      await h.client.workflow
        .getHandle(id)
        .describe()
        .then(
          () => true,
          () => false,
        )
    )
      ids.push(id);
  }
  return ids;
}

describe('npm run worker and npx healthsynth worker: one process, the same memory settings', () => {
  const config = testConfig();
  for (const [name, command, args] of [
    ['npm run worker', 'npm', ['run', 'worker']],
    ['npx healthsynth worker', 'npx', ['healthsynth', 'worker']],
  ] as const) {
    test(name, async () => {
      const w = await startWorkerCommand(command, args, {
        ...withoutProcessSettings(process.env),
        TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
        WORKER_METRICS_PORT: '0',
      });
      try {
        const env = await environOf(w.workerPid);
        assert.equal(env.MALLOC_ARENA_MAX, WORKER_PROCESS_SETTINGS.mallocArenaMax);
        assert.ok(
          (env.NODE_OPTIONS ?? '').split(/\s+/).includes(WORKER_PROCESS_SETTINGS.nodeOptions),
          `NODE_OPTIONS=${env.NODE_OPTIONS}`,
        );
        // The same entry either way (npx may run it through a link in its cache), after the worker's Node flags.
        const [, ...args] = (await readFile(`/proc/${w.workerPid}/cmdline`, 'utf8')).split('\0');
        for (const flag of WORKER_PROCESS_SETTINGS.nodeFlags) assert.ok(args.includes(flag), args.join(' '));
        const [script, ...rest] = args.filter((a) => !a.startsWith('--'));
        assert.equal(await realpath(script ?? ''), path.join(REPO_ROOT, 'bin', 'healthsynth.js'));
        assert.equal(rest[0], 'worker');
      } finally {
        assert.equal(await stopWorker(w), 0, w.output());
      }
    });
  }
});
