/**
 * Looking at other runs of the daily pipeline, for `scheduledDailyPipeline`: workflow code cannot describe
 * another workflow, so these activities do it with the worker's own Temporal client (`Context.current().client`,
 * built on the worker's connection with its data converter, so encrypted results decode).
 */
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { PipelineSummary } from '../domain/types.js';
import type { dailyPipeline } from '../workflows/daily-pipeline.js';

/** The latest run of a workflow id: its run id and status name (RUNNING, COMPLETED, FAILED, TERMINATED, …). */
export interface PipelineRunState {
  runId: string;
  status: string;
}

/** Failure type of `awaitPipelineRun` when the run it waited for did not complete (non-retryable). */
export const ATTACHED_RUN_FAILED = 'AttachedRunFailed';

/** gRPC NOT_FOUND, for clients whose error mapping does not produce WorkflowNotFoundError. */
const GRPC_NOT_FOUND = 5;

/** The activities that read other pipeline runs through the worker's client (no dependencies of their own). */
export function createPipelineRunActivities() {
  return {
    /**
     * The latest run of `workflowId`, or undefined when there is none. A read: idempotent, a retry reads again.
     */
    async describePipelineRun({ workflowId }: { workflowId: string }): Promise<PipelineRunState | undefined> {
      try {
        const description = await Context.current().client.workflow.getHandle(workflowId).describe();
        return { runId: description.runId, status: description.status.name };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError || (err as { code?: unknown }).code === GRPC_NOT_FOUND) {
          return undefined;
        }
        throw err;
      }
    },

    /**
     * Waits for run `runId` of `workflowId` to close and returns its result, heartbeating while it waits (so a
     * dead worker's wait moves to another worker, and cancellation arrives). A read: idempotent, and a retry
     * simply waits again. A run that failed, was terminated or cancelled gives a non-retryable
     * `AttachedRunFailed` naming the run and the failure's type (not its message, which can quote data).
     */
    async awaitPipelineRun({ workflowId, runId }: { workflowId: string; runId: string }): Promise<PipelineSummary> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 10_000);
      try {
        const result = ctx.client.workflow.getHandle<typeof dailyPipeline>(workflowId, runId).result();
        return await Promise.race([result, ctx.cancelled]);
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          const cause = err.cause;
          const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error');
          throw ApplicationFailure.nonRetryable(
            `${workflowId} run ${runId}, which this run attached to, did not complete: ${type}`,
            ATTACHED_RUN_FAILED,
          );
        }
        throw err;
      } finally {
        clearInterval(beat);
      }
    },
  };
}
