/**
 * Heartbeats on a timer, for activities that wait on things that report no progress of their own: a pool
 * checkout, a lock, a COPY the server is still digesting, a large DELETE, a Redshift statement, another dbt
 * build. Heartbeating only when bytes flow makes such a wait look like a dead worker once it passes the
 * heartbeatTimeout, and Temporal then starts a second attempt while the first still holds its connection.
 *
 * Temporal delivers an activity's cancellation only through heartbeats, so the timer is also what lets a
 * cancelled activity notice it: {@link withHeartbeat} hands the work the activity's cancellation signal and
 * rethrows Temporal's `CancelledFailure` when the work ends because of it.
 */
import { Context } from '@temporalio/activity';

/** How often the timer heartbeats: well inside the 20 s heartbeatTimeout the workflows declare for long activities. */
export const HEARTBEAT_INTERVAL_MS = 5_000;

/** The activity context when running inside a Temporal activity, undefined in plain calls (tests, CLI, benchmarks). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * Heartbeats with `details` when called inside a Temporal activity; a no-op in plain calls, where
 * `Context.current()` throws.
 */
export function heartbeatIfActivity(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

/**
 * The details the previous attempt of this activity last heartbeated (Temporal keeps them for the retry), or
 * undefined on a first attempt and outside an activity. A retry uses them to resume instead of starting over.
 */
export function previousHeartbeat(): unknown {
  return activityContext()?.info.heartbeatDetails;
}

/** A running heartbeat timer: `beat()` sends one now, `stop()` ends the timer. */
export interface HeartbeatTimer {
  beat(): void;
  stop(): void;
}

/**
 * Starts heartbeating `details()` every `intervalMs`, whatever the activity is doing; a no-op timer outside an
 * activity. Call `stop()` in a `finally`.
 */
export function startHeartbeat(details: () => unknown, intervalMs = HEARTBEAT_INTERVAL_MS): HeartbeatTimer {
  const ctx = activityContext();
  if (!ctx) return { beat() {}, stop() {} };
  const beat = (): void => ctx.heartbeat(details());
  const timer = setInterval(beat, intervalMs);
  return { beat, stop: () => clearInterval(timer) };
}

/**
 * Runs `work` with a heartbeat timer ({@link startHeartbeat}) around it, heartbeating once at the start. `work` receives the activity's
 * cancellation signal (undefined outside an activity), which it must honour by aborting what it waits on, and
 * `beat` to heartbeat at once (for details a retry must not miss, such as a submitted statement's id). If the
 * work fails after a cancellation, the activity's `CancelledFailure` is rethrown in place of whatever error the
 * abort caused, so Temporal records a cancellation rather than a failure.
 */
export async function withHeartbeat<T>(
  details: () => unknown,
  work: (signal: AbortSignal | undefined, beat: () => void) => Promise<T>,
  intervalMs = HEARTBEAT_INTERVAL_MS,
): Promise<T> {
  const signal = activityContext()?.cancellationSignal;
  const timer = startHeartbeat(details, intervalMs);
  timer.beat();
  try {
    return await work(signal, timer.beat);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    timer.stop();
  }
}
