/**
 * Prometheus metrics of the worker, on one port, from one source: the Temporal SDK's own exporter.
 *
 * {@link installRuntimeMetrics} makes the SDK's Rust core serve `/metrics` on WORKER_METRICS_HOST:PORT.
 * It shows the SDK's runtime metrics (task slots, poll and activity latencies, workflow completions) and
 * ours, which we emit through the runtime's metric meter ({@link createMetrics}, {@link recordProcessMetrics}).
 * Names do not clash: ours start with `healthsynth_` (the Node process's with `nodejs_`), the SDK's with
 * `temporal_`. Activity durations and failures are the SDK's (`temporal_activity_execution_latency_seconds`,
 * `temporal_activity_execution_failed_total`), so we do not time activities ourselves.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetricMeter } from '@temporalio/common';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { EntityName } from './domain/entities.js';
import type { Channel, NotificationResult } from './domain/types.js';

/** How a daily pipeline run ended, as counted by {@link Metrics.pipelineRun}. */
export type PipelineOutcome = 'completed' | 'failed';

/**
 * Names of our own metrics, as Prometheus sees them (histograms add `_bucket`, `_sum`, `_count`). Counters
 * are created without `_total`; the exporter appends it (`countersTotalSuffix`).
 */
export const METRIC_NAMES = {
  rowsGenerated: 'healthsynth_rows_generated_total',
  rowsLoaded: 'healthsynth_rows_loaded_total',
  loadDuration: 'healthsynth_load_duration_seconds',
  dbtDuration: 'healthsynth_dbt_duration_seconds',
  dbtTestFailures: 'healthsynth_dbt_test_failures_total',
  notifications: 'healthsynth_notifications_total',
  pipelineRuns: 'healthsynth_pipeline_runs_total',
  eventLoopLagP99: 'nodejs_eventloop_lag_p99_seconds',
  heapUsed: 'nodejs_heap_size_used_bytes',
} as const;

/**
 * The SDK and Temporal server metrics our dashboard and alerts use. The SDK names follow the
 * exporter options of {@link runtimeTelemetryOptions} (`_total` on counters, `_seconds` on
 * durations); the integration test scrapes a real worker and a real server and checks every one.
 */
export const SDK_METRIC_NAMES = [
  'temporal_workflow_completed_total',
  'temporal_workflow_failed_total',
  'temporal_workflow_endtoend_latency_seconds',
  'temporal_activity_execution_latency_seconds',
  'temporal_activity_schedule_to_start_latency_seconds',
  'temporal_activity_execution_failed_total',
  'temporal_workflow_task_schedule_to_start_latency_seconds',
  'temporal_worker_task_slots_available',
] as const;

/** Temporal server metrics the dashboard uses (server's Prometheus endpoint, `service_name` label). */
export const SERVER_METRIC_NAMES = ['service_requests', 'service_error_with_type', 'service_latency'] as const;

/**
 * Our pipeline metrics. Activities call these methods. Counters only ever go up, so a retried activity
 * that records again counts the retried work too (Prometheus `increase()` is what dashboards read).
 */
export interface Metrics {
  /** Adds `rows` generated rows of `entity` (one shard written to the object store). */
  rowsGenerated(entity: EntityName, rows: number): void;
  /** Records one finished load of `entity`: rows written and how long it took. */
  loadFinished(entity: EntityName, rows: number, seconds: number): void;
  /** Records one dbt invocation: wall time and how many data tests failed. */
  dbtFinished(seconds: number, testFailures: number): void;
  /** Counts one notification by channel and outcome (delivered, outbox, failed). */
  notification(channel: Channel, status: NotificationResult['status']): void;
  /** Counts one daily pipeline run by how it ended. */
  pipelineRun(outcome: PipelineOutcome): void;
}

/** Load times range from a second (small scale, PostgreSQL) to many minutes (large scale). */
const LOAD_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** A dbt build takes tens of seconds locally and minutes on Redshift. */
const DBT_BUCKETS = [1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/**
 * Creates the pipeline metrics on `meter`: the runtime's (`Runtime.instance().metricMeter`), which is a
 * no-op unless the runtime was installed with a metrics exporter, so workers inside commands and tests
 * record nothing and need no metrics code of their own.
 */
export function createMetrics(meter: MetricMeter): Metrics {
  // Counters are created without `_total` (the exporter appends it); histograms hold seconds.
  const counter = (name: string, help: string) => meter.createCounter(name.replace(/_total$/, ''), '', help);
  const seconds = (name: string, help: string) => meter.createHistogram(name, 'float', '', help);
  const rowsGenerated = counter(
    METRIC_NAMES.rowsGenerated,
    'Rows generated and written to the object store, by entity.',
  );
  const rowsLoaded = counter(METRIC_NAMES.rowsLoaded, 'Rows loaded into the warehouse raw tables, by entity.');
  const loadDuration = seconds(METRIC_NAMES.loadDuration, 'Wall time of one warehouse load of an entity batch.');
  const dbtDuration = seconds(METRIC_NAMES.dbtDuration, 'Wall time of one dbt invocation (build: models and tests).');
  const dbtTestFailures = counter(METRIC_NAMES.dbtTestFailures, 'dbt data tests that failed.');
  const notifications = counter(
    METRIC_NAMES.notifications,
    'Notifications by channel (slack, telegram) and status (delivered, outbox, failed).',
  );
  const pipelineRuns = counter(METRIC_NAMES.pipelineRuns, 'Daily pipeline runs by outcome (completed, failed).');

  const nonNegative = (what: string, n: number): number => {
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`${what} must be a finite number >= 0, got ${n}`);
    return n;
  };

  return {
    rowsGenerated(entity, rows) {
      rowsGenerated.add(nonNegative('rows', rows), { entity });
    },
    loadFinished(entity, rows, seconds) {
      rowsLoaded.add(nonNegative('rows', rows), { entity });
      loadDuration.record(nonNegative('seconds', seconds), { entity });
    },
    dbtFinished(seconds, testFailures) {
      dbtDuration.record(nonNegative('seconds', seconds));
      dbtTestFailures.add(nonNegative('testFailures', testFailures));
    },
    notification(channel, status) {
      notifications.add(1, { channel, status });
    },
    pipelineRun(outcome) {
      pipelineRuns.add(1, { outcome });
    },
  };
}

/**
 * Samples the Node process into two gauges on `meter` every `intervalMs` (and once now): the event
 * loop's 99th-percentile delay since the last sample (sustained lag delays heartbeats) and the heap in
 * use. Returns a function that stops sampling.
 */
export function recordProcessMetrics(meter: MetricMeter, intervalMs = 5_000): () => void {
  const lag = meter.createGauge(
    METRIC_NAMES.eventLoopLagP99,
    'float',
    '',
    'Event loop delay of the worker process, 99th percentile.',
  );
  const heap = meter.createGauge(METRIC_NAMES.heapUsed, 'int', '', 'Heap used by the worker process.');
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const sample = () => {
    lag.set(delay.count > 0 ? delay.percentile(99) / 1e9 : 0);
    heap.set(process.memoryUsage().heapUsed);
    delay.reset();
  };
  sample();
  const timer = setInterval(sample, intervalMs).unref();
  return () => {
    clearInterval(timer);
    delay.disable();
  };
}

/**
 * Telemetry options that make the SDK's Rust core serve Prometheus metrics on `<host>:<port>/metrics`.
 * Counters get `_total` and durations are in seconds with a `_seconds` suffix, as Prometheus conventions
 * (and Temporal's published dashboards) expect; our histograms get their own buckets.
 */
export function runtimeTelemetryOptions(host: string, port: number): NonNullable<RuntimeOptions['telemetryOptions']> {
  return {
    metrics: {
      prometheus: {
        bindAddress: `${host.includes(':') ? `[${host}]` : host}:${port}`,
        countersTotalSuffix: true,
        unitSuffix: true,
        useSecondsForDurations: true,
        histogramBucketOverrides: {
          [METRIC_NAMES.loadDuration]: LOAD_BUCKETS,
          [METRIC_NAMES.dbtDuration]: DBT_BUCKETS,
        },
      },
    },
  };
}

/**
 * Installs the Temporal SDK runtime with its Prometheus exporter listening on `<host>:<port>`, merged into
 * `options` (a logger...). Must run before any Worker or NativeConnection is created, and only once per
 * process: the SDK runtime is a singleton, and a second call throws the SDK's IllegalStateError. The
 * exporter serves while the runtime lives, which is as long as a connection or worker is open (the SDK
 * shuts an idle runtime down and starts it again, with these options, on the next connection).
 */
export function installRuntimeMetrics(
  host: string,
  port: number,
  options: Omit<RuntimeOptions, 'telemetryOptions'> & { telemetryOptions?: RuntimeOptions['telemetryOptions'] } = {},
): { runtime: Runtime; url: string } {
  const telemetry = runtimeTelemetryOptions(host, port);
  const runtime = Runtime.install({
    ...options,
    telemetryOptions: { ...options.telemetryOptions, metrics: telemetry.metrics },
  });
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { runtime, url: `http://${urlHost}:${port}/metrics` };
}
