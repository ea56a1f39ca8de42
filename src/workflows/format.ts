/**
 * Pure formatting helpers for workflow code: error text, failure types for alerts, dates in a time zone.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  TerminatedFailure,
  TimeoutFailure,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { StepFailure } from '../domain/messages.js';

/** The innermost useful message of a failure chain (child → activity → application error). */
export function describeError(err: unknown): string {
  const current = innermostFailure(err);
  if (current instanceof ApplicationFailure && current.type) return `${current.type}: ${current.message}`;
  // A child's business id is taken while another run of the same date runs it: the second run started under another
  // id (the temporal CLI's default is a random one), which Temporal could not refuse as a whole.
  if (current instanceof WorkflowExecutionAlreadyStartedError) {
    return (
      `${current.workflowId} is running for another run of this date: let that run finish or terminate it; start ` +
      `runs with --workflow-id daily-pipeline-<date> (as \`healthsynth run\` does) and Temporal refuses a second one`
    );
  }
  return current instanceof Error ? current.message : String(current);
}

/**
 * The innermost cause of a failure, through child workflows, activities and PipelineStepFailed wrappers (at most
 * 10 deep); `passedThrough` hears the id of each child workflow and the type of each activity on the way.
 */
function innermostFailure(err: unknown, passedThrough: (hop: string) => void = () => undefined): unknown {
  let current: unknown = err;
  for (let depth = 0; depth < 10; depth++) {
    if (current instanceof ChildWorkflowFailure && current.cause) {
      passedThrough(current.execution?.workflowId ?? current.workflowType);
      current = current.cause;
    } else if (current instanceof ActivityFailure && current.cause) {
      passedThrough(current.activityType);
      current = current.cause;
    } else if (current instanceof ApplicationFailure && current.type === 'PipelineStepFailed' && current.cause) {
      current = current.cause;
    } else {
      break;
    }
  }
  return current;
}

/**
 * What an alert may say about a failure: the innermost failure's type and the child workflows and activity it
 * came through (ids and type names only). The messages along the chain are left out on purpose: a database or
 * CSV error quotes the offending value, which can be a patient's name.
 */
export function failureOf(err: unknown): Omit<StepFailure, 'step'> {
  const where: string[] = [];
  const current = innermostFailure(err, (hop) => where.push(hop));
  let type: string;
  if (current instanceof ApplicationFailure) type = current.type ?? 'Error';
  else if (current instanceof TimeoutFailure) type = `Timeout (${current.timeoutType})`;
  else if (current instanceof CancelledFailure) type = 'Cancelled';
  else if (current instanceof TerminatedFailure) type = 'Terminated';
  else type = current instanceof Error ? current.name : 'Error';
  return { type, where };
}
