/**
 * At-most-once delivery: one activity per channel and message (`deliverSlack`, `deliverTelegram`), one HTTP
 * request per activity attempt, retried by Temporal's retry policy, with a delivery record per (scope, message,
 * channel) in the object store at `deliveries/<scope>/<message>/<channel>.json`.
 *
 * The record is checked before sending and written around the request: `sending` before it, `delivered` after.
 * A retry, rerun or replay that finds `delivered` returns without sending; one that finds `sending` (an attempt
 * died mid-request, so the message may have arrived) does not resend either and reports `unknown`. A failure the
 * endpoint answered (4xx, 429, 5xx) or a refused connection did not deliver: the record says so (`failed`,
 * `retrying`), and the activity throws an ApplicationFailure — non-retryable for 4xx but 429, retryable otherwise,
 * with `nextRetryDelay` from the server's Retry-After — so Temporal decides when to try again.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MESSAGE_NAME } from '../domain/messages.js';
import type { Channel, NotificationResult, OutgoingMessage, StaffMessage } from '../domain/types.js';
import { DeliveryError, type DeliveryFailureKind, type Notifier, type TelegramPayload } from './notifier.js';
import type { ObjectStore } from './storage.js';

/** Where the delivery record of one message on one channel lives. */
export const deliveryKey = (scope: string, name: string, channel: Channel): string =>
  `deliveries/${scope}/${name}/${channel}.json`;

/**
 * Throws the attempt's cancellation if it came before the request was made (while the 'sending' intent was being
 * written, say: a heartbeat timeout on a starved worker cancels the attempt at its next heartbeat). Nothing was
 * sent then, so `markNotSent` first turns the intent into a plain retryable state: left as 'sending', the next
 * attempt would take the message for possibly delivered and never send it.
 */
export async function unlessCancelledBeforeSending(
  ctx: Context | undefined,
  markNotSent: (detail: string) => Promise<void>,
): Promise<void> {
  if (!ctx?.cancellationSignal.aborted) return;
  await markNotSent('the attempt was cancelled before the request was made; nothing was sent');
  throw ctx.cancellationSignal.reason instanceof Error
    ? ctx.cancellationSignal.reason
    : new CancelledFailure(`cancelled before sending: ${String(ctx.cancellationSignal.reason)}`);
}

/** A delivery record: what happened to one message on one channel, and which run and attempt did it. */
export interface DeliveryRecord {
  scope: string;
  name: string;
  channel: Channel;
  audience: OutgoingMessage['audience'];
  /**
   * sending: an attempt is sending (or died while sending); delivered: accepted by the endpoint; retrying: the last
   * attempt surely did not deliver and Temporal will retry; failed: refused for good; outbox: written to the outbox;
   * unknown: an attempt was cut off mid-request, so it may have arrived.
   */
  status: 'sending' | 'delivered' | 'retrying' | 'failed' | 'outbox' | 'unknown';
  workflowId?: string;
  runId?: string;
  attempt?: number;
  at: string;
  httpStatus?: number;
  detail?: string;
  outboxPath?: string;
}

/** ApplicationFailure types of a delivery attempt, by how the endpoint failed. */
export const DELIVERY_FAILURE_TYPES: Record<Exclude<DeliveryFailureKind, 'ambiguous'>, string> = {
  rejected: 'DeliveryRejected',
  'rate-limited': 'DeliveryRateLimited',
  'server-error': 'DeliveryServerError',
  unreachable: 'DeliveryUnreachable',
};

/** What a delivery failure carries in its details, for the workflow's summary: no secrets, no message text. */
export interface DeliveryFailureDetails {
  channel: Channel;
  message: string;
  httpStatus?: number;
}

/** The running activity's context, or undefined outside an activity (a direct call from a script). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** What delivery needs: the object store (records, photos) and the transport. */
export interface DeliveryDeps {
  store: ObjectStore;
  notifier: Notifier;
}

/**
 * The at-most-once send behind every activity that notifies: `deliver(channel, message)` resolves with what
 * happened or throws an ApplicationFailure for Temporal to retry (or not); see the module comment.
 */
export function createDeliverer({ store, notifier }: DeliveryDeps) {
  async function readRecord(key: string): Promise<DeliveryRecord | undefined> {
    const text = await store.getTextIfExists(key);
    return text === undefined ? undefined : (JSON.parse(text) as DeliveryRecord);
  }

  async function payloadFor(
    channel: Channel,
    message: OutgoingMessage,
  ): Promise<TelegramPayload | StaffMessage['slack']> {
    if (channel === 'slack') {
      if (message.audience !== 'staff') throw new Error('unreachable: Slack is checked to be staff only');
      return message.slack;
    }
    const content = message.telegram;
    if ('photoKey' in content) {
      const png = Buffer.concat((await (await store.get(content.photoKey)).toArray()) as Buffer[]);
      return { png, caption: content.caption, filename: `${message.name}.png` };
    }
    return { text: content.text };
  }

  /**
   * Delivers `message` on `channel` at most once per (scope, name, channel); see the module comment. Resolves with
   * what happened, or throws an ApplicationFailure when the endpoint refused (non-retryable) or failed in a way a
   * retry can fix. Reading the photo and the record happens before the intent is written, so their errors retry
   * cleanly.
   */
  async function deliverOnce(channel: Channel, message: OutgoingMessage, ctx?: Context): Promise<NotificationResult> {
    for (const [field, value] of [
      ['scope', message.scope],
      ['name', message.name],
    ] as const) {
      if (typeof value !== 'string' || !MESSAGE_NAME.test(value)) {
        throw ApplicationFailure.nonRetryable(
          `message ${field} ${JSON.stringify(value)} must be letters, digits, '.', '_', '+' or '-' (it names the delivery record)`,
          'InvalidInput',
        );
      }
    }
    const info = ctx?.info;
    const key = deliveryKey(message.scope, message.name, channel);
    const base = { channel, message: message.name, audience: message.audience } as const;
    const record = (status: DeliveryRecord['status'], extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
      scope: message.scope,
      name: message.name,
      channel,
      audience: message.audience,
      status,
      workflowId: info?.workflowExecution?.workflowId,
      runId: info?.workflowExecution?.runId,
      attempt: info?.attempt,
      at: new Date().toISOString(),
      ...extra,
    });
    const write = async (r: DeliveryRecord): Promise<void> => {
      await store.put(key, `${JSON.stringify(r, null, 2)}\n`, 'application/json');
    };

    const previous = await readRecord(key);
    if (previous?.status === 'delivered') {
      return {
        ...base,
        status: 'delivered',
        alreadyDelivered: true,
        detail: `already delivered at ${previous.at} by ${previous.workflowId ?? 'an earlier run'}; not sent again`,
      };
    }
    if (previous?.status === 'sending' || previous?.status === 'unknown') {
      const by = `attempt ${previous.attempt ?? '?'} of ${previous.workflowId ?? 'an earlier run'}`;
      const detail = `${by} was cut off while sending at ${previous.at}; it may have arrived, so it is not sent again`;
      if (previous.status === 'sending') await write({ ...previous, status: 'unknown', detail });
      return { ...base, status: 'unknown', detail: previous.status === 'unknown' ? previous.detail : detail };
    }

    const missing = notifier.missingSetting(channel, message.audience);
    if (missing) {
      if (previous?.status === 'outbox' && previous.outboxPath) {
        return {
          ...base,
          status: 'outbox',
          outboxPath: previous.outboxPath,
          detail: `not delivered: no ${missing} set`,
        };
      }
      const outboxPath = await notifier.writeOutbox(
        channel,
        message.audience,
        message.name,
        await payloadFor(channel, message),
      );
      await write(record('outbox', { outboxPath }));
      return { ...base, status: 'outbox', outboxPath, detail: `not delivered: no ${missing} set` };
    }

    const payload = await payloadFor(channel, message);
    await write(record('sending'));
    await unlessCancelledBeforeSending(ctx, (detail) => write(record('retrying', { detail })));
    try {
      if (channel === 'slack') await notifier.sendSlack(payload as StaffMessage['slack'], ctx?.cancellationSignal);
      else await notifier.sendTelegram(message.audience, payload as TelegramPayload, ctx?.cancellationSignal);
    } catch (err) {
      const failure =
        err instanceof DeliveryError
          ? err
          : new DeliveryError(channel, 'ambiguous', `unexpected error while sending: ${(err as Error).message}`);
      if (failure.kind === 'ambiguous') {
        const detail = `${failure.message}; it may have arrived, so it is not sent again`;
        await write(record('unknown', { detail }));
        return { ...base, status: 'unknown', detail };
      }
      const httpStatus = failure.httpStatus;
      await write(
        record(failure.retryable ? 'retrying' : 'failed', {
          detail: failure.message,
          ...(httpStatus ? { httpStatus } : {}),
        }),
      );
      const details: DeliveryFailureDetails = { channel, message: message.name, ...(httpStatus ? { httpStatus } : {}) };
      throw ApplicationFailure.create({
        message: `${channel} ${message.name}: ${failure.message}`,
        type: DELIVERY_FAILURE_TYPES[failure.kind],
        nonRetryable: !failure.retryable,
        details: [details],
        ...(failure.retryAfterMs !== undefined ? { nextRetryDelay: failure.retryAfterMs } : {}),
      });
    }
    await write(record('delivered'));
    const attempt = info?.attempt ?? 1;
    return { ...base, status: 'delivered', detail: attempt > 1 ? `delivered on attempt ${attempt}` : 'delivered' };
  }

  /** {@link deliverOnce}, heartbeating throughout, so Temporal notices a dead worker and delivers cancellation. */
  async function deliver(channel: Channel, message: OutgoingMessage): Promise<NotificationResult> {
    const ctx = activityContext();
    const beat = ctx ? setInterval(() => ctx.heartbeat(), 5_000) : undefined;
    try {
      return await deliverOnce(channel, message, ctx);
    } finally {
      if (beat) clearInterval(beat);
    }
  }

  return deliver;
}

/** The delivery activities the workflows call, one per channel. */
export function createDeliveryActivities(deps: DeliveryDeps) {
  const deliver = createDeliverer(deps);
  return {
    /**
     * Posts a staff message to Slack, at most once per (scope, name). Idempotent through its delivery record: a
     * retry after success returns `delivered` without posting, a retry after a crash mid-request returns `unknown`.
     * Throws for 4xx (non-retryable) and 429/5xx/refused connections (retryable, after the server's Retry-After).
     */
    async deliverSlack(message: StaffMessage): Promise<NotificationResult> {
      if (message.audience !== 'staff') {
        throw ApplicationFailure.nonRetryable(
          `deliverSlack: Slack is for staff messages only; "${message.name}" is for ${String((message as { audience?: unknown }).audience)}`,
          'InvalidInput',
        );
      }
      return deliver('slack', message);
    },
    /**
     * Sends a message to the Telegram chat of its audience (TELEGRAM_STAFF_CHAT_ID or TELEGRAM_PATIENT_CHAT_ID), at
     * most once per (scope, name): idempotent and retried like {@link deliverSlack}; 429 waits `retry_after`.
     */
    async deliverTelegram(message: OutgoingMessage): Promise<NotificationResult> {
      if (message.audience !== 'staff' && message.audience !== 'patients') {
        throw ApplicationFailure.nonRetryable(
          `deliverTelegram: audience must be "staff" or "patients", got ${JSON.stringify((message as { audience?: unknown }).audience)}`,
          'InvalidInput',
        );
      }
      return deliver('telegram', message);
    },
  };
}

/**
 * For the activities kept for runs started before per-message delivery (`notify`, `postDoctorRatingReport`,
 * `sendWeekendNotice`): their contract is to resolve, never throw, for a delivery failure, so a refusal or a
 * retryable failure becomes a `failed` result after one request (their callers retry only crashes).
 */
export async function settleLegacy(
  channel: Channel,
  message: OutgoingMessage,
  deliver: ReturnType<typeof createDeliverer>,
): Promise<NotificationResult> {
  try {
    return await deliver(channel, message);
  } catch (err) {
    if (!(err instanceof ApplicationFailure) || !err.type?.startsWith('Delivery')) throw err;
    const details = err.details?.[0] as DeliveryFailureDetails | undefined;
    return {
      channel,
      message: message.name,
      audience: message.audience,
      status: 'failed',
      detail: `${err.message} (${err.type})`,
      ...(details?.httpStatus ? { httpStatus: details.httpStatus } : {}),
    };
  }
}
