/**
 * Starting a daily pipeline run from code: used by `healthsynth run`, `npm run demo` and the tests. Making sure
 * a worker serves the run is the caller's business, through the one watchdog every waiting command uses
 * (src/worker-watchdog.ts).
 */
import { WorkflowIdConflictPolicy, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Config } from './config.js';
import type { PipelineSummary, ScaleInput } from './domain/types.js';
import type { dailyPipeline } from './workflows/daily-pipeline.js';
import { workflowIds, WORKFLOW_TYPES } from './temporal.js';
import { webUiLink } from './workflow-ids.js';

/**
 * Starts `dailyPipeline` for `runDate` with the business id `daily-pipeline-<runDate>`; when that run is
 * already in progress, attaches to it instead of starting a second one.
 */
export async function startPipeline(
  client: Client,
  config: Config,
  input: { runDate: string; scale?: ScaleInput; allowLargeCleanup?: boolean },
): Promise<WorkflowHandle<typeof dailyPipeline>> {
  return client.workflow.start<typeof dailyPipeline>(WORKFLOW_TYPES.dailyPipeline, {
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
export async function awaitPipeline(
  config: Config,
  handle: WorkflowHandle<typeof dailyPipeline>,
): Promise<PipelineOutcome> {
  const desc = await handle.describe();
  const base = {
    workflowId: handle.workflowId,
    runId: desc.runId,
    webUiUrl: webUiLink(config.temporal, handle.workflowId, desc.runId),
  };
  try {
    return { ...base, summary: await handle.result() };
  } catch (err) {
    return { ...base, error: err as Error };
  }
}
