/**
 * The Health Synth worker: connects to Temporal, builds the activities with real clients, runs the
 * `healthsynth` task queue and shuts down cleanly on SIGINT/SIGTERM (in-flight activities get a grace
 * period, then the connection and database pool close).
 */
import { fileURLToPath } from 'node:url';
import pRetry from 'p-retry';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities/index.js';
import { createNotifier } from './activities/notifier.js';
import { ObjectStore } from './activities/storage.js';
import { createWarehouse, type Warehouse } from './activities/warehouse/index.js';
import { dataConverterFor } from './codec.js';
import { loadConfig, type Config } from './config.js';
import { createMetrics, installRuntimeMetrics, recordProcessMetrics } from './metrics.js';
import { connectionOptions } from './temporal.js';
import { workflowBundlePath } from './workflow-bundle.js';
import { stopWithParent } from './worker-process.js';

export { WORKFLOWS_PATH } from './workflow-bundle.js';

export { WORKER_PROCESS_SETTINGS, workerNodeFlags, workerProcessEnv } from './worker-process.js';

/** How long the standalone worker keeps trying to reach Temporal at start before it exits (see {@link connectWithRetry}). */
export const WORKER_CONNECT_RETRY_MS = 60_000;

/**
 * Connects to Temporal, retrying with exponential backoff (1 s doubling to 15 s) for up to `retryForMs`, with a
 * line per failed attempt, so a worker started alongside a restarting server waits for it instead of dying at
 * once. Throws a message naming the address and what to do once the time is up.
 */
export async function connectWithRetry(
  config: Config,
  { retryForMs = WORKER_CONNECT_RETRY_MS, log = (line: string) => console.error(line) } = {},
): Promise<NativeConnection> {
  const { address } = config.temporal;
  const options = await connectionOptions(config.temporal);
  const started = Date.now();
  try {
    return await pRetry(() => NativeConnection.connect(options), {
      retries: retryForMs > 0 ? 1_000 : 0,
      factor: 2,
      minTimeout: 1_000,
      maxTimeout: 15_000,
      maxRetryTime: retryForMs,
      onFailedAttempt: (err) => {
        const left = Math.max(0, Math.round((retryForMs - (Date.now() - started)) / 1000));
        if (left > 0) {
          log(
            `healthsynth worker: cannot reach Temporal at ${address} (attempt ${err.attemptNumber}: ${err.message}); ` +
              `retrying for up to ${left} s more`,
          );
        }
      },
    });
  } catch (err) {
    const gaveUp = retryForMs > 0 ? `; gave up after ${Math.round((Date.now() - started) / 1000)} s` : '';
    throw new Error(
      `worker cannot reach Temporal at ${address} (${(err as Error).message})${gaveUp}. ` +
        'Start the local stack with `npm run stack:up`, or set TEMPORAL_ADDRESS to a reachable server',
    );
  }
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped and its resources are closed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * For workers started inside a command (run, demo, tests): the SDK logs warnings and errors only, so
 * its bundling and state-change lines do not drown the command's own output. Runtime.install works once
 * per process, before the first connection; later calls are no-ops.
 */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by someone else in this process (e.g. with metrics): keep theirs.
  }
}

/**
 * Creates a worker with real dependencies and starts it. `overrides` lets tests use a different task
 * queue or wrap activities (fault injection); production passes nothing.
 */
export async function startWorker(
  config: Config,
  overrides: Partial<Pick<WorkerOptions, 'taskQueue' | 'activities'>> & {
    wrapActivities?: (a: ReturnType<typeof createActivities>) => object;
    /** An open connection to use (and close at the end); default: one attempt to connect now. */
    connection?: NativeConnection;
  } = {},
): Promise<RunningWorker> {
  const connection = overrides.connection ?? (await connectWithRetry(config, { retryForMs: 0 }));
  // Nothing here touches the warehouse, the object store, Slack or Telegram: only Temporal is needed to poll.
  // Their clients connect on first use, the activities that need the raw tables create them (loadBatch,
  // cleanup), and an outage fails those activities, which Temporal retries, instead of the worker.
  const store = ObjectStore.fromConfig(config.s3);
  const warehouse: Warehouse = createWarehouse(config, store);
  // The runtime's meter: the standalone worker's exporter, or a no-op when the runtime has no metrics.
  const metrics = createMetrics(Runtime.instance().metricMeter);
  const activities = createActivities({ config, store, warehouse, notifier: createNotifier(config), metrics });

  const dataConverter = dataConverterFor(config);
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: overrides.taskQueue ?? config.temporal.taskQueue,
      workflowBundle: { codePath: await workflowBundlePath(config.dataDir, dataConverter) },
      activities: overrides.activities ?? overrides.wrapActivities?.(activities) ?? activities,
      dataConverter,
      shutdownGraceTime: '20 seconds',
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      // reuseV8Context stays on (the SDK's default in 1.24): one workflow thread, one V8 isolate with the bundle,
      // serves every workflow. The cache keeps the SDK's default (from the heap limit, about 2,300 here) unless
      // WORKER_MAX_CACHED_WORKFLOWS bounds it: 500 cost 7% of the reminder send rate with 1,000 reminders open and
      // saved no memory (README, worker memory). A workflow evicted from it replays its history at its next task.
      ...(config.workerMaxCachedWorkflows !== undefined
        ? {
            maxCachedWorkflows: config.workerMaxCachedWorkflows,
            // The SDK's 40 workflow tasks at once, but never more than the cache holds (the SDK requires it).
            maxConcurrentWorkflowTaskExecutions: Math.min(40, config.workerMaxCachedWorkflows),
          }
        : {}),
    });
  } catch (err) {
    await warehouse.close();
    await connection.close();
    throw err;
  }
  const done = worker.run().finally(async () => {
    await warehouse.close();
    await connection.close();
  });
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/**
 * The standalone worker process: the Temporal SDK's Prometheus exporter on WORKER_METRICS_HOST:PORT (0 turns
 * it off), serving the SDK's metrics and ours, then the worker until SIGINT/SIGTERM.
 */
export async function runWorkerProcess(
  config: Config,
  { connectRetryMs = WORKER_CONNECT_RETRY_MS }: { connectRetryMs?: number } = {},
): Promise<void> {
  stopWithParent();
  let metricsUrl: string | undefined;
  if (config.workerMetricsPort !== 0) {
    runtimeInstalled = true;
    const { workerMetricsHost: host, workerMetricsPort: port } = config;
    try {
      ({ url: metricsUrl } = installRuntimeMetrics(host, port));
    } catch (err) {
      throw new Error(
        `worker cannot serve metrics on ${host}:${port} (WORKER_METRICS_HOST, WORKER_METRICS_PORT): ` +
          `${(err as Error).message}. Set WORKER_METRICS_PORT to a free port, or 0 to turn metrics off`,
      );
    }
  }
  const connection = await connectWithRetry(config, { retryForMs: connectRetryMs });
  const stopProcessMetrics = recordProcessMetrics(Runtime.instance().metricMeter);
  try {
    const running = await startWorker(config, { connection });
    console.log(
      `healthsynth worker: polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address} ` +
        `(namespace ${config.temporal.namespace}, pid ${process.pid})${metricsUrl ? `, metrics on ${metricsUrl}` : ''}; ` +
        'Ctrl-C stops it',
    );
    await running.done;
  } finally {
    stopProcessMetrics();
  }
  console.log('healthsynth worker: stopped');
}

async function main(): Promise<void> {
  await runWorkerProcess(loadConfig());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
