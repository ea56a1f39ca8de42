/**
 * How many part files an entity's day is split into, and how many it may be split into. Pure and tiny so workflow
 * code can import it.
 */
import type { EntityName } from './entities.js';
import type { ScaleInput } from './types.js';

const SCALE_APPOINTMENTS = { small: 1_000, medium: 100_000, large: 1_000_000 } as const;

/** Appointments per day for a scale name or number (the one table of scale sizes). */
export function appointmentsPerDay(scale: ScaleInput): number {
  return typeof scale === 'number' ? scale : SCALE_APPOINTMENTS[scale];
}

/**
 * clinics and doctors are small snapshots and always one shard; the per-appointment entities split the
 * day's appointment range into shards of `shardRows` appointments, so shard k of every entity covers the
 * same appointments and their foreign keys line up.
 */
export function planShards(entity: EntityName, scale: ScaleInput, shardRows: number): number {
  if (entity === 'clinics' || entity === 'doctors') return 1;
  return Math.max(1, Math.ceil(appointmentsPerDay(scale) / shardRows));
}

/** The appointment index range [start, end) that shard `shard` covers. */
export function shardRange(scale: ScaleInput, shardRows: number, shard: number): { start: number; end: number } {
  const n = appointmentsPerDay(scale);
  return { start: Math.min(n, shard * shardRows), end: Math.min(n, (shard + 1) * shardRows) };
}

/**
 * The most events any workflow history of ours may reach. Temporal's own limit is 51,200 events (and 50 MB), but a
 * long history replays slowly on every worker restart and cache eviction; 2,000 keeps replay in milliseconds.
 */
export const HISTORY_EVENT_LIMIT = 2_000;

/**
 * Events one shard adds to ingestEntity's history, counted in test/workflow/histories/before-patches/ingest-entity-appointments.json
 * (events 5-10): ActivityTaskScheduled, -Started, -Completed, and the workflow task its completion wakes
 * (WorkflowTaskScheduled, -Started, -Completed) when it completes alone.
 */
export const EVENTS_PER_SHARD = 6;

/**
 * Events one progress signal to the parent adds (events 11-15 of the same history):
 * SignalExternalWorkflowExecutionInitiated, ExternalWorkflowExecutionSignaled, and the workflow task it wakes.
 */
export const EVENTS_PER_PROGRESS_SIGNAL = 5;

/** Progress signals a child sends at most: one per tenth of its shards ({@link progressEvery}), plus the final one. */
export const MAX_PROGRESS_SIGNALS = 11;

/**
 * The rest of an ingestEntity history: WorkflowExecutionStarted, the first workflow task (3), a patch marker with
 * its search-attribute upsert (2), the load activity and the workflow task it wakes (6), WorkflowExecutionCompleted.
 */
const FIXED_EVENTS = 13;

/** Room for workflow tasks that fail or time out (a worker killed mid-task) and their retries: 10% of the limit. */
const EVENT_MARGIN = 200;

/** The most shards one entity's day may have, so that no ingestEntity history passes {@link HISTORY_EVENT_LIMIT}. */
export const MAX_SHARDS_PER_ENTITY = Math.floor(
  (HISTORY_EVENT_LIMIT - EVENT_MARGIN - FIXED_EVENTS - MAX_PROGRESS_SIGNALS * EVENTS_PER_PROGRESS_SIGNAL) /
    EVENTS_PER_SHARD,
);

/**
 * Why `scale` at `shardRows` appointments per shard cannot run (too many shards for one history), naming the limit
 * and the two ways out; undefined when it can.
 */
export function shardPlanProblem(scale: ScaleInput, shardRows: number): string | undefined {
  const appointments = appointmentsPerDay(scale);
  const shards = Math.ceil(appointments / shardRows);
  if (shards <= MAX_SHARDS_PER_ENTITY) return undefined;
  return (
    `scale ${scale} (${appointments} appointments) at SHARD_ROWS=${shardRows} needs ${shards} shards per entity, ` +
    `more than the ${MAX_SHARDS_PER_ENTITY} that keep a workflow history under ${HISTORY_EVENT_LIMIT} events: ` +
    `raise SHARD_ROWS to at least ${Math.ceil(appointments / MAX_SHARDS_PER_ENTITY)} or lower the scale to at most ` +
    `${MAX_SHARDS_PER_ENTITY * shardRows} appointments`
  );
}

/** Completed shards between two progress signals: a tenth of the shards, so a child sends at most ten plus the last. */
export function progressEvery(shards: number): number {
  return Math.max(1, Math.ceil(shards / 10));
}
