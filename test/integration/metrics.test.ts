/**
 * The worker's /metrics endpoint (the Temporal SDK's Prometheus exporter) against real services: our
 * metrics, emitted through the runtime's meter, with exact values; the SDK's runtime metrics after a
 * real worker ran real workflows on the dev server; and the server metric names our dashboard queries.
 *
 * The SDK runtime is a process-wide singleton that can be installed once, and node's test runner
 * runs each test file in its own process, so this file installs it once in `before` and no other
 * test file may create a Worker expecting its own runtime options.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config.js';
import {
  METRIC_NAMES,
  SDK_METRIC_NAMES,
  SERVER_METRIC_NAMES,
  createMetrics,
  installRuntimeMetrics,
  recordProcessMetrics,
  type Metrics,
} from '../../src/metrics.js';
import { freeLoopbackPort } from '../support/ports.js';
import * as probeActivities from './fixtures/metrics-activities.js';
import type { metricsProbe, metricsProbeFails } from './fixtures/metrics-workflows.js';

/** One sample line of the text exposition format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    assert.ok(m, `not a valid exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]!] = lm[2]!;
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels`. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

/** Whether a metric family (histograms: any of its series) appears in the samples. */
function hasFamily(samples: Sample[], name: string): boolean {
  return samples.some((s) => [name, `${name}_bucket`, `${name}_count`, `${name}_sum`].includes(s.name));
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[]; contentType: string | null }> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  const text = await res.text();
  return { text, samples: parseExposition(text), contentType: res.headers.get('content-type') };
}

describe('worker metrics endpoint', () => {
  const config = loadConfig();
  let metrics: Metrics;
  let url: string;
  let stopProcessMetrics: (() => void) | undefined;

  before(async () => {
    const { runtime, url: metricsUrl } = installRuntimeMetrics('127.0.0.1', await freeLoopbackPort(), {
      logger: new DefaultLogger('ERROR'),
    });
    url = metricsUrl;
    metrics = createMetrics(runtime.metricMeter);
    stopProcessMetrics = recordProcessMetrics(runtime.metricMeter);
  });

  after(() => {
    stopProcessMetrics?.();
  });

  test('serves our metrics with the exact recorded values', async () => {
    metrics.rowsGenerated('patients', 120);
    metrics.rowsGenerated('patients', 80);
    metrics.rowsGenerated('doctors', 7);
    metrics.loadFinished('patients', 200, 1.5);
    metrics.dbtFinished(42, 3);
    metrics.notification('slack', 'delivered');
    metrics.notification('telegram', 'failed');
    metrics.notification('telegram', 'failed');
    metrics.pipelineRun('completed');

    const { samples, contentType } = await scrape(url);
    assert.match(contentType ?? '', /^text\/plain/);
    assert.equal(valueOf(samples, METRIC_NAMES.rowsGenerated, { entity: 'patients' }), 200);
    assert.equal(valueOf(samples, METRIC_NAMES.rowsGenerated, { entity: 'doctors' }), 7);
    assert.equal(valueOf(samples, METRIC_NAMES.rowsLoaded, { entity: 'patients' }), 200);
    assert.equal(valueOf(samples, `${METRIC_NAMES.loadDuration}_count`, { entity: 'patients' }), 1);
    assert.equal(valueOf(samples, `${METRIC_NAMES.loadDuration}_sum`, { entity: 'patients' }), 1.5);
    assert.equal(valueOf(samples, `${METRIC_NAMES.loadDuration}_bucket`, { entity: 'patients', le: '1' }), 0);
    assert.equal(valueOf(samples, `${METRIC_NAMES.loadDuration}_bucket`, { entity: 'patients', le: '2.5' }), 1);
    assert.equal(valueOf(samples, `${METRIC_NAMES.dbtDuration}_count`), 1);
    assert.equal(valueOf(samples, `${METRIC_NAMES.dbtDuration}_sum`), 42);
    assert.equal(valueOf(samples, METRIC_NAMES.dbtTestFailures), 3);
    assert.equal(valueOf(samples, METRIC_NAMES.notifications, { channel: 'slack', status: 'delivered' }), 1);
    assert.equal(valueOf(samples, METRIC_NAMES.notifications, { channel: 'telegram', status: 'failed' }), 2);
    assert.equal(valueOf(samples, METRIC_NAMES.pipelineRuns, { outcome: 'completed' }), 1);
    assert.ok((valueOf(samples, METRIC_NAMES.heapUsed) ?? 0) > 0, 'node process metrics are collected');
    assert.ok((valueOf(samples, METRIC_NAMES.eventLoopLagP99) ?? -1) >= 0, 'event loop lag is sampled');
    assert.throws(() => metrics.rowsGenerated('patients', -1), RangeError);
  });

  test('answers the health check on /metrics and rejects other paths', async () => {
    // The Dockerfile's and docker-compose's health checks fetch /metrics and need a 2xx.
    const health = await fetch(url);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const missing = await fetch(url.replace(/\/metrics$/, '/nope'));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });

  test('appends the SDK runtime metrics once a worker ran workflows and activities', async () => {
    const taskQueue = `metrics-test-${randomUUID()}`;
    const connection = await NativeConnection.connect({ address: config.temporal.address });
    const clientConnection = await Connection.connect({ address: config.temporal.address });
    try {
      const worker = await Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue,
        workflowsPath: fileURLToPath(new URL('./fixtures/metrics-workflows.ts', import.meta.url)),
        activities: probeActivities,
      });
      const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
      const scraped = await worker.runUntil(async () => {
        const greeting = await client.workflow.execute<typeof metricsProbe>('metricsProbe', {
          taskQueue,
          workflowId: `metrics-probe-${randomUUID()}`,
          args: ['metrics'],
        });
        assert.equal(greeting, 'hello metrics');
        await assert.rejects(
          client.workflow.execute<typeof metricsProbeFails>('metricsProbeFails', {
            taskQueue,
            workflowId: `metrics-probe-fails-${randomUUID()}`,
          }),
          WorkflowFailedError,
        );
        // Scrape while the worker runs: the SDK runtime (and its exporter) shuts down with its last worker. The
        // worker counts a workflow task's outcome after the server has it, so a client can see a failed workflow a
        // moment before its counter moves: scrape until every SDK metric is there (at most 5 s).
        const deadline = Date.now() + 5_000;
        for (;;) {
          const page = await scrape(url);
          if (SDK_METRIC_NAMES.every((name) => hasFamily(page.samples, name)) || Date.now() > deadline) return page;
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      const { samples } = scraped;

      assert.ok((valueOf(samples, METRIC_NAMES.rowsGenerated, { entity: 'patients' }) ?? 0) >= 200, 'ours still there');
      const missing = SDK_METRIC_NAMES.filter((name) => !hasFamily(samples, name));
      assert.deepEqual(missing, [], 'every SDK metric the dashboard uses appears in a real scrape');
      const onQueue = (name: string, labels: Record<string, string> = {}) =>
        samples
          .filter((s) => s.name === name && s.labels.task_queue === taskQueue)
          .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
          .reduce((sum, s) => sum + s.value, 0);
      assert.equal(onQueue('temporal_workflow_completed_total', { workflow_type: 'metricsProbe' }), 1);
      assert.equal(onQueue('temporal_workflow_failed_total', { workflow_type: 'metricsProbeFails' }), 1);
      assert.equal(onQueue('temporal_activity_execution_failed_total', { activity_type: 'rejectInput' }), 1);
      assert.equal(onQueue('temporal_activity_execution_failed_total', { activity_type: 'greet' }), 0);
      assert.equal(
        onQueue('temporal_activity_execution_latency_seconds_count', { activity_type: 'greet' }),
        1,
        'one greet execution timed by the SDK',
      );
    } finally {
      await clientConnection.close();
      await connection.close();
    }
  });

  test('the Temporal server exposes the metrics the dashboard queries', async () => {
    const serverUrl = `http://127.0.0.1:${config.localPorts.temporalMetrics}/metrics`;
    const res = await fetch(serverUrl).catch((err: Error) => {
      throw new Error(`Temporal server metrics not reachable at ${serverUrl} (${err.message}); is the local stack up?`);
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    const names = new Set(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/[{\s]/)[0]!),
    );
    const missing = SERVER_METRIC_NAMES.filter(
      (n) => !names.has(n) && !names.has(`${n}_bucket`) && !names.has(`${n}_total`),
    );
    assert.deepEqual(missing, []);
  });
});
