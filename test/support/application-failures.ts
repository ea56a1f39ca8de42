/** The check that an activity-level call failed the way Temporal will see it: an ApplicationFailure of a given type. */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';

/**
 * Awaits `promise`, which must reject with an ApplicationFailure of `expected.type` whose `nonRetryable` is
 * `expected.nonRetryable` (when given), and returns the failure for the caller's checks of its message.
 * `accepted` is the assertion message should the promise resolve instead.
 */
export async function expectApplicationFailure(
  promise: Promise<unknown>,
  accepted: string,
  expected: { type: string; nonRetryable?: boolean },
): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail(accepted),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, expected.type);
  if (expected.nonRetryable !== undefined) assert.equal(err.nonRetryable, expected.nonRetryable);
  return err;
}
