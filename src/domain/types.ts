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

/** A day published to dbt: all six batches verified against the load ledger and their tables. */
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
  /** delivered: the endpoint accepted it; outbox: no endpoint configured, written to disk; failed: gave up. */
  status: 'delivered' | 'outbox' | 'failed';
  detail?: string;
  outboxPath?: string;
}

export interface ReportResult {
  runDate: string;
  reportKey: string;
  reportUrl: string;
  doctorsRanked: number;
  topDoctor?: { name: string; score: number };
  notifications: NotificationResult[];
}

export interface CleanupTableResult {
  table: string;
  cutoff: string;
  backupKey?: string;
  rowsBackedUp: number;
  rowsDeleted: number;
  status: 'cleaned' | 'nothing-to-clean' | 'already-done';
}

export interface CleanupResult {
  runDate: string;
  retentionDays: number;
  tables: CleanupTableResult[];
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

export interface PipelineSummary {
  runDate: string;
  scale: ScaleInput;
  ingest: IngestResult[];
  dbt?: DbtSummary;
  report?: ReportResult | { error: string };
  cleanup?: CleanupResult | { error: string };
  notifications: NotificationResult[];
  webUiUrl?: string;
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
