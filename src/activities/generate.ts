/**
 * Generation activities: write one entity's part file for one run date to the object store,
 * streaming the CSV from the generator straight into a multipart upload (no temp files, flat memory).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config.js';
import { GeneratorInputError, generateShardStream, type ShardStream } from '../domain/generator/index.js';
import type { GenerateShardInput, ShardObject } from '../domain/types.js';
import { activityContext, startHeartbeat } from './heartbeat.js';
import { keys, type ObjectStore } from './storage.js';

export interface GenerateDeps {
  store: ObjectStore;
  config: Pick<Config, 'shardRows'>;
}

/** How often a running upload reports progress (the SDK throttles further to its heartbeat timeout). */
const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Builds the generation activities for `store`. `config.shardRows` is used when the input does not
 * carry the shard size the workflow planned with.
 */
export function createGenerateActivities({ store, config }: GenerateDeps) {
  return {
    /**
     * Generates `raw/<entity>/dt=<runDate>/part-<shard>.csv` and returns its key, ETag, size and rows.
     *
     * Idempotent: the bytes are a pure function of the input, so a retry (or a second run) overwrites
     * the object with identical content and returns the same result. Heartbeats `{ rows, bytes }`
     * every few seconds while uploading; on cancellation the generator stream is destroyed, which
     * aborts the multipart upload. Invalid input (bad date, unknown entity or scale, shard out of
     * range) fails with the non-retryable type `InvalidInput`; store errors are retried.
     */
    async generateShard(input: GenerateShardInput): Promise<ShardObject> {
      let stream: ShardStream;
      try {
        stream = generateShardStream({ ...input, shardRows: input.shardRows ?? config.shardRows });
      } catch (err) {
        if (err instanceof GeneratorInputError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
        throw err;
      }
      const key = keys.rawPart(input.entity, input.runDate, input.shard);
      const ctx = activityContext();
      const heartbeats = startHeartbeat(() => ({ key, rows: stream.rows, bytes: stream.bytes }), HEARTBEAT_EVERY_MS);
      const beat = heartbeats.beat;
      const onAbort = () => stream.destroy(ctx?.cancellationSignal.reason ?? new Error('activity cancelled'));
      ctx?.cancellationSignal.addEventListener('abort', onAbort, { once: true });
      try {
        const stored = await store.put(key, stream, 'text/csv');
        if (!stream.readableEnded) throw new Error(`upload of ${key} finished before the generator did`);
        if (stored.size !== stream.bytes) {
          throw new Error(`object ${key} has ${stored.size} bytes after upload, the generator wrote ${stream.bytes}`);
        }
        beat();
        return { key, etag: stored.etag, bytes: stored.size, rows: stream.rows };
      } catch (err) {
        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        throw err;
      } finally {
        heartbeats.stop();
        ctx?.cancellationSignal.removeEventListener('abort', onAbort);
        stream.destroy();
      }
    },
  };
}
