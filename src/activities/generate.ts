/**
 * Generation activities: write one entity's part file for one run date to the object store,
 * streaming the CSV from the generator straight into a multipart upload (no temp files, flat memory: the
 * generator refills one chunk buffer, which the upload copies into its reused part buffers).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config.js';
import {
  GeneratorInputError,
  appointmentsPerDay,
  generateShardChunks,
  generateTruthChunks,
  parseRemindedIds,
  resolveShardSpec,
  type Reminded,
  type ShardSpec,
} from '../domain/generator/index.js';
import { OUTCOME_ENTITIES } from '../domain/entities.js';
import type { GenerateShardInput, ShardObject } from '../domain/types.js';
import { activityContext, startHeartbeat } from './heartbeat.js';
import { keys, type ObjectStore } from './storage.js';

export interface GenerateDeps {
  store: ObjectStore;
  config: Pick<Config, 'shardRows' | 'reminderRelativeRisk'>;
}

/** How often a running upload reports progress (the SDK throttles further to its heartbeat timeout). */
const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Builds the generation activities for `store`. `config.shardRows` is used when the input does not
 * carry the shard size the workflow planned with.
 */
export function createGenerateActivities({ store, config }: GenerateDeps) {
  /**
   * The reminded set `key` names, for the input's date and scale. A missing object or a line that is not an id
   * of the day's appointments is bad input (InvalidInput), which a retry cannot fix; store errors retry.
   */
  async function readReminded(input: GenerateShardInput, key: string, relativeRisk: number): Promise<Reminded> {
    if (!(await store.head(key))) throw new GeneratorInputError(`remindedKey: no object at ${key}`);
    try {
      const indexes = parseRemindedIds(await store.getText(key), input.runDate, appointmentsPerDay(input.scale));
      return { indexes, relativeRisk };
    } catch (err) {
      if (err instanceof RangeError) throw new GeneratorInputError(`remindedKey ${key}: ${err.message}`);
      throw err;
    }
  }

  return {
    /**
     * Generates `raw/<entity>/dt=<runDate>/part-<shard>.csv` and returns its key, ETag, size and rows. For
     * appointments it then writes the shard's true no-show probabilities to `truth/appointments/dt=<runDate>/…`
     * (not returned: nothing loads them). With `remindedKey`, appointments, records and feedback read that object
     * and draw the reminded appointments' outcomes at the reduced probability.
     *
     * Idempotent: the bytes are a pure function of the input, so a retry (or a second run) overwrites
     * the object with identical content and returns the same result. Heartbeats `{ rows, bytes }`
     * every few seconds while uploading; on cancellation the upload stops and
     * aborts the multipart upload. Invalid input (bad date, unknown entity or scale, shard out of
     * range) fails with the non-retryable type `InvalidInput`; store errors are retried.
     */
    async generateShard(input: GenerateShardInput): Promise<ShardObject> {
      const { remindedKey, reminderRelativeRisk, ...rest } = input;
      const spec: ShardSpec = { ...rest, shardRows: input.shardRows ?? config.shardRows };
      try {
        resolveShardSpec(spec);
        if (remindedKey !== undefined && OUTCOME_ENTITIES.includes(input.entity)) {
          spec.reminded = await readReminded(input, remindedKey, reminderRelativeRisk ?? config.reminderRelativeRisk);
          resolveShardSpec(spec);
        }
      } catch (err) {
        if (err instanceof GeneratorInputError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
        throw err;
      }
      const key = keys.rawPart(input.entity, input.runDate, input.shard);
      const shard = { rows: 0, bytes: 0, ended: false };
      function* chunks(): Generator<Buffer, void, void> {
        for (const chunk of generateShardChunks(spec, shard, true)) {
          shard.bytes += chunk.length;
          yield chunk;
        }
        shard.ended = true;
      }
      const ctx = activityContext();
      const heartbeats = startHeartbeat(() => ({ key, rows: shard.rows, bytes: shard.bytes }), HEARTBEAT_EVERY_MS);
      const beat = heartbeats.beat;
      const options = ctx ? { signal: ctx.cancellationSignal } : {};
      try {
        // Cancellation aborts the upload (and its multipart upload) through the signal.
        const stored = await store.put(key, chunks(), 'text/csv', options);
        if (!shard.ended) throw new Error(`upload of ${key} finished before the generator did`);
        if (stored.size !== shard.bytes) {
          throw new Error(`object ${key} has ${stored.size} bytes after upload, the generator wrote ${shard.bytes}`);
        }
        if (input.entity === 'appointments') {
          // The same appointments' true probabilities, beside raw/: a retry rewrites the same bytes.
          await store.put(
            keys.truthPart('appointments', input.runDate, input.shard),
            generateTruthChunks(spec, true),
            'text/csv',
            options,
          );
        }
        beat();
        return { key, etag: stored.etag, bytes: stored.size, rows: shard.rows };
      } catch (err) {
        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        throw err;
      } finally {
        heartbeats.stop();
      }
    },
  };
}
