/**
 * ingestEntity: one entity's day, generated as parallel shard activities and loaded exactly once.
 * Only keys and counts cross history; the CSV bytes stay in the object store.
 */
import { ApplicationFailure, getExternalWorkflowHandle, patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import { planShards, progressEvery, shardPlanProblem } from '../domain/shards.js';
import type { IngestResult } from '../domain/types.js';
import { checkDateInput, ingestInput, parseInput, type IngestInput } from './input.js';
import { PATCHES } from './patches.js';
import { entityProgressSignal } from './signals.js';

const NON_RETRYABLE = ['InvalidInput', 'CsvLoadError', 'RowCountMismatch', 'ConfigError'];

/**
 * Retries back off to a minute, so a shard outlasts an object-store outage of about 4 minutes (10 attempts:
 * 1 + 2 + 4 + … + 60 s); with 5 attempts at the default backoff a 30 s S3 outage failed the whole run.
 */
const { generateShard } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '15 minutes',
  // Short heartbeat timeouts let a shard or load whose worker died be retried elsewhere within seconds.
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 10, maximumInterval: '1 minute', nonRetryableErrorTypes: NON_RETRYABLE },
});

const { loadBatch } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 10, maximumInterval: '1 minute', nonRetryableErrorTypes: NON_RETRYABLE },
});

export async function ingestEntity(rawInput: IngestInput): Promise<IngestResult> {
  const input = parseInput('ingestEntity', ingestInput, rawInput);
  const { entity, runDate, scale, seed, shardRows, remindedKey, reminderRelativeRisk } = input;
  // Only set fields cross into the activity input, so runs without a reminded set record the inputs they always did.
  const reminders = {
    ...(remindedKey !== undefined ? { remindedKey } : {}),
    ...(reminderRelativeRisk !== undefined ? { reminderRelativeRisk } : {}),
  };
  // The checks that need no activity come first, so a bad input fails before anything is scheduled.
  const tooMany = shardPlanProblem(scale, shardRows);
  if (tooMany) throw ApplicationFailure.nonRetryable(`ingestEntity: scale/shardRows: ${tooMany}`, 'InvalidInput');
  if (patched(PATCHES.dateChecks)) await checkDateInput('ingestEntity', 'runDate', runDate);
  // Versioned (see PATCHES): runs started before progress was batched keep signalling once per shard on replay.
  const batchedProgress = patched(PATCHES.batchedProgress);
  const parent = input.parentWorkflowId ? getExternalWorkflowHandle(input.parentWorkflowId) : undefined;
  const report = async (generated: number, loaded: number, state: 'running' | 'completed'): Promise<void> => {
    // Progress is best effort: a parent that already closed must not fail the ingest.
    await parent?.signal(entityProgressSignal, { entity, generated, loaded, state }).catch(() => undefined);
  };

  const shards = planShards(entity, scale, shardRows);
  // One signal per tenth of the shards (plus the last), so the parent's history and ours stay bounded.
  const every = batchedProgress ? progressEvery(shards) : 1;
  let generated = 0;
  let done = 0;
  const objects = await Promise.all(
    Array.from({ length: shards }, async (_, shard) => {
      const object = await generateShard({ entity, runDate, scale, shard, seed, shardRows, ...reminders });
      generated += object.rows;
      done += 1;
      if (done % every === 0) await report(generated, 0, 'running');
      return object;
    }),
  );

  const load = await loadBatch({ entity, batchDate: runDate, objects });
  await report(generated, load.rows, 'completed');
  return {
    entity,
    runDate,
    shards,
    rowsGenerated: generated,
    bytes: objects.reduce((sum, o) => sum + o.bytes, 0),
    rowsLoaded: load.rows,
    loadStatus: load.status,
  };
}
