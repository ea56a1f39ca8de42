/**
 * Sending from workflow code: one delivery activity per channel and message, retried by Temporal's retry policy.
 * `sendToStaff` takes only a StaffMessage (Slack and the staff Telegram chat), `sendToPatients` only a
 * PatientMessage (the patients' Telegram chat), so a message cannot reach the wrong audience. A delivery that
 * still fails after the retries resolves as a `failed` result naming the channel, the HTTP status and why; it
 * never fails the workflow that sent it.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import type { DeliveryFailureDetails } from '../activities/delivery.js';
import type { Channel, NotificationResult, OutgoingMessage, PatientMessage, StaffMessage } from '../domain/types.js';

/**
 * One HTTP request per attempt, cut off after 30 s (REQUEST_TIMEOUT_MS), so a 2-minute start-to-close timeout
 * never starts attempt 2 while attempt 1 is still sending; the heartbeat timeout notices a dead worker sooner. It
 * is a minute, not 20 s: the SDK sends heartbeats at most every 80% of the timeout, so 20 s left a 4 s margin that
 * a starved worker (two busy cores) can miss, and a timed-out attempt is cancelled, possibly mid-send.
 * Retries back off 2 s, 4 s, … up to a minute, or wait what a 429's Retry-After asks (nextRetryDelay); 4xx
 * refusals are non-retryable failures thrown by the activity itself.
 */
const { deliverSlack, deliverTelegram } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 8,
    nonRetryableErrorTypes: ['InvalidInput'],
  },
});

/** A delivery activity's failure as a result: `unknown` when an attempt may have sent it, else `failed`. */
function failedDelivery(channel: Channel, message: OutgoingMessage, err: unknown): NotificationResult {
  const base = { channel, message: message.name, audience: message.audience };
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    return {
      ...base,
      status: 'unknown',
      detail: `the delivery timed out (${cause.timeoutType !== undefined ? String(cause.timeoutType) : 'timeout'}); it may have been sent, so it is not sent again`,
    };
  }
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as DeliveryFailureDetails | undefined;
    const retried = cause.nonRetryable ? 'not retried' : "after Temporal's retries";
    return {
      ...base,
      status: 'failed',
      detail: `${cause.message} (${cause.type ?? 'Error'}, ${retried})`,
      ...(details?.httpStatus ? { httpStatus: details.httpStatus } : {}),
    };
  }
  return { ...base, status: 'failed', detail: cause instanceof Error ? cause.message : String(cause) };
}

async function settle(
  channel: Channel,
  message: OutgoingMessage,
  send: () => Promise<NotificationResult>,
): Promise<NotificationResult> {
  try {
    return await send();
  } catch (err) {
    if (isCancellation(err)) throw err;
    return failedDelivery(channel, message, err);
  }
}

/** Sends a staff message to Slack and the staff Telegram chat in parallel; one result per channel, never throws. */
export async function sendToStaff(message: StaffMessage): Promise<NotificationResult[]> {
  return Promise.all([
    settle('slack', message, () => deliverSlack(message)),
    settle('telegram', message, () => deliverTelegram(message)),
  ]);
}

/** Sends a patient message to the patients' Telegram chat only; one result, never throws. */
export async function sendToPatients(message: PatientMessage): Promise<NotificationResult[]> {
  return [await settle('telegram', message, () => deliverTelegram(message))];
}
