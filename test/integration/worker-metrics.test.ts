/**
 * The real worker process (`src/worker.ts`) serves Prometheus metrics; after a real pipeline run its
 * counters equal what the run reports, and the Temporal SDK's own metrics are on the same page.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { PipelineSummary } from '../../src/domain/types.js';
import { freeLoopbackPort } from '../support/ports.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/temporal.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';

let h: TestHarness;
let env: NodeJS.ProcessEnv;
before(async () => {
  env = { ...process.env, DATABASE_URL: await freshDatabase('hs_worker_metrics_test') };
  h = await harness(testConfig({ DATABASE_URL: env.DATABASE_URL as string }), { worker: false });
  env.TEMPORAL_TASK_QUEUE = h.config.temporal.taskQueue;
});
after(async () => {
  await h.close();
});

/** The value of one sample line, e.g. metric('healthsynth_rows_loaded_total', { entity: 'patients' }). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return undefined;
}

test('after a pipeline run, the worker metrics count exactly the rows and runs it reports', async () => {
  const port = await freeLoopbackPort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    env: { ...env, WORKER_METRICS_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    while (!output.includes('polling task queue')) {
      assert.ok(Date.now() < deadline && proc.exitCode === null, `worker did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const runDate = uniqueDate();
    const summary: PipelineSummary = await h.client.workflow.execute(WORKFLOW_TYPES.dailyPipeline, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.dailyPipeline(runDate),
      args: [{ runDate, scale: 300 }],
    });

    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const r of summary.ingest) {
      assert.equal(sample(text, 'healthsynth_rows_generated_total', { entity: r.entity }), r.rowsGenerated, r.entity);
      assert.equal(sample(text, 'healthsynth_rows_loaded_total', { entity: r.entity }), r.rowsLoaded, r.entity);
      assert.equal(sample(text, 'healthsynth_load_duration_seconds_count', { entity: r.entity }), 1, r.entity);
    }
    assert.equal(sample(text, 'healthsynth_dbt_duration_seconds_count'), 1);
    assert.equal(sample(text, 'healthsynth_dbt_test_failures_total'), 0);
    assert.equal(sample(text, 'healthsynth_pipeline_runs_total', { outcome: 'completed' }), 1);
    const sent = [
      ...summary.notifications,
      ...(summary.report && 'notifications' in summary.report ? summary.report.notifications : []),
      ...(summary.cleanup && 'notifications' in summary.cleanup ? summary.cleanup.notifications : []),
    ];
    // Chart, cleanup note and summary are staff messages: each on Slack and on the staff Telegram chat (outbox).
    for (const channel of ['slack', 'telegram'] as const) {
      const outbox = sent.filter((n) => n.channel === channel && n.status === 'outbox').length;
      assert.equal(outbox, 3, `${channel} outbox results`);
      assert.equal(sample(text, 'healthsynth_notifications_total', { channel, status: 'outbox' }), outbox, channel);
    }
    assert.ok(
      sample(text, 'temporal_workflow_completed_total', { workflow_type: 'dailyPipeline' }) === 1,
      'SDK metrics on the same page',
    );
    assert.ok((sample(text, 'nodejs_heap_size_used_bytes') ?? 0) > 0, 'the worker process samples its heap');
  } finally {
    proc.kill('SIGTERM');
    if (proc.exitCode === null) await once(proc, 'exit');
  }
});
