/**
 * Patients' deep-link tokens: `t.me/<bot>?start=<token>` links a Telegram chat to a patient.
 *
 * A token is base64url of 8 bytes patient id, 4 bytes expiry (Unix seconds) and the HMAC-SHA256 of both under
 * TELEGRAM_LINK_SECRET (32 bytes): 44 bytes, 59 characters, within the 64 characters of [A-Za-z0-9_-] Telegram
 * allows a start parameter. Nothing in it is secret (a patient id is not contact data); the MAC makes it unforgeable,
 * it is compared in constant time, and the expiry bounds how long a link forwarded to the wrong person works.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const ID_BYTES = 8;
const EXPIRY_BYTES = 4;
const MAC_BYTES = 32;
const TOKEN_BYTES = ID_BYTES + EXPIRY_BYTES + MAC_BYTES;
/** Domain separation: the same secret also signs callback data (callback-data.ts), never interchangeably. */
const LINK_CONTEXT = 'healthsynth-link-v1:';

function mac(secret: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(LINK_CONTEXT).update(body).digest();
}

/** The start token for `patientId`, valid until `expiresAt`. */
export function createLinkToken(patientId: number, expiresAt: Date, secret: string): string {
  if (!Number.isSafeInteger(patientId) || patientId <= 0) throw new Error('patient id must be a positive integer');
  const body = Buffer.alloc(ID_BYTES + EXPIRY_BYTES);
  body.writeBigUInt64BE(BigInt(patientId), 0);
  body.writeUInt32BE(Math.floor(expiresAt.getTime() / 1000), ID_BYTES);
  return Buffer.concat([body, mac(secret, body)]).toString('base64url');
}

/** What a start token turned out to be; `forged` covers anything malformed or signed with another secret. */
export type LinkTokenCheck =
  { ok: true; patientId: number; expiresAt: Date } | { ok: false; reason: 'forged' | 'expired' };

/** Verifies a start token: the MAC first (constant time), then the expiry against `now`. */
export function verifyLinkToken(token: string, secret: string, now: Date = new Date()): LinkTokenCheck {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(token)) return { ok: false, reason: 'forged' };
  const raw = Buffer.from(token, 'base64url');
  if (raw.length !== TOKEN_BYTES) return { ok: false, reason: 'forged' };
  const body = raw.subarray(0, ID_BYTES + EXPIRY_BYTES);
  if (!timingSafeEqual(raw.subarray(ID_BYTES + EXPIRY_BYTES), mac(secret, body)))
    return { ok: false, reason: 'forged' };
  const patientId = Number(body.readBigUInt64BE(0));
  const expiresAt = new Date(body.readUInt32BE(ID_BYTES) * 1000);
  if (!Number.isSafeInteger(patientId) || patientId <= 0) return { ok: false, reason: 'forged' };
  if (expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, patientId, expiresAt };
}

/** The deep link a patient opens: https://t.me/<bot>?start=<token>. */
export function deepLink(botUsername: string, token: string): string {
  return `https://t.me/${botUsername.replace(/^@/, '')}?start=${token}`;
}
