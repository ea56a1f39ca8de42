/**
 * Plain data types that cross Temporal history (workflow inputs, activity results).
 * Keep them small: keys, table names and counts, never CSV contents or query results.
 */
import type { IncomingWebhookSendArguments } from '@slack/webhook';
import type { EntityName } from './entities.js';

/** A scale given as a name or a number of appointments per day. */
export type ScaleInput = 'small' | 'medium' | 'large' | number;

/** One generated part file in the object store. */
export interface ShardObject {
  key: string;
  etag: string;
  bytes: number;
  rows: number;
}

export interface GenerateShardInput {
  entity: EntityName;
  runDate: string;
  scale: ScaleInput;
  shard: number;
  seed: number;
  /** Appointments per shard; the workflow passes the value it planned with, so a config change mid-run cannot split shards differently. */
  shardRows?: number;
  /**
   * Object key of the run date's reminded appointments (a text object, one appointment id per line, an optional
   * `appointment_id` header line). Read by appointments, records and feedback shards, whose outcomes it changes.
   */
  remindedKey?: string;
  /** The reminder's relative risk the workflow read from the settings (REMINDER_RELATIVE_RISK when absent). */
  reminderRelativeRisk?: number;
}

export interface LoadBatchInput {
  entity: EntityName;
  batchDate: string;
  objects: ShardObject[];
}

export interface LoadResult {
  entity: EntityName;
  batchDate: string;
  rows: number;
  /** `unchanged`: the ledger says these exact objects were loaded and the table still holds them; nothing was written. */
  status: 'loaded' | 'unchanged';
  durationMs: number;
}

/** What publishDay checks and records: the date and the rows each entity's load of it reported. */
export interface PublishDayInput {
  batchDate: string;
  rows: Record<EntityName, number>;
}

/** A day published to dbt: all seven batches verified against the load ledger and their tables. */
export interface PublishedDay {
  batchDate: string;
  rows: Record<EntityName, number>;
  status: 'published';
}

export interface IngestResult {
  entity: EntityName;
  runDate: string;
  shards: number;
  rowsGenerated: number;
  bytes: number;
  rowsLoaded: number;
  loadStatus: LoadResult['status'];
}

export interface DbtNodeTiming {
  uniqueId: string;
  status: string;
  seconds: number;
}

export interface DbtSummary {
  command: string;
  success: boolean;
  elapsedSeconds: number;
  modelsBuilt: number;
  testsPassed: number;
  testsFailed: number;
  testsWarned: number;
  unitTestsPassed: number;
  failingTests: string[];
  slowest: DbtNodeTiming[];
}

export type Channel = 'slack' | 'telegram';

export interface NotificationResult {
  channel: Channel;
  /**
   * delivered: the endpoint accepted it; outbox: no endpoint configured, written to disk; failed: not delivered
   * (refused, or still failing after Temporal's retries); unknown: an attempt was cut off mid-request, so it may
   * or may not have arrived, and it is not sent again (at most once).
   */
  status: 'delivered' | 'outbox' | 'failed' | 'unknown';
  /** The message's name (e.g. doctor-rating) and who it was for; absent in results of older runs. */
  message?: string;
  audience?: Audience;
  /** True when the delivery record showed an earlier attempt or run had delivered it: nothing was sent now. */
  alreadyDelivered?: boolean;
  /** The HTTP status the endpoint answered with, when it answered with an error. */
  httpStatus?: number;
  detail?: string;
  outboxPath?: string;
}

export interface ReportResult {
  runDate: string;
  reportKey: string;
  reportUrl: string;
  doctorsRanked: number;
  topDoctor?: { name: string; score: number };
  /** Ratings counted in the run date's ranking, by where they came from (absent in reports built before sources). */
  ratingsBySource?: RatingsBySource;
  /** The Monday report's reminder section (marts.reminder_effect); absent on other days and before any reminder. */
  reminderEffect?: ReminderEffectFacts;
  notifications: NotificationResult[];
}

/** What the reminders did over a span of appointment days (one row of marts.reminder_effect; aggregates only). */
export interface ReminderEffectPeriod {
  from: string;
  to: string;
  reminded: number;
  holdout: number;
  cancelled: number;
  /** Mantel-Haenszel relative risk of a no-show, reminded vs held out, and its 95% interval; null without no-shows. */
  relativeRisk: number | null;
  low: number | null;
  high: number | null;
  /** No-shows prevented, and the same at the interval's bounds. */
  prevented: number | null;
  preventedLow: number | null;
  preventedHigh: number | null;
}

/** The weekly reminder section: the last week with compared appointments before the report, and everything kept. */
export interface ReminderEffectFacts {
  week?: ReminderEffectPeriod;
  toDate: ReminderEffectPeriod;
}

/** Ratings by source: the generated surveys and the patients' Telegram answers. */
export interface RatingsBySource {
  survey: number;
  telegram: number;
}

export interface CleanupTableResult {
  table: string;
  cutoff: string;
  backupKey?: string;
  rowsBackedUp: number;
  rowsDeleted: number;
  /** Load-ledger rows removed with the rows (one per batch the delete touched), so a reload really loads. */
  ledgerRowsDeleted?: number;
  status: 'cleaned' | 'nothing-to-clean' | 'already-done';
}

export interface CleanupResult {
  runDate: string;
  retentionDays: number;
  /** Rows dated before this went: RETENTION_DAYS before the earlier of runDate and today. */
  cutoff?: string;
  tables: CleanupTableResult[];
  /** Raw CSV objects of the expired days and backups past BACKUP_RETENTION_DAYS, deleted after the tables. */
  objects?: {
    rawDaysDeleted: number;
    rawObjectsDeleted: number;
    backupObjectsDeleted: number;
    backupRetentionDays: number;
  };
  notifications: NotificationResult[];
}

export type StepState = 'pending' | 'running' | 'completed' | 'failed' | 'skipped';

export interface StepProgress {
  name: string;
  state: StepState;
  detail?: string;
  startedAt?: string;
  endedAt?: string;
}

export interface PipelineProgress {
  runDate: string;
  steps: StepProgress[];
  entities: Partial<Record<EntityName, { generated: number; loaded: number; state: StepState }>>;
}

/** What the pipeline summary says about the no-show model: small numbers only. */
export interface PredictSummary {
  modelVersion?: string;
  /** Why no model was trained (a warehouse with too little history). */
  skipped?: string;
  trainRows?: number;
  scored?: number;
  rocAuc?: number | null;
  bayesAuc?: number | null;
}

export interface PipelineSummary {
  runDate: string;
  scale: ScaleInput;
  ingest: IngestResult[];
  dbt?: DbtSummary;
  report?: ReportResult | { error: string };
  cleanup?: CleanupResult | { error: string };
  /** The no-show model's day (predictNoShows): the model, how many appointments it scored, yesterday's AUC. */
  predict?: PredictSummary | { error: string };
  /**
   * Tomorrow's reminders (appointmentReminders): how many were chosen in each arm, reminder workflows started and
   * already existing; and the reminded set this day's outcomes were generated with (appointments it counts).
   */
  remind?: RemindSummary | { error: string };
  /** Rating requests started for the day's attended visits of linked patients (and found started by a rerun). */
  ratings?: { requested: number; alreadyRequested: number } | { error: string };
  notifications: NotificationResult[];
  webUiUrl?: string;
}

/** See PipelineSummary.remind. */
export interface RemindSummary {
  reminded: number;
  holdout: number;
  started: number;
  existing: number;
  skipped?: string;
}

/**
 * A Slack message as plain data (it crosses history as the notify activity's input).
 * `text` is the notification/fallback text; `blocks` is Block Kit JSON (https://api.slack.com/block-kit).
 */
export interface SlackMessage {
  /** Short kebab-case name for logs and outbox files, e.g. "doctor-rating" or "pipeline-failed". */
  name: string;
  text: string;
  blocks?: IncomingWebhookSendArguments['blocks'];
}

/** Who a message is for. Staff: Slack and the staff Telegram chat. Patients: the patients' Telegram chat only. */
export type Audience = 'staff' | 'patients';

/** What Slack shows: fallback text and optional Block Kit blocks. */
export type SlackContent = Omit<SlackMessage, 'name'>;

/** What Telegram shows: a text, or a PNG already in the object store (by key) with a caption. */
export type TelegramContent = { text: string } | { photoKey: string; caption: string };

/**
 * Identity of a message for its delivery record: `scope` is the business id of the workflow it belongs to
 * (`daily-pipeline-<date>`), `name` is unique within it (`pipeline-summary`, `pipeline-failed-<runId>-<step>`).
 * A message is sent at most once per scope, name and channel, however often the workflow is retried or rerun.
 */
interface MessageIdentity {
  scope: string;
  name: string;
}

/** A message for staff: alerts, run summaries, the doctor-rating chart, cleanup notes. */
export interface StaffMessage extends MessageIdentity {
  audience: 'staff';
  slack: SlackContent;
  telegram: TelegramContent;
}

/** A message for patients (the weekend notice): Telegram's patient chat only, never Slack or the staff chat. */
export interface PatientMessage extends MessageIdentity {
  audience: 'patients';
  telegram: { text: string };
}

/** Any message; its `audience` alone decides the Telegram chat, and only staff messages have a Slack part. */
export type OutgoingMessage = StaffMessage | PatientMessage;
