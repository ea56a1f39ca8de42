/**
 * The load activity: one entity's batch of part files into `raw.<entity>`, through the warehouse adapter.
 */
import type { LoadBatchInput, LoadResult, PublishDayInput, PublishedDay } from '../domain/types.js';
import { previousHeartbeat, withHeartbeat } from './heartbeat.js';
import type { LoadProgress, Warehouse } from './warehouse/index.js';

// Kept here for the activities that imported it from this file before the heartbeat helpers had one of their own.
export { heartbeatIfActivity } from './heartbeat.js';

/**
 * Builds the load activities around a warehouse (the worker passes the configured adapter, tests their own).
 */
export function createLoadActivities({ warehouse }: { warehouse: Warehouse }) {
  return {
    /**
     * Replaces batch (entity, batchDate) with exactly `input.objects` in one warehouse transaction and returns the
     * rows loaded. Idempotent: when the load ledger already holds the same keys and etags and the table still
     * holds the ledger's rows of the batch it returns `unchanged` without writing, so a retry after a lost
     * completion changes nothing (rows deleted since are loaded again); a retry after a failure reloads the
     * whole batch (the failed attempt rolled back). Heartbeats its {@link LoadProgress} every few seconds whatever
     * it waits on (pool, lock, COPY, DELETE, a Redshift statement), so declare a heartbeatTimeout; a cancellation
     * aborts the running statement and is rethrown. Bad CSV fails non-retryably with `CsvLoadError` (object key and
     * line in the message), a declared/loaded count difference with `RowCountMismatch`; connection errors and lock
     * waits past PG_LOCK_TIMEOUT (`LockTimeout`) retry.
     */
    async loadBatch(input: LoadBatchInput): Promise<LoadResult> {
      let progress: LoadProgress = { phase: 'connect', rows: 0 };
      const resumeFrom = previousHeartbeat();
      return withHeartbeat(
        () => progress,
        (signal, beat) =>
          warehouse.loadBatch(input, {
            onProgress: (p) => {
              progress = p;
              // While a Redshift statement runs, every poll heartbeats its id (the SDK throttles what it sends):
              // a retry can resume the statement only if the id reached Temporal.
              if (p.phase === 'statement') beat();
            },
            ...(signal ? { signal } : {}),
            ...(resumeFrom !== undefined ? { resumeFrom } : {}),
          }),
      );
    },

    /**
     * Makes the date visible to dbt once all seven entities of it are loaded: checks the load ledger and the raw
     * tables against the rows this run's loads reported and records the day in `raw._published_batches`, in one
     * transaction (see {@link Warehouse.publishDay}). Idempotent: a retry checks again and rewrites the same row. A
     * day that does not hold what was loaded fails non-retryably with `DayIncomplete` and stays unpublished.
     * Heartbeats while it waits for running loads of the date.
     */
    async publishDay(input: PublishDayInput): Promise<PublishedDay> {
      return withHeartbeat(
        () => ({ batchDate: input.batchDate, phase: 'publish' }),
        (signal) => warehouse.publishDay(input, signal ? { signal } : {}),
      );
    },
  };
}
