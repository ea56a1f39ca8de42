/**
 * The patients' Telegram bot (telegraf): `/start <token>` links a chat, `/stop` opts out, `/help`, in Portuguese or
 * English by the user's language_code; inline-button presses become Temporal Updates of the workflow waiting for
 * them. Updates arrive by long polling or through the webhook server (webhook.ts), both into {@link PatientBot.handleUpdate}.
 *
 * Every press is answered (answerCallbackQuery) within a second: the Update gets {@link CALLBACK_ANSWER_WITHIN_MS};
 * if it has not finished by then the patient is told the answer was received and the Update finishes on its own.
 * A press that fails its signature (forged, or sent from another chat than the button's), from a chat that is not
 * linked or opted out, or for a workflow that does not exist or rejects the Update, is answered "this request has
 * expired" and changes nothing. The Update id is the callback query's id, so Telegram delivering the same press
 * twice runs the Update once.
 *
 * A text message that replies to the bot's comment invitation (a rated visit's ForceReply message) becomes the
 * Update `patientComment` of `ratingRequest-<appointmentId>`: the appointment comes from the signed reference on the
 * invitation's last line (callback-data.ts, parseReplyRef, checked against the replying chat), the comment is cleaned,
 * capped at 500 characters and sealed (comment.ts) before it leaves the bot, and the Update id is the Telegram update
 * id. The patient is told it was received (or that only the first 500 characters were kept), or that the visit can no
 * longer be commented on (forged or foreign reference, unlinked or opted-out chat, a second comment, too late). A
 * reply to any other message (one without a reference line) is not a comment and gets no answer. The comment's text
 * is never logged.
 */
import { type Client, isGrpcServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import pRetry from 'p-retry';
import { Telegraf, type Context } from 'telegraf';
import type { Update } from 'telegraf/types';
import type { Config } from '../config.js';
import {
  PATIENT_ANSWER_UPDATE,
  PATIENT_COMMENT_UPDATE,
  workflowIds,
  type PatientAnswer,
  type PatientComment,
} from '../workflow-ids.js';
import { CALLBACK_KINDS, hasReplyRef, parseCallbackData, parseReplyRef } from './callback-data.js';
import { cleanComment, sealComment } from './comment.js';
import type { ContactStore } from './contacts.js';
import { verifyLinkToken } from './link-token.js';
import { languageOf, TEXTS } from './texts.js';

/** How long a press waits for its Update before the patient is answered anyway (Telegram shows a spinner till then). */
export const CALLBACK_ANSWER_WITHIN_MS = 800;

/**
 * How long a comment waits for its Update before the patient is told it was received anyway (nothing presses for
 * time here, unlike a button's spinner; the Update then finishes on its own, see settle).
 */
export const COMMENT_ANSWER_WITHIN_MS = 10_000;

/** What happened to one button press, for logs and tests. */
export type CallbackOutcome = 'accepted' | 'pending' | 'expired' | 'refused' | 'error';

export interface PatientBotDeps {
  config: Pick<Config, 'telegram' | 'bot'>;
  contacts: ContactStore;
  /** Temporal, for button presses; without it every press is answered "expired". */
  temporal?: Client;
  log?: (line: string) => void;
  now?: () => Date;
  /** Called after each press with its outcome (tests, metrics). */
  onCallback?: (outcome: CallbackOutcome) => void;
  /** Called after each reply to a comment invitation with its outcome (tests, the demo's count). */
  onComment?: (outcome: CallbackOutcome) => void;
}

export interface PatientBot {
  telegraf: Telegraf;
  handleUpdate(update: Update): Promise<void>;
  /**
   * Waits (at most `timeoutMs`) for the Updates of presses already answered "received" to finish. Call it after no
   * more updates come in and before Temporal's connection closes: an Update still retrying on a closed connection
   * would fail from the gRPC client's retry timer ("Channel has been shut down"), outside any handler.
   */
  settle(timeoutMs?: number): Promise<{ unsettled: number }>;
}

/** How long stopping the bot waits for Updates in flight. */
export const SETTLE_WITHIN_MS = 30_000;

/**
 * How long an Update that failed for a passing reason (Temporal unreachable, overloaded, the call timed out) is
 * tried again with the same id, which Temporal runs at most once. The patient may already have been told
 * "received", so giving up early would drop an answer that was acknowledged.
 */
export const UPDATE_RETRY_FOR_MS = 15 * 60_000;

/** gRPC codes that no retry mends: the bot's own configuration is wrong (logged, not retried). */
const PERMANENT_GRPC_CODES = new Set([3, 7, 12, 16]); // INVALID_ARGUMENT, PERMISSION_DENIED, UNIMPLEMENTED, UNAUTHENTICATED

const sleep = (ms: number) => new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms).unref());

/** Whether a failed Update means the request is gone (no such workflow, closed, or the validator said no). */
function isExpired(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError || err instanceof WorkflowUpdateFailedError) return true;
  const e = err as { name?: string; code?: number; details?: string };
  // gRPC NOT_FOUND (5) / FAILED_PRECONDITION (9): the workflow does not exist or has completed.
  return e.name === 'ServiceError' && /not found|already completed/i.test(String(e.details ?? (err as Error).message));
}

/**
 * A failed Update for the log: its name and message, and the gRPC status under it ("Workflow Update failed" alone does
 * not say whether the call timed out or Temporal refused it). Server messages only: the Update's argument is not in it.
 */
function describeFailure(err: unknown): string {
  const e = err as Error;
  const cause = (err as { cause?: unknown }).cause;
  const grpc = isGrpcServiceError(cause) ? ` (gRPC ${cause.code}: ${cause.details})` : '';
  return `${e.name}: ${e.message}${grpc}`;
}

/** Whether trying a failed Update again cannot help: it expired, or the request itself is refused. */
function isFinal(err: unknown): boolean {
  if (isExpired(err)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return isGrpcServiceError(cause) && PERMANENT_GRPC_CODES.has(cause.code);
}

/** Builds the bot; see the module comment. Requires TELEGRAM_BOT_TOKEN and TELEGRAM_LINK_SECRET. */
export function createPatientBot(deps: PatientBotDeps): PatientBot {
  const { config, contacts } = deps;
  const token = config.telegram.botToken;
  const secret = config.bot.linkSecret;
  if (!token) throw new Error('TELEGRAM_BOT_TOKEN is not set');
  /** The Updates of presses not finished yet (see settle). */
  const inFlight = new Set<Promise<CallbackOutcome>>();
  if (!secret) throw new Error('TELEGRAM_LINK_SECRET is not set (openssl rand -hex 32)');
  const log = deps.log ?? ((line: string) => console.error(line));
  const now = deps.now ?? (() => new Date());
  const apiRoot = config.telegram.apiRoot;
  const telegraf = new Telegraf(token, { telegram: apiRoot ? { apiRoot } : {}, handlerTimeout: 30_000 });
  const texts = (ctx: Context) => TEXTS[languageOf(ctx.from?.language_code)];

  /**
   * Sends one Update (its id makes a redelivered press or message run it once) and tracks it until it finishes
   * (see settle); resolves to accepted, expired (no such workflow, closed, or refused by the validator) or error.
   * A passing failure is tried again with the same id for up to {@link UPDATE_RETRY_FOR_MS}: the gRPC client's own
   * retries end after about 20 s, and an answer the patient was told is received must not be dropped then.
   * Failures are logged by name and message only: an Update's argument never reaches the log.
   */
  function runUpdate(
    temporal: Client,
    workflowId: string,
    name: string,
    arg: PatientAnswer | PatientComment,
    updateId: string,
  ): Promise<CallbackOutcome> {
    const handle = temporal.workflow.getHandle(workflowId);
    const update = pRetry(
      () =>
        handle.executeUpdate(name, { args: [arg], updateId }).catch((err: unknown) => {
          throw isFinal(err) ? new pRetry.AbortError(err as Error) : err;
        }),
      {
        retries: 1_000,
        factor: 2,
        minTimeout: 1_000,
        maxTimeout: 30_000,
        maxRetryTime: UPDATE_RETRY_FOR_MS,
        // A retry does not hold the process open: stopping the bot waits for it only as long as settle allows.
        unref: true,
        onFailedAttempt: (err) =>
          log(`bot: ${name} update of ${workflowId} failed (attempt ${err.attemptNumber}): ${describeFailure(err)}`),
      },
    ).then(
      (): CallbackOutcome => 'accepted',
      (err: unknown): CallbackOutcome => {
        if (isExpired(err)) return 'expired';
        log(`bot: ${name} update of ${workflowId} failed: ${describeFailure(err)}`);
        return 'error';
      },
    );
    inFlight.add(update);
    void update.finally(() => inFlight.delete(update));
    return update;
  }

  /** A press the patient was told is received, whose Update then did not arrive: an answer lost, worth a log line. */
  function warnIfLost(late: CallbackOutcome, workflowId: string) {
    if (late === 'expired')
      log(`bot: a press on ${workflowId} was answered "received" and then refused by its workflow`);
  }

  telegraf.start(async (ctx) => {
    const t = texts(ctx);
    const payload = ctx.payload.trim();
    if (!payload) return void (await ctx.reply(t.startWithoutToken));
    const check = verifyLinkToken(payload, secret, now());
    if (!check.ok) {
      log(`bot: /start refused (${check.reason} token)`);
      return void (await ctx.reply(check.reason === 'expired' ? t.linkExpired : t.linkInvalid));
    }
    await contacts.link(check.patientId, String(ctx.chat.id), languageOf(ctx.from?.language_code));
    log('bot: a chat was linked to a patient');
    await ctx.reply(t.linked);
  });

  telegraf.command('stop', async (ctx) => {
    const t = texts(ctx);
    const contact = await contacts.optOutChat(String(ctx.chat.id));
    await ctx.reply(contact ? t.stopped : t.stopNotLinked);
  });

  telegraf.help(async (ctx) => void (await ctx.reply(texts(ctx).help)));

  telegraf.on('callback_query', async (ctx) => {
    const t = texts(ctx);
    const query = ctx.callbackQuery;
    const chatId = ctx.chat?.id ?? query.from.id;
    let outcome: CallbackOutcome = 'refused';
    let answer: string = t.expired;
    try {
      const cb = 'data' in query ? parseCallbackData(query.data, chatId, secret) : undefined;
      const contact = cb ? await contacts.byChat(String(chatId)) : undefined;
      if (cb && contact && !contact.optedOutAt && deps.temporal) {
        const workflowId = CALLBACK_KINDS[cb.kind].workflowId(cb.appointmentId);
        const arg: PatientAnswer = { action: cb.action, patientId: contact.patientId };
        const update = runUpdate(
          deps.temporal,
          workflowId,
          PATIENT_ANSWER_UPDATE,
          arg,
          `telegram-callback-${query.id}`,
        );
        outcome = await Promise.race([update, sleep(CALLBACK_ANSWER_WITHIN_MS)]);
        answer = outcome === 'expired' ? t.expired : outcome === 'error' ? t.tryLater : t.received;
        if (outcome === 'pending') void update.then((late) => warnIfLost(late, workflowId));
      }
    } catch (err) {
      log(`bot: callback failed: ${(err as Error).message}`);
      outcome = 'error';
      answer = t.tryLater;
    }
    await ctx.answerCbQuery(answer);
    deps.onCallback?.(outcome);
  });

  telegraf.on('message', async (ctx, next) => {
    const msg = ctx.message;
    if (!('text' in msg) || !msg.reply_to_message) return next();
    const t = texts(ctx);
    const replied = msg.reply_to_message;
    const repliedText = 'text' in replied ? replied.text : undefined;
    // A reply to anything but a comment invitation (the bot's other messages, the patient's own) is no comment.
    if (!hasReplyRef(repliedText)) return next();
    const appointmentId = parseReplyRef(repliedText, ctx.chat.id, secret);
    const { text, truncated } = cleanComment(msg.text);
    if (appointmentId !== undefined && !text) return; // nothing but control characters or spaces: nothing to keep
    let outcome: CallbackOutcome = 'refused';
    let answer: string = t.commentExpired;
    try {
      const contact = appointmentId !== undefined ? await contacts.byChat(String(ctx.chat.id)) : undefined;
      if (appointmentId !== undefined && contact && !contact.optedOutAt && deps.temporal) {
        const workflowId = workflowIds.ratingRequest(appointmentId);
        const arg: PatientComment = {
          patientId: contact.patientId,
          sealedComment: sealComment(text, appointmentId, secret),
        };
        const update = runUpdate(
          deps.temporal,
          workflowId,
          PATIENT_COMMENT_UPDATE,
          arg,
          `telegram-update-${ctx.update.update_id}`,
        );
        outcome = await Promise.race([update, sleep(COMMENT_ANSWER_WITHIN_MS)]);
        answer =
          outcome === 'expired'
            ? t.commentExpired
            : outcome === 'error'
              ? t.tryLater
              : truncated
                ? t.commentTruncated
                : t.commentReceived;
      }
    } catch (err) {
      log(`bot: comment failed: ${(err as Error).name}`);
      outcome = 'error';
      answer = t.tryLater;
    }
    await ctx.reply(answer);
    deps.onComment?.(outcome);
  });

  telegraf.catch((err) => log(`bot: update failed: ${(err as Error).message}`));

  return {
    telegraf,
    handleUpdate: (update) => telegraf.handleUpdate(update),
    async settle(timeoutMs = SETTLE_WITHIN_MS) {
      const timeUp = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
      // Updates never reject (their handlers turn errors into outcomes); a press arriving meanwhile is waited for too.
      while (inFlight.size > 0) {
        const waited = await Promise.race([Promise.all([...inFlight]).then(() => true), timeUp.then(() => false)]);
        if (!waited) break;
      }
      return { unsettled: inFlight.size };
    },
  };
}
