/**
 * A rating's optional comment (issue 12): what the patient writes in reply to the bot's invitation, cleaned, capped
 * and sealed before it goes anywhere near Temporal.
 *
 * - **Cleaned and capped.** Control characters (C0, DEL, C1, except line breaks and tabs, which become spaces or
 *   stay as one newline) are removed and the text is cut to {@link COMMENT_MAX_CHARS} code points: a longer
 *   comment is truncated, not refused (the patient wrote it once; asking again would lose it), and the bot says so.
 * - **Sealed.** The Update `patientComment` carries the comment as AES-256-GCM ciphertext under a key derived from
 *   TELEGRAM_LINK_SECRET (which the bot and the workers already share: it signs buttons), bound to the appointment
 *   as associated data. Workflow histories then hold ciphertext whether or not the payload codec
 *   (TEMPORAL_ENCRYPTION_KEYS) is on, and only the activity that writes it to the warehouse opens it. A sealed
 *   comment replayed into another appointment's workflow fails authentication.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { COMMENT_MAX_CHARS } from '../domain/rating-requests.js';

export { COMMENT_MAX_CHARS };

const KEY_CONTEXT = 'healthsynth-comment-key-v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The comment as it is stored: control characters removed, whitespace runs kept short, at most 500 characters. */
export function cleanComment(raw: string): { text: string; truncated: boolean } {
  const stripped = raw
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, ' ')
    // C0 (except \n), DEL, C1, and the bidirectional overrides/isolates that can disguise text.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point: they are removed.
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  const chars = [...stripped];
  if (chars.length <= COMMENT_MAX_CHARS) return { text: stripped, truncated: false };
  return { text: chars.slice(0, COMMENT_MAX_CHARS).join('').trimEnd(), truncated: true };
}

const keyFor = (secret: string): Buffer => createHmac('sha256', secret).update(KEY_CONTEXT).digest();
const aad = (appointmentId: number): Buffer => Buffer.from(`rating-comment:${appointmentId}`);

/** Seals a (cleaned) comment for `appointmentId`: base64url of IV ‖ ciphertext ‖ tag. */
export function sealComment(text: string, appointmentId: number, secret: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(secret), iv);
  cipher.setAAD(aad(appointmentId));
  return Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url');
}

/** Opens a sealed comment; undefined when it was altered, sealed for another appointment or under another secret. */
export function openComment(sealed: string, appointmentId: number, secret: string): string | undefined {
  const data = Buffer.from(sealed, 'base64url');
  if (data.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(secret), data.subarray(0, IV_BYTES));
    decipher.setAAD(aad(appointmentId));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return undefined;
  }
}
