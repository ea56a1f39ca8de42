/**
 * The Health Synth worker: connects to Temporal, builds the activities with real clients, runs the
 * `healthsynth` task queue and shuts down cleanly on SIGINT/SIGTERM (in-flight activities get a grace
 * period, then the connection and database pool close).
 */
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities/index.js';
import { createNotifier } from './activities/notify.js';
import { ObjectStore } from './activities/storage.js';
import { createWarehouse, type Warehouse } from './activities/warehouse/index.js';
import { dataConverterFor } from './codec.js';
import { loadConfig, type Config } from './config.js';
import {
  createActivityMetricsInterceptor,
  createMetrics,
  freeLoopbackPort,
  installRuntimeMetrics,
  startMetricsServer,
  type Metrics,
} from './metrics.js';
import { connectionOptions } from './temporal.js';
import { workflowBundlePath } from './workflow-bundle.js';

export { WORKFLOWS_PATH } from './workflow-bundle.js';

/**
 * Process settings the standalone worker is launched with (Dockerfile, `npm run worker`, the bench), because
 * they only take effect at process start. Measured with `npm run bench -- --skip generation,load` (peak RSS of
 * the worker process, medium / large): 382 / 463 MB without them, 307 / 371 MB with them, wall time unchanged.
 * - `--max-semi-space-size=2` (MB; Node 20's default grows to 16): the generator hands out a 64 KiB Buffer per
 *   chunk, whose memory outside the JS heap is freed only when a young-generation collection finds its small
 *   wrapper dead. A smaller young generation collects more often, so those chunks are returned within a few MB
 *   instead of piling up, and the young generation itself is smaller.
 * - `MALLOC_ARENA_MAX=2`: Buffers are allocated by glibc malloc from several threads (JS, libuv, the SDK's Rust
 *   core); with the default of 8 arenas per core their freed memory stays spread over many arenas as RSS.
 */
export const WORKER_PROCESS_SETTINGS = { nodeOptions: '--max-semi-space-size=2', mallocArenaMax: '2' } as const;

/** `env` with {@link WORKER_PROCESS_SETTINGS} added (explicit MALLOC_ARENA_MAX or semi-space settings win). */
export function workerProcessEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const nodeOptions = env.NODE_OPTIONS ?? '';
  return {
    ...env,
    NODE_OPTIONS: nodeOptions.includes('--max-semi-space-size')
      ? nodeOptions
      : `${nodeOptions} ${WORKER_PROCESS_SETTINGS.nodeOptions}`.trim(),
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? WORKER_PROCESS_SETTINGS.mallocArenaMax,
  };
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
    /** Record pipeline metrics here (the standalone worker serves them over HTTP). */
    metrics?: Metrics;
  } = {},
): Promise<RunningWorker> {
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(await connectionOptions(config.temporal));
  } catch (err) {
    throw new Error(
      `worker cannot reach Temporal at ${config.temporal.address} (${(err as Error).message}); ` +
        'start the local stack with `npm run stack:up` or set TEMPORAL_ADDRESS',
    );
  }
  const store = ObjectStore.fromConfig(config.s3);
  if (config.s3.local) await store.ensureBucket();
  const warehouse: Warehouse = createWarehouse(config, store);
  await warehouse.ensureRawTables();
  const { metrics } = overrides;
  const activities = createActivities({ config, store, warehouse, notifier: createNotifier(config), metrics });

  const dataConverter = dataConverterFor(config);
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: overrides.taskQueue ?? config.temporal.taskQueue,
    workflowBundle: { codePath: await workflowBundlePath(config.dataDir, dataConverter) },
    activities: overrides.activities ?? overrides.wrapActivities?.(activities) ?? activities,
    dataConverter,
    shutdownGraceTime: '20 seconds',
    maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
    ...(metrics ? { interceptors: { activity: [createActivityMetricsInterceptor(metrics)] } } : {}),
  });
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
 * The standalone worker process: SDK runtime metrics plus ours on one Prometheus endpoint
 * (WORKER_METRICS_PORT, 0 turns it off), then the worker until SIGINT/SIGTERM.
 */
export async function runWorkerProcess(config: Config): Promise<void> {
  let metrics: Metrics | undefined;
  let server: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  if (config.workerMetricsPort !== 0) {
    runtimeInstalled = true;
    const { sdkUrl } = installRuntimeMetrics(await freeLoopbackPort());
    metrics = createMetrics();
    server = await startMetricsServer(metrics, {
      port: config.workerMetricsPort,
      host: config.workerMetricsHost,
      sdkUrl,
    });
  }
  const running = await startWorker(config, { metrics });
  console.log(
    `healthsynth worker: polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address} ` +
      `(namespace ${config.temporal.namespace})${server ? `, metrics on ${server.url}` : ''}; Ctrl-C stops it`,
  );
  try {
    await running.done;
  } finally {
    await server?.close();
  }
  console.log('healthsynth worker: stopped');
}

async function main(): Promise<void> {
  // The AWS SDK warns on every start that releases from 2027 need Node 22; the locked version runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  await runWorkerProcess(loadConfig());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
