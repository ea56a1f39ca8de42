/**
 * Starting a daily pipeline run from code: used by `healthsynth run`, `npm run demo` and the tests.
 * When no worker polls the task queue, one is started in this process for the run's duration, so a
 * single command works on a fresh machine.
 */
import { WorkflowIdConflictPolicy, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Config } from './config.js';
import type { PipelineSummary, ScaleInput } from './domain/types.js';
import { webUiLink, workflowIds, WORKFLOW_TYPES } from './temporal.js';
import { installQuietRuntime, startWorker, type RunningWorker } from './worker.js';

export type WorkerMode = 'auto' | 'always' | 'never';

/**
 * True when at least one worker polled the task queue for workflow tasks recently. The server keeps a
 * poller listed for a while after its worker stops, so a true here can be stale: see
 * {@link startWorkerIfStalled}.
 */
export async function hasWorkers(client: Client, config: Config): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: config.temporal.taskQueue },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  return (res.pollers ?? []).length > 0;
}

/** Starts a worker in this process unless one is already polling (mode auto) or told not to. */
export async function ensureWorker(
  client: Client,
  config: Config,
  mode: WorkerMode,
): Promise<RunningWorker | undefined> {
  if (mode === 'never') return undefined;
  if (mode === 'auto' && (await hasWorkers(client, config))) return undefined;
  installQuietRuntime();
  return startWorker(config);
}

/**
 * For `auto` mode: when the run's first workflow task has not been picked up within `graceMs` (the
 * pollers we saw belonged to a worker that has stopped), starts a worker in this process.
 */
export async function startWorkerIfStalled(
  config: Config,
  handle: WorkflowHandle,
  graceMs = 10_000,
): Promise<RunningWorker | undefined> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const desc = await handle.describe();
    // Two events (started, first task scheduled) means no worker has taken the first task yet.
    if (desc.status.name !== 'RUNNING' || desc.historyLength > 2) return undefined;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  installQuietRuntime();
  return startWorker(config);
}

/**
 * Starts `dailyPipeline` for `runDate` with the business id `daily-pipeline-<runDate>`; when that run is
 * already in progress, attaches to it instead of starting a second one.
 */
export async function startPipeline(
  client: Client,
  config: Config,
  input: { runDate: string; scale?: ScaleInput; allowLargeCleanup?: boolean },
): Promise<WorkflowHandle> {
  return client.workflow.start(WORKFLOW_TYPES.dailyPipeline, {
    taskQueue: config.temporal.taskQueue,
    workflowId: workflowIds.dailyPipeline(input.runDate),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    args: [input],
  });
}

export interface PipelineOutcome {
  workflowId: string;
  runId: string;
  webUiUrl: string;
  summary?: PipelineSummary;
  error?: Error;
}

/** Waits for a started run; a failure is returned (with its message), not thrown. */
export async function awaitPipeline(config: Config, handle: WorkflowHandle): Promise<PipelineOutcome> {
  const desc = await handle.describe();
  const base = {
    workflowId: handle.workflowId,
    runId: desc.runId,
    webUiUrl: webUiLink(config, handle.workflowId, desc.runId),
  };
  try {
    return { ...base, summary: (await handle.result()) as PipelineSummary };
  } catch (err) {
    return { ...base, error: err as Error };
  }
}
