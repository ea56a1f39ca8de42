/**
 * `raw.rating_requests`: one row per `ratingRequest-<appointmentId>` workflow that finished, written once by its
 * last activity: the 1–5 rating the patient pressed on Telegram, or that no answer came within the wait, or that the
 * request could not be delivered. It is not a batch table (the pipeline's loads never touch it, rows arrive at any
 * time of day), so it has a primary key instead of a batch_date. The optional comment arrives later and fills the
 * row's `comment` once (only while it is null), so a retry or a second comment changes nothing. dbt reads its rated
 * rows as the Telegram ratings (`stg_telegram_ratings`) beside the generated survey feedback. One definition, so the DDL
 * (src/activities/warehouse/ddl.ts) and dbt's sources YAML (src/domain/dbt-sources.ts) cannot disagree.
 */
import { RAW_SCHEMA, type Column } from './entities.js';

/** Table name inside {@link RAW_SCHEMA}. */
export const RATING_REQUESTS_TABLE = 'rating_requests';

/** `raw.rating_requests`. */
export const RATING_REQUESTS = `${RAW_SCHEMA}.${RATING_REQUESTS_TABLE}`;

/**
 * How long after a rating the patient may reply with a comment (the bot's invitation names it in hours). A day: long
 * enough to answer later in the day, short enough that the comment still belongs to the visit.
 */
export const RATING_COMMENT_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The longest comment kept, in characters (code points); a longer one is truncated (src/bot/comment.ts). */
export const COMMENT_MAX_CHARS = 500;

/** The longest sealed comment a workflow accepts: 500 code points of up to 4 UTF-8 bytes, IV and tag, base64url. */
export const SEALED_COMMENT_MAX_CHARS = Math.ceil(((COMMENT_MAX_CHARS * 4 + 12 + 16) * 4) / 3);

/** How a rating request ended. */
export const RATING_REQUEST_STATUSES = ['rated', 'no-response', 'undeliverable'] as const;
export type RatingRequestStatus = (typeof RATING_REQUEST_STATUSES)[number];

/** Columns of {@link RATING_REQUESTS}; the key is appointment_id (one request per appointment, ever). */
export const RATING_REQUESTS_COLUMNS: readonly Column[] = [
  { name: 'appointment_id', type: 'id', description: 'The attended appointment the request asked about (the key).' },
  { name: 'patient_id', type: 'id', description: 'The patient asked (the appointment’s patient).' },
  { name: 'appointment_day', type: 'date', description: 'Day of the appointment (the run date that asked).' },
  {
    name: 'status',
    type: 'text',
    maxLength: 16,
    description: 'rated, no-response (nothing within the wait) or undeliverable (not linked, opted out or blocked).',
    accepted: RATING_REQUEST_STATUSES,
  },
  { name: 'rating', type: 'smallint', nullable: true, description: 'Stars pressed, 1–5; null unless rated.' },
  {
    name: 'comment',
    type: 'text',
    maxLength: COMMENT_MAX_CHARS,
    nullable: true,
    description:
      'The patient’s optional comment, a reply to the invitation sent after the rating (within 24 hours; control characters removed, at most 500 characters); null when none.',
  },
  {
    name: 'answered_at',
    type: 'timestamp',
    nullable: true,
    description: 'When the patient pressed (UTC); null unless rated.',
  },
  { name: 'recorded_at', type: 'timestamp', description: 'When the outcome was written (UTC).' },
];
