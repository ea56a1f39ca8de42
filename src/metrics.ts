/**
 * Prometheus metrics of the worker, on one port.
 *
 * Two sources end up on the same `/metrics` page: our own pipeline metrics (prom-client, a dedicated
 * {@link Registry} so tests and several workers in one process never clash), and the Temporal SDK's
 * runtime metrics (task slots, poll and activity latencies, workflow completions), which the SDK's
 * Rust core serves from its own exporter. We bind that exporter on an internal loopback port and
 * append its text to ours, so Prometheus scrapes one target per worker. Metric names do not clash:
 * ours start with `healthsynth_`, the SDK's with `temporal_`.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Context as ActivityContext } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, RuntimeOptions } from '@temporalio/worker';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EntityName } from './domain/entities.js';
import type { Channel, NotificationResult } from './domain/types.js';

/** How a daily pipeline run ended, as counted by {@link Metrics.pipelineRun}. */
export type PipelineOutcome = 'completed' | 'failed';

/** How one activity attempt ended, as counted by {@link createActivityMetricsInterceptor}. */
export type ActivityOutcome = 'completed' | 'failed' | 'cancelled';

/** Names of our own metrics, as Prometheus sees them (histograms add `_bucket`, `_sum`, `_count`). */
export const METRIC_NAMES = {
  rowsGenerated: 'healthsynth_rows_generated_total',
  rowsLoaded: 'healthsynth_rows_loaded_total',
  loadDuration: 'healthsynth_load_duration_seconds',
  dbtDuration: 'healthsynth_dbt_duration_seconds',
  dbtTestFailures: 'healthsynth_dbt_test_failures_total',
  notifications: 'healthsynth_notifications_total',
  pipelineRuns: 'healthsynth_pipeline_runs_total',
  activityDuration: 'healthsynth_activity_duration_seconds',
  sdkMetricsUp: 'healthsynth_sdk_metrics_up',
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
 * Our pipeline metrics. Activities call the small methods; the instruments are exposed for tests
 * and for anything the methods do not cover. Counters only ever go up, so a retried activity that
 * records again counts the retried work too (Prometheus `increase()` is what dashboards read).
 */
export interface Metrics {
  readonly registry: Registry;
  readonly rowsGeneratedTotal: Counter<'entity'>;
  readonly rowsLoadedTotal: Counter<'entity'>;
  readonly loadDurationSeconds: Histogram<'entity'>;
  readonly dbtDurationSeconds: Histogram;
  readonly dbtTestFailuresTotal: Counter;
  readonly notificationsTotal: Counter<'channel' | 'status'>;
  readonly pipelineRunsTotal: Counter<'outcome'>;
  readonly activityDurationSeconds: Histogram<'activity' | 'outcome'>;
  /** 1 when the last scrape could read the SDK's runtime metrics, 0 when it could not. */
  readonly sdkMetricsUp: Gauge;
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
  /** Prometheus text exposition of our registry alone. */
  text(): Promise<string>;
}

/** Load times range from a second (small scale, PostgreSQL) to many minutes (large scale). */
const LOAD_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** A dbt build takes tens of seconds locally and minutes on Redshift. */
const DBT_BUCKETS = [1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** Activities range from milliseconds (a notification) to many minutes (a large shard). */
const ACTIVITY_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800];

/**
 * Creates the pipeline metrics in a new registry. Node process metrics (heap, event loop lag, GC)
 * are added too unless `defaultMetrics` is false; they carry no prefix, as Node dashboards expect.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const rowsGeneratedTotal = new Counter({
    name: METRIC_NAMES.rowsGenerated,
    help: 'Rows generated and written to the object store, by entity.',
    labelNames: ['entity'] as const,
    registers,
  });
  const rowsLoadedTotal = new Counter({
    name: METRIC_NAMES.rowsLoaded,
    help: 'Rows loaded into the warehouse raw tables, by entity.',
    labelNames: ['entity'] as const,
    registers,
  });
  const loadDurationSeconds = new Histogram({
    name: METRIC_NAMES.loadDuration,
    help: 'Wall time of one warehouse load of an entity batch.',
    labelNames: ['entity'] as const,
    buckets: LOAD_BUCKETS,
    registers,
  });
  const dbtDurationSeconds = new Histogram({
    name: METRIC_NAMES.dbtDuration,
    help: 'Wall time of one dbt invocation (build: models and tests).',
    buckets: DBT_BUCKETS,
    registers,
  });
  const dbtTestFailuresTotal = new Counter({
    name: METRIC_NAMES.dbtTestFailures,
    help: 'dbt data tests that failed.',
    registers,
  });
  const notificationsTotal = new Counter({
    name: METRIC_NAMES.notifications,
    help: 'Notifications by channel (slack, telegram) and status (delivered, outbox, failed).',
    labelNames: ['channel', 'status'] as const,
    registers,
  });
  const pipelineRunsTotal = new Counter({
    name: METRIC_NAMES.pipelineRuns,
    help: 'Daily pipeline runs by outcome (completed, failed).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const activityDurationSeconds = new Histogram({
    name: METRIC_NAMES.activityDuration,
    help: 'Wall time of one activity attempt in this worker, by activity type and outcome.',
    labelNames: ['activity', 'outcome'] as const,
    buckets: ACTIVITY_BUCKETS,
    registers,
  });
  const sdkMetricsUp = new Gauge({
    name: METRIC_NAMES.sdkMetricsUp,
    help: 'Whether the last scrape could read the Temporal SDK runtime metrics (1) or not (0).',
    registers,
  });

  const nonNegative = (what: string, n: number): number => {
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`${what} must be a finite number >= 0, got ${n}`);
    return n;
  };

  return {
    registry,
    rowsGeneratedTotal,
    rowsLoadedTotal,
    loadDurationSeconds,
    dbtDurationSeconds,
    dbtTestFailuresTotal,
    notificationsTotal,
    pipelineRunsTotal,
    activityDurationSeconds,
    sdkMetricsUp,
    rowsGenerated(entity, rows) {
      rowsGeneratedTotal.inc({ entity }, nonNegative('rows', rows));
    },
    loadFinished(entity, rows, seconds) {
      rowsLoadedTotal.inc({ entity }, nonNegative('rows', rows));
      loadDurationSeconds.observe({ entity }, nonNegative('seconds', seconds));
    },
    dbtFinished(seconds, testFailures) {
      dbtDurationSeconds.observe(nonNegative('seconds', seconds));
      dbtTestFailuresTotal.inc(nonNegative('testFailures', testFailures));
    },
    notification(channel, status) {
      notificationsTotal.inc({ channel, status });
    },
    pipelineRun(outcome) {
      pipelineRunsTotal.inc({ outcome });
    },
    text() {
      return registry.metrics();
    },
  };
}

/**
 * Telemetry options that make the SDK's Rust core serve Prometheus metrics on
 * `127.0.0.1:<internalPort>`. Counters get `_total` and durations are in seconds with a
 * `_seconds` suffix, as Prometheus conventions (and Temporal's published dashboards) expect.
 */
export function runtimeTelemetryOptions(internalPort: number): NonNullable<RuntimeOptions['telemetryOptions']> {
  return {
    metrics: {
      prometheus: {
        bindAddress: `127.0.0.1:${internalPort}`,
        countersTotalSuffix: true,
        unitSuffix: true,
        useSecondsForDurations: true,
      },
    },
  };
}

/**
 * Installs the Temporal SDK runtime with its Prometheus exporter on `127.0.0.1:<internalPort>`,
 * merged into `options` (a logger, shutdown signals...). Must run before any Worker or
 * NativeConnection is created, and only once per process: the SDK runtime is a singleton, and a
 * second call throws the SDK's IllegalStateError. Returns the URL to pass as `sdkUrl` to
 * {@link startMetricsServer}.
 */
export function installRuntimeMetrics(
  internalPort: number,
  options: Omit<RuntimeOptions, 'telemetryOptions'> & { telemetryOptions?: RuntimeOptions['telemetryOptions'] } = {},
): { runtime: Runtime; sdkUrl: string } {
  const telemetry = runtimeTelemetryOptions(internalPort);
  const runtime = Runtime.install({
    ...options,
    telemetryOptions: { ...options.telemetryOptions, metrics: telemetry.metrics },
  });
  return { runtime, sdkUrl: `http://127.0.0.1:${internalPort}/metrics` };
}

/**
 * Asks the OS for a free loopback port (listen on port 0, read it, close). Another process could
 * take the port before the SDK binds it; on a worker host that race is practically nil.
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The scrape URL, e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default 127.0.0.1; a container sets 0.0.0.0 so Prometheus can reach it. */
  host?: string;
  /** The SDK exporter's URL from {@link installRuntimeMetrics}; its text is appended to ours. */
  sdkUrl?: string;
  /** How long a scrape waits for the SDK exporter before serving our metrics alone. Default 2000 ms. */
  sdkTimeoutMs?: number;
}

/**
 * Serves `GET /metrics` (our registry, then the SDK's metrics when `sdkUrl` is given) and
 * `GET /healthz` (200 "ok", for container health checks). If the SDK exporter does not answer,
 * the scrape still succeeds with our metrics and `healthsynth_sdk_metrics_up 0`, so one broken
 * source never hides the other.
 */
export async function startMetricsServer(metrics: Metrics, options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const sdkTimeoutMs = options.sdkTimeoutMs ?? 2_000;

  async function sdkText(): Promise<string> {
    if (!options.sdkUrl) return '';
    try {
      const res = await fetch(options.sdkUrl, { signal: AbortSignal.timeout(sdkTimeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      metrics.sdkMetricsUp.set(1);
      return text;
    } catch (err) {
      metrics.sdkMetricsUp.set(0);
      return `# Temporal SDK metrics unavailable from ${options.sdkUrl}: ${(err as Error).message}\n`;
    }
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    // SDK first so the gauge reflects this scrape; then ours, then the SDK's text.
    sdkText()
      .then(async (sdk) => {
        const ours = await metrics.text();
        const body = sdk ? `${ours.endsWith('\n') ? ours : `${ours}\n`}${sdk}` : ours;
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(req.method === 'HEAD' ? '' : body);
      })
      .catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Times one activity attempt into `healthsynth_activity_duration_seconds{activity,outcome}`. */
class ActivityMetricsInbound implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly metrics: Metrics,
    private readonly ctx: ActivityContext,
  ) {}

  async execute(
    input: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[0],
    next: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[1],
  ): Promise<unknown> {
    const activity = this.ctx.info.activityType;
    const stop = this.metrics.activityDurationSeconds.startTimer({ activity });
    try {
      const result = await next(input);
      stop({ outcome: 'completed' });
      return result;
    } catch (err) {
      const outcome: ActivityOutcome =
        err instanceof CancelledFailure || this.ctx.cancellationSignal.aborted ? 'cancelled' : 'failed';
      stop({ outcome });
      throw err;
    }
  }
}

/**
 * An activity interceptor factory that records every activity attempt's wall time and outcome,
 * so activities need no metrics code of their own for timing. Pass it to the Worker:
 * `interceptors: { activity: [createActivityMetricsInterceptor(metrics)] }`. Each retry is a new
 * attempt and is recorded on its own.
 */
export function createActivityMetricsInterceptor(metrics: Metrics): ActivityInterceptorsFactory {
  return (ctx) => ({ inbound: new ActivityMetricsInbound(metrics, ctx) });
}
