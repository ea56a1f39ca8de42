/**
 * `npm run demo`, the README's main command, run as a user would: a separate process that sets up
 * what is missing, reuses the stack `npm test` brought up, runs a worker and the pipeline, and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { ObjectStore } from '../../src/activities/storage.js';
import { loadConfig } from '../../src/config.js';
import { freshDatabase, uniqueDate } from '../support/env.js';

test('npm run demo runs the pipeline end to end and prints where the chart and the run are', async () => {
  const date = uniqueDate();
  const databaseUrl = await freshDatabase('hs_demo_test');
  const proc = spawn('npm', ['run', 'demo', '--', '--date', date, '--scale', '300'], {
    env: { ...process.env, TEMPORAL_TASK_QUEUE: `demo-test-${process.pid}`, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  assert.equal(code, 0, out);

  assert.match(out, new RegExp(`^run ${date} \\(scale 300\\)$`, 'm'));
  assert.match(out, /^appointments\s+1\s+300\s+300\s+loaded$/m);
  assert.match(out, /dbt: ok, \d+ models, \d+ tests passed, 0 failed/);
  const chart = new RegExp(`Chart: s3://[^/]+/(reports/dt=${date}/doctor-rating\\.png)`).exec(out);
  assert.ok(chart?.[1], `no chart line in:\n${out}`);
  assert.match(
    out,
    new RegExp(`Web UI: http://127\\.0\\.0\\.1:\\d+/namespaces/default/workflows/daily-pipeline-${date}/`),
  );

  const store = ObjectStore.fromConfig(loadConfig().s3);
  const head = await store.head(chart[1]);
  assert.ok(head && head.size > 10_000, 'the chart is in the object store');
});
