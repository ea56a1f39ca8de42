/**
 * `sendPatientMessage`: one message (with optional inline buttons) to one patient's own Telegram chat, at most
 * once, throttled, with the chat id looked up in `raw.patient_contacts` inside the activity so it never enters a
 * workflow payload.
 *
 * - **At most once.** A delivery record at `deliveries/<scope>/<name>/patient-telegram.json`, checked before sending
 *   and written around the request exactly as the staff deliveries do (delivery.ts): `delivered` is never sent again,
 *   `sending` left by a dead attempt becomes `unknown` and is not resent.
 * - **Throttled** to Telegram's limits, 25 messages/s per bot and 1 per chat per second, with bottleneck: one
 *   limiter of 40 ms minimum spacing for the bot that holds nothing but the HTTP request (the delivery record is
 *   written before it: an object-store write of varying length inside the limiter let requests that waited on
 *   slow writes leave together, measured 35 in one second under load), and a group of one-at-a-time queues keyed
 *   by chat, each waiting until its chat's last request is 1.1 s old. Bottleneck throttles
 *   within one worker process; Temporal's task-queue rate limit (`maxTaskQueueActivitiesPerSecond`) is global but
 *   cannot key by chat, and it would throttle every activity of the queue. With several workers sending, each keeps
 *   its own 25/s, so the bot can exceed it: Telegram then answers 429 with `retry_after`, which is honoured below.
 * - **429** records `retrying` and throws a retryable ApplicationFailure with `nextRetryDelay` = `retry_after`, so
 *   Temporal's retry policy waits what Telegram asked. 5xx and refused connections retry; other 4xx do not.
 * - **403** ("bot was blocked by the user") marks the patient opted out and resolves `blocked`: nothing to retry.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import Bottleneck from 'bottleneck';
import { createCallbackData, createReplyRef, type CallbackKind } from '../bot/callback-data.js';
import { createContactStore, type ContactStore } from '../bot/contacts.js';
import type { Config } from '../config.js';
import { MESSAGE_NAME } from '../domain/messages.js';
import { activityContext, DELIVERY_FAILURE_TYPES, unlessCancelledBeforeSending } from './delivery.js';
import { DeliveryError, type Notifier } from './notifier.js';
import type { ObjectStore } from './storage.js';

/** Waits until `at` by the clock (a timer may fire a millisecond early). */
async function sleepUntil(at: number): Promise<void> {
  for (let left = at - Date.now(); left > 0; left = at - Date.now()) await new Promise((r) => setTimeout(r, left));
}

/**
 * Telegram's documented limits for one bot: about 30 messages/s overall (we keep 25) and 1 per chat per second. Both
 * are measured between the starts of the HTTP requests; a chat's spacing carries 100 ms margin for the network.
 */
export const PATIENT_SEND_LIMITS = { perBotPerSecond: 25, perChatIntervalMs: 1100 } as const;

/** One message for one patient; buttons are signed for the patient's chat inside the activity. */
export interface PatientMessageInput {
  /** The business key of the sender, e.g. `reminder-123`: names the delivery record with `name`. */
  scope: string;
  name: string;
  patientId: number;
  text: string;
  /** Inline buttons, one row: e.g. kind `r` with confirm / cancel for a reminder. */
  buttons?: { kind: CallbackKind; appointmentId: number; options: { action: string; label: string }[] };
  /**
   * Ask for a reply (Telegram ForceReply) about this appointment: the text gets a last line `ref. <id>-<sig>`
   * signed for the patient's chat (createReplyRef), which the bot reads back from the reply's `reply_to_message`.
   */
  replyTo?: { appointmentId: number };
}

/** What happened: `not-linked` / `opted-out` sent nothing; `blocked` got 403 and opted the patient out. */
export interface PatientMessageResult {
  status: 'delivered' | 'unknown' | 'not-linked' | 'opted-out' | 'blocked';
  alreadyDelivered?: boolean;
  detail?: string;
}

interface PatientDeliveryRecord {
  scope: string;
  name: string;
  patientId: number;
  status: 'sending' | 'delivered' | 'retrying' | 'failed' | 'unknown' | 'skipped';
  workflowId?: string;
  attempt?: number;
  at: string;
  httpStatus?: number;
  detail?: string;
}

export const patientDeliveryKey = (scope: string, name: string): string =>
  `deliveries/${scope}/${name}/patient-telegram.json`;

export interface PatientSenderDeps {
  config: Pick<Config, 'warehouse' | 'bot'>;
  store: ObjectStore;
  notifier: Notifier;
  /** Default: the warehouse's raw.patient_contacts, opened on first use. */
  contacts?: ContactStore;
  /** Messages per second for this process (default 25). */
  perBotPerSecond?: number;
}

/** The patient sender activity; see the module comment. */
export function createPatientSenderActivities(deps: PatientSenderDeps) {
  let contacts = deps.contacts;
  const contactStore = () => (contacts ??= createContactStore(deps.config));
  // Bottleneck's minTime spaces the starts it plans; one its timer runs late is followed by the next on time (gaps of
  // 1 ms measured), so the queues here are one job at a time and each job waits for the spacing by the clock.
  const perBot = new Bottleneck({ maxConcurrent: 1 });
  const botIntervalMs = Math.ceil(1000 / (deps.perBotPerSecond ?? PATIENT_SEND_LIMITS.perBotPerSecond));
  let lastBotRequestAt = 0;
  const perChat = new Bottleneck.Group({ maxConcurrent: 1 });
  /** When each chat's last request started; an entry goes once it no longer delays anything. */
  const lastRequestAt = new Map<string, number>();
  const requested = (chatId: string) => {
    const at = Date.now();
    lastRequestAt.set(chatId, at);
    setTimeout(() => {
      if (lastRequestAt.get(chatId) === at) lastRequestAt.delete(chatId);
    }, PATIENT_SEND_LIMITS.perChatIntervalMs).unref();
  };

  async function readRecord(key: string): Promise<PatientDeliveryRecord | undefined> {
    const text = await deps.store.getTextIfExists(key);
    return text === undefined ? undefined : (JSON.parse(text) as PatientDeliveryRecord);
  }

  return {
    /**
     * Sends one message to a patient's own chat at most once per (scope, name); idempotent through its delivery
     * record. Retries (429 after retry_after, 5xx, refused) are Temporal's; a 403 opts the patient out.
     */
    async sendPatientMessage(input: PatientMessageInput): Promise<PatientMessageResult> {
      for (const value of [input.scope, input.name]) {
        if (typeof value !== 'string' || !MESSAGE_NAME.test(value)) {
          throw ApplicationFailure.nonRetryable('scope and name must be letters, digits, ., _, + or -', 'InvalidInput');
        }
      }
      const secret = deps.config.bot.linkSecret;
      if ((input.buttons || input.replyTo) && !secret) {
        throw ApplicationFailure.nonRetryable('TELEGRAM_LINK_SECRET is not set (it signs buttons)', 'InvalidConfig');
      }
      const ctx = activityContext();
      const key = patientDeliveryKey(input.scope, input.name);
      const record = (status: PatientDeliveryRecord['status'], extra: Partial<PatientDeliveryRecord> = {}) =>
        deps.store.put(
          key,
          `${JSON.stringify(
            {
              scope: input.scope,
              name: input.name,
              patientId: input.patientId,
              status,
              workflowId: ctx?.info.workflowExecution?.workflowId,
              attempt: ctx?.info.attempt,
              at: new Date().toISOString(),
              ...extra,
            } satisfies PatientDeliveryRecord,
            null,
            2,
          )}\n`,
          'application/json',
        );

      const previous = await readRecord(key);
      if (previous?.status === 'delivered') {
        return { status: 'delivered', alreadyDelivered: true, detail: `already delivered at ${previous.at}` };
      }
      if (previous?.status === 'sending' || previous?.status === 'unknown') {
        const detail = 'an earlier attempt was cut off while sending; it may have arrived, so it is not sent again';
        if (previous.status === 'sending') await record('unknown', { detail });
        return { status: 'unknown', detail };
      }
      const contact = await contactStore().byPatient(input.patientId);
      if (!contact) return { status: 'not-linked' };
      if (contact.optedOutAt) return { status: 'opted-out' };

      const text = input.replyTo
        ? `${input.text}\n\n${createReplyRef(input.replyTo.appointmentId, contact.chatId, secret!)}`
        : input.text;
      const replyMarkup = input.replyTo
        ? { force_reply: true }
        : input.buttons && {
            inline_keyboard: [
              input.buttons.options.map((o) => ({
                text: o.label,
                callback_data: createCallbackData(
                  { kind: input.buttons!.kind, appointmentId: input.buttons!.appointmentId, action: o.action },
                  contact.chatId,
                  secret!,
                ),
              })),
            ],
          };
      const beat = ctx ? setInterval(() => ctx.heartbeat(), 5_000) : undefined;
      try {
        // One request at a time per chat, each 1.1 s after the chat's last; then the bot's 40 ms spacing, which
        // holds only the request. `sending` is written just before the bot's queue, whose wait is short (at most
        // the worker's activity slots × 40 ms): a kill in that wait leaves `unknown` for a message never sent.
        await perChat.key(contact.chatId).schedule(async () => {
          await sleepUntil((lastRequestAt.get(contact.chatId) ?? 0) + PATIENT_SEND_LIMITS.perChatIntervalMs);
          await record('sending');
          await unlessCancelledBeforeSending(ctx, async (detail) => void (await record('retrying', { detail })));
          // The bot's queue holds only the start of each request, 40 ms after the last one's start.
          const request = await perBot.schedule(async () => {
            await sleepUntil(lastBotRequestAt + botIntervalMs);
            lastBotRequestAt = Date.now();
            requested(contact.chatId);
            const done = deps.notifier.sendTelegramChat(
              contact.chatId,
              { text, ...(replyMarkup ? { replyMarkup } : {}) },
              ctx?.cancellationSignal,
            );
            done.catch(() => undefined); // awaited below, once the queue has let go
            return { done };
          });
          await request.done;
        });
      } catch (err) {
        if (err instanceof CancelledFailure) throw err; // cancelled before sending: recorded as not sent
        const failure =
          err instanceof DeliveryError
            ? err
            : new DeliveryError('telegram', 'ambiguous', `unexpected error while sending: ${(err as Error).message}`);
        if (failure.kind === 'ambiguous') {
          const detail = `${failure.message}; it may have arrived, so it is not sent again`;
          await record('unknown', { detail });
          return { status: 'unknown', detail };
        }
        if (failure.httpStatus === 403) {
          await contactStore().optOutPatient(input.patientId);
          await record('failed', { httpStatus: 403, detail: 'the patient blocked the bot; opted out' });
          return { status: 'blocked', detail: 'the patient blocked the bot; marked opted out' };
        }
        await record(failure.retryable ? 'retrying' : 'failed', {
          detail: failure.message,
          ...(failure.httpStatus ? { httpStatus: failure.httpStatus } : {}),
        });
        throw ApplicationFailure.create({
          message: `patient message ${input.name}: ${failure.message}`,
          type: DELIVERY_FAILURE_TYPES[failure.kind],
          nonRetryable: !failure.retryable,
          ...(failure.retryAfterMs !== undefined ? { nextRetryDelay: failure.retryAfterMs } : {}),
        });
      } finally {
        if (beat) clearInterval(beat);
      }
      await record('delivered');
      return { status: 'delivered' };
    },
  };
}
