/**
 * The heartbeat helper in Temporal's activity test environment: it heartbeats on its timer while the work waits
 * on something that reports nothing, hands the work the cancellation signal and rethrows the CancelledFailure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { previousHeartbeat, startHeartbeat, withHeartbeat } from '../../src/activities/heartbeat.js';

/** Resolves when `signal` aborts and rejects then with a plain error, as an aborted query would. */
const waitForAbort = (signal: AbortSignal | undefined): Promise<never> =>
  new Promise((_resolve, reject) =>
    signal?.addEventListener('abort', () => reject(new Error('query cancelled by pg_cancel_backend')), { once: true }),
  );

describe('heartbeat helper', () => {
  test('heartbeats on the timer while the work is silent, then rethrows the activity cancellation', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    let phase = 'lock';
    const running = env.run(() =>
      withHeartbeat(
        () => ({ phase }),
        (signal) => waitForAbort(signal),
        20,
      ),
    );
    while (beats.length < 5) await new Promise((r) => setTimeout(r, 10));
    phase = 'still lock';
    while (!beats.some((b) => (b as { phase: string }).phase === 'still lock'))
      await new Promise((r) => setTimeout(r, 10));
    env.cancel();
    await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
    const after = beats.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(beats.length, after, 'the timer stopped with the work');
    assert.deepEqual(beats[0], { phase: 'lock' }, 'a heartbeat at the start, before any progress');
  });

  test('a plain call outside an activity runs the work without a signal or heartbeats', async () => {
    assert.equal(previousHeartbeat(), undefined);
    assert.equal(
      await withHeartbeat(
        () => 'x',
        async (signal) => (signal === undefined ? 'no signal' : 'signal'),
      ),
      'no signal',
    );
    const timer = startHeartbeat(() => 'x', 1);
    timer.beat();
    timer.stop();
  });

  test('a retry sees what the previous attempt heartbeated', async () => {
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { statementId: 'abc' } });
    assert.deepEqual(await env.run(async () => previousHeartbeat()), { statementId: 'abc' });
  });
});
