/**
 * The load activity: one entity's batch of part files into `raw.<entity>`, through the warehouse adapter.
 */
import { Context } from '@temporalio/activity';
import type { LoadBatchInput, LoadResult } from '../domain/types.js';
import type { Warehouse } from './warehouse/index.js';

/**
 * Heartbeats with `details` when called inside a Temporal activity; a no-op in plain calls (tests, CLI,
 * benchmarks), where `Context.current()` throws.
 */
export function heartbeatIfActivity(details?: unknown): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(details);
}

/**
 * Builds the load activities around a warehouse (the worker passes the configured adapter, tests their own).
 */
export function createLoadActivities({ warehouse }: { warehouse: Warehouse }) {
  return {
    /**
     * Replaces batch (entity, batchDate) with exactly `input.objects` in one warehouse transaction and returns the
     * rows loaded. Idempotent: when the load ledger already holds the same keys and etags it returns `unchanged`
     * without writing, so a retry after a lost completion changes nothing; a retry after a failure reloads the
     * whole batch (the failed attempt rolled back). Heartbeats `{ rows }` while streaming, so declare a
     * heartbeatTimeout. Bad CSV fails non-retryably with `CsvLoadError` (object key and line in the message),
     * a declared/loaded count difference with `RowCountMismatch`; connection errors retry.
     */
    async loadBatch(input: LoadBatchInput): Promise<LoadResult> {
      heartbeatIfActivity({ rows: 0 });
      return warehouse.loadBatch(input, (rows) => heartbeatIfActivity({ rows }));
    },
  };
}
