/**
 * Workflow runs and schedules on the real dev server, as tests need them: a date whose business id no run has
 * used yet, the next run the server starts for an id, the InvalidInput failure a refused input ends with, and the
 * cleanup of what a test started or created.
 */
import assert from 'node:assert/strict';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { ObjectStore } from '../../src/activities/storage.js';
import { describeOrUndefined, workflowIds } from '../../src/temporal.js';

/**
 * Draws dates from `candidate` until one whose workflow id `idOf(date)` this server has never seen, so no other
 * test or earlier run shares the date's runs.
 */
export async function unusedDate(
  client: Client,
  candidate: () => string,
  idOf: (date: string) => string,
): Promise<string> {
  for (;;) {
    const date = candidate();
    if ((await describeOrUndefined(client.workflow.getHandle(idOf(date)))) === undefined) return date;
  }
}

/**
 * A weekend date whose notice nothing has touched yet: no run of `weekend-notice-<date>` on this server and no
 * delivery record under `deliveries/weekend-notice-<date>/` in `store`. The record is what decides whether a run
 * sends, and every test file shares one bucket: a date drawn blindly can be one an earlier file left `delivered`
 * or `unknown` (deliveries.test.ts cuts an attempt off mid-send), so that a run for it sends nothing, or one an
 * earlier file sent to the outbox under another workflow id (encryption.test.ts).
 */
export async function unusedWeekendNoticeDate(
  client: Client,
  store: ObjectStore,
  candidate: () => string,
): Promise<string> {
  for (;;) {
    const date = await unusedDate(client, candidate, workflowIds.weekendNotice);
    if ((await store.list(`deliveries/${workflowIds.weekendNotice(date)}/`)).length === 0) return date;
  }
}

/**
 * Waits up to `timeoutMs` for a run of `workflowId` other than `previousRunId` (one the server starts, e.g. for a
 * schedule) and returns its run id and a handle on that run.
 */
export async function nextRun(
  client: Client,
  workflowId: string,
  opts: { previousRunId?: string; timeoutMs: number },
): Promise<{ runId: string; handle: WorkflowHandle }> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const desc = await describeOrUndefined(client.workflow.getHandle(workflowId));
    if (desc && desc.runId !== opts.previousRunId) {
      return { runId: desc.runId, handle: client.workflow.getHandle(workflowId, desc.runId) };
    }
    if (Date.now() > deadline) throw new Error(`no new run of ${workflowId} within ${opts.timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits for `handle`'s run to fail and checks it failed for good on its input: a non-retryable ApplicationFailure
 * of type InvalidInput. Returns the failure and the run's history events, for the caller's checks of what ran.
 */
export async function invalidInputFailure(
  handle: WorkflowHandle,
): Promise<{ failure: ApplicationFailure; events: temporal.api.history.v1.IHistoryEvent[] }> {
  const err = await handle.result().then(
    () => assert.fail(`${handle.workflowId} was accepted`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  const failure = err.cause;
  assert.ok(failure instanceof ApplicationFailure, String(failure));
  assert.equal(failure.type, 'InvalidInput');
  assert.equal(failure.nonRetryable, true);
  return { failure, events: (await handle.fetchHistory()).events ?? [] };
}

/** Terminates whichever of `workflowIds` still run (a test's cleanup); closed or unknown ids are passed over. */
export async function terminateAll(client: Client, workflowIds: Iterable<string>): Promise<void> {
  for (const id of workflowIds) {
    await client.workflow
      .getHandle(id)
      .terminate('test cleanup')
      .catch(() => undefined);
  }
}

/** Deletes the schedules a test created; ids that are empty or already gone are passed over. */
export async function deleteSchedules(client: Client, scheduleIds: Iterable<string>): Promise<void> {
  for (const id of scheduleIds) {
    if (!id) continue;
    await client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  }
}
