/**
 * Inline-button callback data: `<kind>:<appointmentId>:<action>:<sig>`, at most 64 bytes as Telegram allows.
 *
 * `kind` is `r` (an appointment reminder: confirm / cancel) or `q` (a rating request: 1–5). `sig` is the first 12
 * base64url characters (72 bits) of an HMAC-SHA256 under TELEGRAM_LINK_SECRET over the data *and the chat the button
 * was sent to*, so a press is honoured only in that chat: a forged button, or another patient's button replayed from
 * a different chat, fails the check in constant time and changes nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { workflowIds } from '../workflow-ids.js';

/** What a button asks for, by the workflow that waits for it. */
export const CALLBACK_KINDS = {
  r: { workflowId: workflowIds.reminder, actions: ['confirm', 'cancel'] },
  q: { workflowId: workflowIds.ratingRequest, actions: ['1', '2', '3', '4', '5'] },
} as const;
export type CallbackKind = keyof typeof CALLBACK_KINDS;

/** A verified button press. */
export interface PatientCallback {
  kind: CallbackKind;
  appointmentId: number;
  action: string;
}

const SIG_CHARS = 12;
const CALLBACK_CONTEXT = 'healthsynth-callback-v1:';

function sign(secret: string, data: string, chatId: number | string): string {
  const mac = createHmac('sha256', secret).update(CALLBACK_CONTEXT).update(`${data}|${chatId}`).digest('base64url');
  return mac.slice(0, SIG_CHARS);
}

/** The callback data of a button for `chatId`. Throws for a kind/action pair no workflow understands. */
export function createCallbackData(cb: PatientCallback, chatId: number | string, secret: string): string {
  const spec = CALLBACK_KINDS[cb.kind];
  if (!(spec.actions as readonly string[]).includes(cb.action))
    throw new Error(`unknown ${cb.kind} action ${cb.action}`);
  if (!Number.isSafeInteger(cb.appointmentId) || cb.appointmentId <= 0) throw new Error('bad appointment id');
  const data = `${cb.kind}:${cb.appointmentId}:${cb.action}`;
  const full = `${data}:${sign(secret, data, chatId)}`;
  if (Buffer.byteLength(full) > 64) throw new Error('callback data exceeds 64 bytes');
  return full;
}

/** Parses and verifies callback data pressed in `chatId`; undefined when malformed, unknown or not signed for it. */
export function parseCallbackData(raw: string, chatId: number | string, secret: string): PatientCallback | undefined {
  const m = /^([rq]):(\d{1,15}):(\w{1,16}):([A-Za-z0-9_-]{12})$/.exec(raw);
  if (!m) return undefined;
  const [, kind, id, action, sig] = m as unknown as [string, CallbackKind, string, string, string];
  const expected = sign(secret, `${kind}:${id}:${action}`, chatId);
  if (!timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) return undefined;
  if (!(CALLBACK_KINDS[kind].actions as readonly string[]).includes(action)) return undefined;
  return { kind, appointmentId: Number(id), action };
}

/**
 * The reference printed on the last line of a comment invitation, `ref. <appointmentId>-<sig>`: the same 72-bit
 * HMAC as a button's, over `c:<appointmentId>:comment` and the chat it was sent to. A reply to the invitation carries
 * the invitation's text (`reply_to_message`), so the bot learns which appointment the comment is for from the message
 * itself, statelessly, and a reference copied into another chat or made up fails the check.
 */
export function createReplyRef(appointmentId: number, chatId: number | string, secret: string): string {
  if (!Number.isSafeInteger(appointmentId) || appointmentId <= 0) throw new Error('bad appointment id');
  return `ref. ${appointmentId}-${sign(secret, `c:${appointmentId}:comment`, chatId)}`;
}

/** A reference on the last line of a message's text (see createReplyRef). */
const REPLY_REF = /(?:^|\n)ref\. (\d{1,15})-([A-Za-z0-9_-]{12})\s*$/;

/** Whether `text` ends in a reference at all, signed or not: a comment invitation, or something made up to look like one. */
export const hasReplyRef = (text: string | undefined): boolean => REPLY_REF.test(text ?? '');

/** The appointment of the reference on the last line of `text`, verified for `chatId`; undefined otherwise. */
export function parseReplyRef(text: string | undefined, chatId: number | string, secret: string): number | undefined {
  const m = REPLY_REF.exec(text ?? '');
  if (!m) return undefined;
  const [, id, sig] = m as unknown as [string, string, string];
  const expected = sign(secret, `c:${id}:comment`, chatId);
  if (!timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) return undefined;
  return Number(id);
}
