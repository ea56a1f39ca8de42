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
import type { StepFailure } from '../domain/messages.js';

/** The innermost useful message of a failure chain (child → activity → application error). */
export function describeError(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 10; depth++) {
    if ((current instanceof ChildWorkflowFailure || current instanceof ActivityFailure) && current.cause) {
      current = current.cause;
      continue;
    }
    if (current instanceof ApplicationFailure && current.type === 'PipelineStepFailed' && current.cause) {
      current = current.cause;
      continue;
    }
    break;
  }
  if (current instanceof ApplicationFailure && current.type) return `${current.type}: ${current.message}`;
  return current instanceof Error ? current.message : String(current);
}

/**
 * What an alert may say about a failure: the innermost failure's type and the child workflows and activity it
 * came through (ids and type names only). The messages along the chain are left out on purpose: a database or
 * CSV error quotes the offending value, which can be a patient's name.
 */
export function failureOf(err: unknown): Omit<StepFailure, 'step'> {
  const where: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 10; depth++) {
    if (current instanceof ChildWorkflowFailure && current.cause) {
      where.push(current.execution?.workflowId ?? current.workflowType);
      current = current.cause;
      continue;
    }
    if (current instanceof ActivityFailure && current.cause) {
      where.push(current.activityType);
      current = current.cause;
      continue;
    }
    if (current instanceof ApplicationFailure && current.type === 'PipelineStepFailed' && current.cause) {
      current = current.cause;
      continue;
    }
    break;
  }
  let type: string;
  if (current instanceof ApplicationFailure) type = current.type ?? 'Error';
  else if (current instanceof TimeoutFailure) type = `Timeout (${current.timeoutType})`;
  else if (current instanceof CancelledFailure) type = 'Cancelled';
  else if (current instanceof TerminatedFailure) type = 'Terminated';
  else type = current instanceof Error ? current.name : 'Error';
  return { type, where };
}
